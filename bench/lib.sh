# shellcheck shell=bash
# Shared by bench/run.sh and bench/profile.sh: settings, tools and build, the servers
# (pinned to the server CPUs, stopped on exit), the stages, their checks and one wrk run.
# Sourcing it defines settings and functions and starts nothing. See bench/README.md.

set -euo pipefail

# --- settings ------------------------------------------------------------------------

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP_SECONDS:-1}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-1}
path=${BENCH_PATH:-/echo}
archway_config=${BENCH_ARCHWAY_CONFIG:-bench/archway-bench.toml} # relative to the repo root
if (($(nproc) >= 2)); then
    client_cpus=${BENCH_CLIENT_CPUS-0}
    server_cpus=${BENCH_SERVER_CPUS-1}
else
    client_cpus=${BENCH_CLIENT_CPUS-}
    server_cpus=${BENCH_SERVER_CPUS-}
fi

# Fixed ports: bench/archway-bench.toml names them too.
host=127.0.0.1
upstream_port=19000
second_upstream_port=19001 # the second instance of the balanced stages
archway_port=18080
nginx_port=18081

export PATH="$PATH:/usr/sbin:/sbin" # nginx lives in sbin

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# positive_integer NAME VALUE: fails unless VALUE is an integer above 0.
positive_integer() {
    [[ $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || die "$1 must be a positive integer, got '$2'"
}

positive_integer BENCH_SECONDS "$seconds"
positive_integer BENCH_CONNECTIONS "$connections"
positive_integer BENCH_THREADS "$threads"
[[ $warmup =~ ^[0-9]+$ ]] || die "BENCH_WARMUP_SECONDS must be a non-negative integer, got '$warmup'"
[[ $path == /* ]] || die "BENCH_PATH must start with '/', got '$path'"

# --- pinning -------------------------------------------------------------------------

# on_cpus CPUS CMD...: runs CMD on CPUS (a taskset list), or anywhere when CPUS is empty.
on_cpus() {
    local cpus=$1
    shift
    if [[ -n $cpus ]]; then
        exec taskset -c "$cpus" "$@"
    else
        exec "$@"
    fi
}

# on_client CMD...: runs CMD on the load generator's CPUs and waits for it. (In the
# background, `(on_cpus "$client_cpus" CMD...) &` keeps $! the command's own pid.)
on_client() { (on_cpus "$client_cpus" "$@"); }

# pinning: one line saying where load and servers run.
pinning() {
    if [[ -n $client_cpus && -n $server_cpus ]]; then
        echo "wrk on CPU $client_cpus, servers (upstream and the one measured) on CPU $server_cpus"
    else
        echo "not pinned: load generator and servers share the CPUs"
    fi
}

check_pinning() {
    local cpus
    for cpus in "$client_cpus" "$server_cpus"; do
        [[ -z $cpus ]] || taskset -c "$cpus" true 2>/dev/null ||
            die "cannot pin to CPUs '$cpus' (BENCH_CLIENT_CPUS / BENCH_SERVER_CPUS)"
    done
    [[ -n $client_cpus && -n $server_cpus ]] || log "WARNING: $(pinning)"
}

# --- processes we start, stopped on any exit -----------------------------------------

pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/archway-bench.XXXXXX")
# nginx workers drop privileges when started as root; let them reach their prefix.
chmod 755 "$tmp"

# terminate PID: TERM, up to 5 s to exit, then KILL; reaps it.
terminate() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do
        terminate "$pid"
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: stops one process we started and forgets it.
stop() {
    local pid=$1 kept=() p
    terminate "$pid"
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

# need_tools TOOL...: installs the missing ones with apt-get.
need_tools() {
    local missing=() tool sudo=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]} with apt-get"
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

target= # cargo's target directory, set by build

# build: the gateway and the example upstream (release), and the wasm plugins the bench
# config loads from bench/plugins/ (hello-auth is an example plugin, relay and fan-out
# test fixtures).
build() {
    log "building archway and archway-example-upstream (release)"
    (cd "$root" && cargo build --release -p archway -p archway-example-upstream >&2)
    (cd "$root" && cargo build --release --target wasm32-wasip2 -p hello-auth -p relay -p fan-out >&2)
    target=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    mkdir -p "$root/bench/plugins"
    local wasm
    for wasm in hello_auth relay fan_out; do
        cp "$target/wasm32-wasip2/release/$wasm.wasm" "$root/bench/plugins/"
    done
}

# --- credentials ---------------------------------------------------------------------

# The header each credential kind sends; filled by make_credentials.
declare -A credentials=([none]="" [bench-key]="x-api-key: bench-key" [edge]="x-bench: edge")

# make_credentials: an API key and a token per JWT key set, made with the archway CLI
# before the gateway opens its (embedded) store.
make_credentials() {
    local api_key token
    rm -rf "$root/bench/.archway/store.redb"
    api_key=$(cd "$root" && "$target/release/archway" keys create --config "$archway_config" \
        --subject bench-user | awk '/^key: / { print $2 }')
    [[ -n $api_key ]] || die "archway keys create printed no key"
    credentials[api-key]="x-api-key: $api_key"
    local alg key_file
    for alg in hs256 rs256 es256; do
        key_file=()
        case $alg in
        rs256) key_file=(--private-key "$root/tests/keys/rsa.key") ;;
        es256) key_file=(--private-key "$root/tests/keys/ec.key") ;;
        esac
        token=$(cd "$root" && "$target/release/archway" token --config "$archway_config" \
            --key-set "$alg" --subject bench-user --ttl-seconds 3600 "${key_file[@]}")
        [[ -n $token ]] || die "archway token printed no $alg token"
        credentials[$alg]="authorization: Bearer $token"
    done
}

# --- servers -------------------------------------------------------------------------

declare -A server_pid

# start_server NAME URL CMD...: starts CMD on the server CPUs (from the repo root), logs
# to $tmp/NAME.log and waits until URL answers.
start_server() {
    local name=$1 url=$2
    shift 2
    # exec all the way down, so that $! is the server itself.
    (cd "$root" && on_cpus "$server_cpus" "$@") >"$tmp/$name.log" 2>&1 &
    server_pid[$name]=$!
    pids+=("$!")
    wait_up "$name" "$!" "$url" "$tmp/$name.log"
}

start_upstreams() {
    port_free $upstream_port
    port_free $second_upstream_port
    start_server upstream "http://$host:$upstream_port/health" \
        "$target/release/archway-example-upstream" --listen "$host:$upstream_port"
    start_server second-upstream "http://$host:$second_upstream_port/health" \
        "$target/release/archway-example-upstream" --listen "$host:$second_upstream_port"
}

start_archway() {
    port_free $archway_port
    start_server archway "http://$host:$archway_port/plain/health" \
        "$target/release/archway" serve --config "$archway_config"
}

# start_nginx: nginx as a reverse proxy to the upstream: one worker, upstream keepalive,
# access log off, room for the idle connections of the memory stage; a throwaway prefix.
start_nginx() {
    local files=$((${idle_connections:-0} + 1024))
    need_tools nginx
    port_free $nginx_port
    mkdir -p "$tmp/nginx/logs"
    cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $files;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections $files; }
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
    start_server nginx "http://$host:$nginx_port/health" \
        nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log"
}

# children_of PID: direct children of PID (nginx workers of a master).
children_of() {
    local parent=$1 stat fields f
    for f in /proc/[0-9]*/stat; do
        { stat=$(<"$f"); } 2>/dev/null || continue # it may have exited meanwhile
        read -r -a fields <<<"${stat##*) }"
        if [[ ${fields[1]} == "$parent" ]]; then
            f=${f%/stat}
            echo "${f#/proc/}"
        fi
    done
}

# server_pids SERVER: the processes whose CPU and memory count for SERVER (nginx: master
# and workers).
server_pids() {
    local pid=${server_pid[$1]:?server $1 is not running}
    echo "$pid"
    [[ $1 != nginx ]] || children_of "$pid"
}

# start_servers STAGE...: starts what the stages need (the upstreams always).
start_servers() {
    local stage need_archway=0 need_nginx=0
    for stage in "$@"; do
        case ${stage_server[$stage]} in
        archway) need_archway=1 ;;
        nginx) need_nginx=1 ;;
        esac
    done
    start_upstreams
    if ((need_archway)); then
        make_credentials
        start_archway
    fi
    ((need_nginx == 0)) || start_nginx
}

# --- stages --------------------------------------------------------------------------

# Each stage: the server it measures, its path there, the credential kind it sends and an
# optional wrk Lua script. Every stage makes the upstream see the same path.
declare -A stage_server stage_path stage_credential stage_script
stages=()

# stage NAME SERVER PATH [CREDENTIAL] [SCRIPT]
stage() {
    stages+=("$1")
    stage_server[$1]=$2
    stage_path[$1]=$3
    stage_credential[$1]=${4:-none}
    stage_script[$1]=${5:-}
}

stage upstream-direct upstream "$path"
stage nginx nginx "$path"
stage archway-no-plugins archway "/plain$path"
stage archway-balanced archway "/balanced$path"
stage archway-limited-balanced archway "/limited-balanced$path"
stage archway-chain archway "/chain/bench-user$path" bench-key
stage archway-per-request archway "/isolated/bench-user$path" bench-key
stage archway-auth-hs256 archway "/auth-hs256$path" hs256
stage archway-auth-rs256 archway "/auth-rs256$path" rs256
stage archway-auth-es256 archway "/auth-es256$path" es256
stage archway-auth-api-key archway "/auth-api-key$path" api-key
stage archway-relay archway "/relay$path"
stage archway-aggregate-3 archway "/aggregate$path"
# A 10 KiB JSON answer (the upstream's /sample/orders/93) as it is, and in the conventions envelope.
stage archway-orders-10k archway /orders-10k
stage archway-envelope-10k archway /envelope-10k
# No credential on the cached routes: a request with one bypasses the cache on a route
# without an authenticator.
stage archway-limited-miss archway "/limited$path" edge "$root/bench/unique-query.lua"
stage archway-cache-hit archway "/cached$path" edge

# known_stage NAME: fails unless NAME is a stage.
known_stage() {
    [[ -n ${stage_server[$1]:-} ]] || die "unknown stage '$1'; stages: ${stages[*]}"
}

# stage_port STAGE: the port of the stage's server.
stage_port() {
    case ${stage_server[$1]} in
    upstream) echo $upstream_port ;;
    archway) echo $archway_port ;;
    nginx) echo $nginx_port ;;
    esac
}

# stage_url STAGE
stage_url() { echo "http://$host:$(stage_port "$1")${stage_path[$1]}"; }

# header_args STAGE: curl/wrk arguments for the stage's credential header, if any.
header_args() {
    local header=${credentials[${stage_credential[$1]}]}
    [[ -z $header ]] || printf '%s\n' -H "$header"
}

# expect_status STAGE WANT URL [CURL ARGS]: one request, failing unless the status
# matches WANT (a regex).
expect_status() {
    local name=$1 want=$2 url=$3 status
    shift 3
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url") || status=000
    [[ $status =~ ^($want)$ ]] || die "$name: $url answered $status, expected $want"
}

# expect_header STAGE REGEX [CURL ARGS] URL: one request whose response head must match.
expect_header() {
    local name=$1 want=$2
    shift 2
    curl -sS -o /dev/null -D - --max-time 5 "$@" | grep -qi "$want" ||
        die "$name: the response lacks a header matching '$want'"
}

# check_stage STAGE: the stage answers 200 with its credential, and does what it
# claims, so a misconfigured stage is caught before it is measured.
check_stage() {
    local name=$1 url headers
    url=$(stage_url "$name")
    mapfile -t headers < <(header_args "$name")
    expect_status "$name" 200 "$url" "${headers[@]}"
    case $name in
    archway-chain | archway-per-request)
        expect_status "$name" '4[0-9][0-9]' "$url"
        expect_header "$name" '^x-archway: bench' "${headers[@]}" "$url"
        ;;
    archway-auth-*)
        expect_status "$name" 401 "$url" -H "${credentials[bench-key]}" -H "authorization: Bearer wrong"
        ;;
    archway-limited-balanced | archway-limited-miss)
        expect_header "$name" '^x-ratelimit-limit: ' "${headers[@]}" "$url?probe"
        ;;
    archway-cache-hit)
        expect_header "$name" '^x-cache: hit' "${headers[@]}" "$url"
        ;;
    archway-aggregate-3)
        curl -sS --max-time 5 "$url" | python3 -c \
            'import json, sys; assert len(json.load(sys.stdin)["parts"]) == 3' 2>/dev/null ||
            die "$name: the answer does not combine three upstream answers"
        ;;
    archway-envelope-10k)
        curl -sS --max-time 5 "$url" | python3 -c \
            'import json, sys; d = json.load(sys.stdin); assert d["code"] == 0 and d["data"]["orders"][1]["status"] == "PARTIALLY_FILLED"' 2>/dev/null ||
            die "$name: the answer is not in the conventions envelope"
        ;;
    esac
}

# --- one wrk run ---------------------------------------------------------------------

# run_wrk STAGE OUT SECONDS CONNECTIONS THREADS: wrk --latency against the stage on the
# client CPUs, its report in OUT; bounded by a timeout.
run_wrk() {
    local name=$1 out=$2 duration=$3 conns=$4 wrk_threads=$5 args
    mapfile -t args < <(header_args "$name")
    [[ -z ${stage_script[$name]} ]] || args+=(-s "${stage_script[$name]}")
    on_client timeout $((duration + 30)) \
        wrk -t "$wrk_threads" -c "$conns" -d "${duration}s" --latency "${args[@]}" \
        "$(stage_url "$name")" >"$out" || die "$name: wrk failed: $(cat "$out")"
}

# wrk_requests OUT: completed requests.
wrk_requests() {
    local n
    n=$(awk '/ requests in / { print $1 }' "$1")
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || die "no completed requests in wrk output: $(cat "$1")"
    echo "$n"
}

# wrk_rps OUT
wrk_rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }

# wrk_latency_us OUT PERCENTILE: a latency percentile (50, 99) in microseconds.
wrk_latency_us() {
    awk -v p="$2%" '$1 == p {
        n = $2 + 0; u = $2; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1e3; else if (u == "s") f = 1e6
        else if (u == "m") f = 6e7; else { print "bench: cannot read wrk duration " $2 > "/dev/stderr"; exit 1 }
        printf "%.0f", n * f; found = 1
    } END { if (!found) exit 1 }' "$1" || die "no $2th percentile in wrk output: $(cat "$1")"
}

# wrk_errors OUT: non-2xx responses plus socket errors (connect, read, write, timeout).
wrk_errors() {
    awk '/Non-2xx or 3xx responses:/ { n += $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i }
        END { print n + 0 }' "$1"
}

# cpu_ticks PID...: utime + stime of the processes, in clock ticks.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat") || die "process $pid is gone"
        # Fields after "pid (comm) ": state=0 ... utime=11 stime=12.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
