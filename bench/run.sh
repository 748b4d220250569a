#!/usr/bin/env bash
# Side-by-side loopback benchmark: the example upstream direct, Archway without plugins,
# Archway balancing over two instances with circuit breakers,
# Archway with an authenticate + authorize + transform chain, Archway relaying through a
# handler plugin's upstream.send, Archway authenticating HS256/RS256/ES256 JWTs and API
# keys, and nginx as a reverse proxy.
# Progress goes to stderr; the markdown report goes to stdout. See bench/README.md.
set -euo pipefail

seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP_SECONDS:-2}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
path=${BENCH_PATH:-/echo}
skip_archway=${BENCH_SKIP_ARCHWAY:-0}
archway_config=${BENCH_ARCHWAY_CONFIG:-bench/archway-bench.toml} # relative to the repo root

# Fixed ports: bench/archway-bench.toml names them too.
upstream_port=19000
second_upstream_port=19001 # the second instance of the balanced stage
archway_port=18080
nginx_port=18081
host=127.0.0.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export PATH="$PATH:/usr/sbin:/sbin" # nginx lives in sbin

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "BENCH_SECONDS must be a positive integer, got '$seconds'"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP_SECONDS must be a non-negative integer, got '$warmup'"
[[ $path == /* ]] || die "BENCH_PATH must start with '/', got '$path'"

# --- processes we start, stopped on any exit ---------------------------------------

pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/archway-bench.XXXXXX")
# nginx workers drop privileges when started as root; let them reach their prefix.
chmod 755 "$tmp"

cleanup() {
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: stops one server we started and forgets it.
stop() {
    local pid=$1 kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in ${pids[@]+"${pids[@]}"}; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    pids=(${kept[@]+"${kept[@]}"})
}

# port_free PORT: fails if something already listens there (it would answer our polls).
port_free() {
    if (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; then
        die "port $host:$1 is already in use; stop whatever listens there first"
    fi
}

# wait_up NAME PID URL LOG: polls URL for up to 30 s; fails if the server exits or never answers.
wait_up() {
    local name=$1 pid=$2 url=$3 logfile=$4 i
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during startup (last log lines above)"
        fi
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            log "$name is up ($url)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name did not answer $url within 30 s (last log lines above)"
}

# --- tools and binaries --------------------------------------------------------------

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi

packages=(-p archway-example-upstream)
[[ $skip_archway == 1 ]] || packages+=(-p archway)
log "building ${packages[*]} (release)"
(cd "$root" && cargo build --release "${packages[@]}" >&2)
if [[ $skip_archway != 1 ]]; then
    # hello-auth is an example (third-party) plugin and relay a test fixture: build them and
    # put them where the config looks.
    (cd "$root" && cargo build --release --target wasm32-wasip2 -p hello-auth -p relay >&2)
    target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    mkdir -p "$root/bench/plugins"
    cp "$target_dir/wasm32-wasip2/release/hello_auth.wasm" "$target_dir/wasm32-wasip2/release/relay.wasm" "$root/bench/plugins/"
fi

clk_tck=$(getconf CLK_TCK)

# --- measurement ---------------------------------------------------------------------

# cpu_ticks PID...: utime + stime of the processes, in clock ticks.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat") || die "process $pid is gone"
        # Fields after "pid (comm) ": state=1 ... utime=12 stime=13.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# children_of PID: direct children of PID (nginx workers of a master).
children_of() {
    local parent=$1 stat fields f
    for f in /proc/[0-9]*/stat; do
        { stat=$(<"$f"); } 2>/dev/null || continue # it may have exited meanwhile
        read -r -a fields <<<"${stat##*) }"
        if [[ ${fields[1]} == "$parent" ]]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}

# to_ms VALUE: wrk durations (12.3us, 1.2ms, 1.0s, 1.0m) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000
        else if (u == "ms") n = n
        else if (u == "s") n *= 1000
        else if (u == "m") n *= 60000
        else { print "bench: cannot read wrk duration \"" v "\"" > "/dev/stderr"; exit 1 }
        printf "%.3f", n
    }'
}

declare -A rps p50 p99 cpu errors
order=()

# measure LABEL URL PID...: warms up, then runs wrk against URL and records its figures
# and the CPU time of PIDs per completed request. Requests carry `x-api-key: bench-key`,
# or the header in $credential when set; $wrk_script, when set, is wrk's Lua script.
measure() {
    local label=$1 url=$2
    shift 2
    local out="$tmp/wrk-${label}.txt" before after requests non2xx sockerr
    local wrk_args=(-t "$threads" -c "$connections" --latency -H "${credential:-x-api-key: bench-key}")
    [[ -z ${wrk_script:-} ]] || wrk_args+=(-s "$wrk_script")
    if ((warmup > 0)); then
        log "$label: warming up ${warmup}s"
        timeout $((warmup + 30)) wrk "${wrk_args[@]}" -d "${warmup}s" "$url" >/dev/null ||
            die "$label: warm-up wrk run failed"
    fi
    log "$label: ${seconds}s, $connections connections, $threads threads -> $url (CPU of pids $*)"
    before=$(cpu_ticks "$@")
    timeout $((seconds + 30)) wrk "${wrk_args[@]}" -d "${seconds}s" "$url" >"$out" ||
        die "$label: wrk failed: $(cat "$out")"
    after=$(cpu_ticks "$@")

    requests=$(awk '/ requests in / { print $1 }' "$out")
    [[ $requests =~ ^[0-9]+$ && $requests -gt 0 ]] || die "$label: no completed requests in wrk output: $(cat "$out")"
    rps[$label]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    p50[$label]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99[$label]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    cpu[$label]=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$requests" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    sockerr=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
    errors[$label]=${non2xx:-0}
    [[ -z $sockerr ]] || log "$label: socket errors: $sockerr"
    ((errors[$label] == 0)) || log "$label: WARNING ${errors[$label]} non-2xx responses"
    order+=("$label")
}

# expect_status LABEL WANT URL [CURL ARGS]: one request, failing unless the status
# matches WANT (a regex), so a misconfigured stage is caught before it is measured.
expect_status() {
    local label=$1 want=$2 url=$3 status
    shift 3
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url") || status=000
    [[ $status =~ ^($want)$ ]] || die "$label: $url answered $status, expected $want"
}

# --- 1. upstream direct --------------------------------------------------------------

port_free $upstream_port
"$target/release/archway-example-upstream" --listen "$host:$upstream_port" >"$tmp/upstream.log" 2>&1 &
upstream_pid=$!
pids+=("$upstream_pid")
wait_up upstream "$upstream_pid" "http://$host:$upstream_port/health" "$tmp/upstream.log"
expect_status upstream-direct 200 "http://$host:$upstream_port$path"
measure upstream-direct "http://$host:$upstream_port$path" "$upstream_pid"

# --- 2 and 3. Archway, no plugins and with the plugin chain --------------------------

if [[ $skip_archway == 1 ]]; then
    log "BENCH_SKIP_ARCHWAY=1: skipping the Archway stages"
else
    port_free $archway_port
    port_free $second_upstream_port
    "$target/release/archway-example-upstream" --listen "$host:$second_upstream_port" >"$tmp/upstream2.log" 2>&1 &
    second_upstream_pid=$!
    pids+=("$second_upstream_pid")
    wait_up second-upstream "$second_upstream_pid" "http://$host:$second_upstream_port/health" "$tmp/upstream2.log"
    archway=("$target/release/archway")
    # The API key and the tokens of the authentication stages, made before the gateway
    # opens its (embedded) store.
    rm -rf "$root/bench/.archway/store.redb"
    api_key=$(cd "$root" && "${archway[@]}" keys create --config "$archway_config" --subject bench-user |
        awk '/^key: / { print $2 }')
    [[ -n $api_key ]] || die "archway keys create printed no key"
    declare -A tokens
    for alg in hs256 rs256 es256; do
        key_file=()
        case $alg in
        rs256) key_file=(--private-key "$root/tests/keys/rsa.key") ;;
        es256) key_file=(--private-key "$root/tests/keys/ec.key") ;;
        esac
        tokens[$alg]=$(cd "$root" && "${archway[@]}" token --config "$archway_config" --key-set "$alg" \
            --subject bench-user --ttl-seconds 3600 "${key_file[@]}")
    done
    (cd "$root" && exec "$target/release/archway" serve --config "$archway_config") \
        >"$tmp/archway.log" 2>&1 &
    archway_pid=$!
    pids+=("$archway_pid")
    wait_up archway "$archway_pid" "http://$host:$archway_port/plain/health" "$tmp/archway.log"
    expect_status archway-no-plugins 200 "http://$host:$archway_port/plain$path"
    expect_status archway-chain 200 "http://$host:$archway_port/chain/bench-user$path" -H "x-api-key: bench-key"
    expect_status archway-chain '4[0-9][0-9]' "http://$host:$archway_port/chain/bench-user$path"
    curl -sS -o /dev/null -D - --max-time 5 -H "x-api-key: bench-key" \
        "http://$host:$archway_port/chain/bench-user$path" | grep -qi '^x-archway: bench' ||
        die "archway-chain: response lacks the x-archway header the transform adds"
    measure archway-no-plugins "http://$host:$archway_port/plain$path" "$archway_pid"
    expect_status archway-balanced 200 "http://$host:$archway_port/balanced$path"
    measure archway-balanced "http://$host:$archway_port/balanced$path" "$archway_pid"
    measure archway-chain "http://$host:$archway_port/chain/bench-user$path" "$archway_pid"
    expect_status archway-relay 200 "http://$host:$archway_port/relay$path"
    measure archway-relay "http://$host:$archway_port/relay$path" "$archway_pid"
    for alg in hs256 rs256 es256; do
        credential="authorization: Bearer ${tokens[$alg]}"
        expect_status "archway-auth-$alg" 401 "http://$host:$archway_port/auth-$alg$path"
        expect_status "archway-auth-$alg" 200 "http://$host:$archway_port/auth-$alg$path" -H "$credential"
        measure "archway-auth-$alg" "http://$host:$archway_port/auth-$alg$path" "$archway_pid"
    done
    credential="x-api-key: $api_key"
    expect_status archway-auth-api-key 401 "http://$host:$archway_port/auth-api-key$path" -H "x-api-key: wrong"
    expect_status archway-auth-api-key 200 "http://$host:$archway_port/auth-api-key$path" -H "$credential"
    measure archway-auth-api-key "http://$host:$archway_port/auth-api-key$path" "$archway_pid"
    unset credential

    # The edge: limits that never trip with the response cache missing every time (each
    # request its own query), and the cache hitting. No credential: a request with one
    # bypasses the cache on a route without an authenticator.
    credential="x-bench: edge"
    expect_status archway-limited-miss 200 "http://$host:$archway_port/limited$path"
    curl -sS -D - -o /dev/null "http://$host:$archway_port/limited$path?probe" |
        grep -qi '^x-ratelimit-limit: ' || die "archway-limited-miss: no X-RateLimit-Limit header"
    wrk_script="$root/bench/unique-query.lua" measure archway-limited-miss \
        "http://$host:$archway_port/limited$path" "$archway_pid"
    expect_status archway-cache-hit 200 "http://$host:$archway_port/cached$path"
    curl -sS -D - -o /dev/null "http://$host:$archway_port/cached$path" |
        grep -qi '^x-cache: hit' || die "archway-cache-hit: the second request was not a hit"
    measure archway-cache-hit "http://$host:$archway_port/cached$path" "$archway_pid"
    unset credential
    stop "$archway_pid"
    stop "$second_upstream_pid"
fi

# --- 4. nginx reverse proxy ----------------------------------------------------------

port_free $nginx_port
mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream upstream { server $host:$upstream_port; keepalive 64; }
    server {
        listen $host:$nginx_port;
        location / {
            proxy_pass http://upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" \
    >"$tmp/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
wait_up nginx "$nginx_pid" "http://$host:$nginx_port/health" "$tmp/nginx.log"
expect_status nginx 200 "http://$host:$nginx_port$path"
mapfile -t nginx_workers < <(children_of "$nginx_pid")
((${#nginx_workers[@]} > 0)) || die "nginx: found no worker processes under master $nginx_pid"
measure nginx "http://$host:$nginx_port$path" "$nginx_pid" "${nginx_workers[@]}"
stop "$nginx_pid"

# --- report --------------------------------------------------------------------------

# ratio A B FIELD: A's figure over B's, or n/a when either stage did not run.
ratio() {
    local -n field=$3
    if [[ -n ${field[$1]:-} && -n ${field[$2]:-} ]]; then
        awk -v a="${field[$1]}" -v b="${field[$2]}" \
            'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'
    else
        echo n/a
    fi
}

cat <<EOF
## Archway benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr).
wrk: $threads threads, $connections connections, ${seconds}s per stage after ${warmup}s warm-up,
path \`$path\` (Archway: \`/plain$path\`, \`/balanced$path\`, \`/chain/bench-user$path\`, \`/relay$path\`, \`/auth-<method>$path\`, \`/limited$path?miss=<unique>\`, \`/cached$path\`). Load generator and servers share the machine.

| stage | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx |
|---|---:|---:|---:|---:|---:|
EOF
for label in "${order[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "${rps[$label]}" "${p50[$label]}" \
        "${p99[$label]}" "${cpu[$label]}" "${errors[$label]}"
done
cat <<EOF

| ratio | req/s | p50 | p99 | CPU/req |
|---|---:|---:|---:|---:|
EOF
for pair in "archway-no-plugins nginx" "archway-balanced archway-no-plugins" \
    "archway-chain archway-no-plugins" "archway-relay archway-no-plugins" \
    "archway-auth-hs256 archway-no-plugins" "archway-auth-rs256 archway-no-plugins" \
    "archway-auth-es256 archway-no-plugins" "archway-auth-api-key archway-no-plugins" \
    "archway-limited-miss archway-no-plugins" "archway-cache-hit archway-no-plugins"; do
    read -r a b <<<"$pair"
    printf '| %s / %s | %s | %s | %s | %s |\n' "$a" "$b" "$(ratio "$a" "$b" rps)" \
        "$(ratio "$a" "$b" p50)" "$(ratio "$a" "$b" p99)" "$(ratio "$a" "$b" cpu)"
done

for label in "${order[@]}"; do
    ((errors[$label] == 0)) || die "$label had ${errors[$label]} non-2xx responses; its figures are not comparable"
done
