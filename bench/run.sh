#!/usr/bin/env bash
# Loopback benchmark: the example upstream direct, nginx and Archway's stages (see
# bench/lib.sh), the load generator and the servers pinned to separate CPUs, every stage
# measured in several interleaved rounds; plus resident memory with many idle keep-alive
# connections, and its course over a soak at full load. Progress goes to stderr; one
# markdown report goes to stdout.
# See bench/README.md.

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=${BENCH_ROUNDS:-3}
latency_seconds=${BENCH_LATENCY_SECONDS:-3}
idle_connections=${BENCH_IDLE_CONNECTIONS:-9000}
soak_seconds=${BENCH_SOAK_SECONDS:-60}
soak_stage=${BENCH_SOAK_STAGE:-archway-chain}
read -r -a selected <<<"${BENCH_STAGES:-${stages[*]}}"

positive_integer BENCH_ROUNDS "$rounds"
positive_integer BENCH_LATENCY_SECONDS "$latency_seconds"
[[ $idle_connections =~ ^[0-9]+$ ]] ||
    die "BENCH_IDLE_CONNECTIONS must be a non-negative integer, got '$idle_connections'"
[[ $soak_seconds =~ ^[0-9]+$ ]] && ((soak_seconds == 0 || soak_seconds >= 20)) ||
    die "BENCH_SOAK_SECONDS must be 0 (no soak) or at least 20, got '$soak_seconds'"
known_stage "$soak_stage"
[[ ${stage_server[$soak_stage]} == archway ]] || die "BENCH_SOAK_STAGE must be an Archway stage"
((${#selected[@]})) || die "BENCH_STAGES names no stage"
for name in "${selected[@]}"; do
    known_stage "$name"
done

# raise_open_files N: lets this shell and what it starts hold N more descriptors.
raise_open_files() {
    local need=$(($1 + 1024)) soft hard
    soft=$(ulimit -Sn)
    if [[ $soft == unlimited ]] || ((soft >= need)); then
        return 0
    fi
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] || ((hard >= need)) ||
        die "BENCH_IDLE_CONNECTIONS=$1 needs $need open files; the hard limit is $hard"
    ulimit -Sn "$need"
}

# --- one stage, one round ------------------------------------------------------------

# Figures per stage, one word per round.
declare -A rps_runs cpu_runs p50_runs p99_runs p50_one_runs errors

# measure STAGE: a warm-up, the measured run at $connections connections with the
# server's CPU time around it, then a run at one connection for its latency.
measure() {
    local name=$1 out="$tmp/wrk.txt" before after ticks requests server
    local -a server_procs
    server=${stage_server[$name]}
    mapfile -t server_procs < <(server_pids "$server")
    if ((warmup > 0)); then
        run_wrk "$name" "$out" "$warmup" "$connections" "$threads"
    fi
    before=$(cpu_ticks "${server_procs[@]}")
    run_wrk "$name" "$out" "$seconds" "$connections" "$threads"
    after=$(cpu_ticks "${server_procs[@]}")
    ticks=$((after - before))
    requests=$(wrk_requests "$out")
    rps_runs[$name]+=" $(wrk_rps "$out")"
    cpu_runs[$name]+=" $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
    p50_runs[$name]+=" $(wrk_latency_us "$out" 50)"
    p99_runs[$name]+=" $(wrk_latency_us "$out" 99)"
    errors[$name]=$((${errors[$name]:-0} + $(wrk_errors "$out")))

    run_wrk "$name" "$out" "$latency_seconds" 1 1
    p50_one_runs[$name]+=" $(wrk_latency_us "$out" 50)"
    errors[$name]=$((errors[$name] + $(wrk_errors "$out")))
    ((errors[$name] == 0)) || log "$name: WARNING ${errors[$name]} errors so far"
}

# --- memory with idle connections ----------------------------------------------------

declare -A rss_before rss_with

# rss_kb PID...: their resident memory (VmRSS), in KB.
rss_kb() {
    local pid kb total=0
    for pid in "$@"; do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") || die "process $pid is gone"
        total=$((total + kb))
    done
    echo "$total"
}

# open_fds PID...: their open file descriptors.
open_fds() {
    local pid total=0 fds
    for pid in "$@"; do
        fds=(/proc/"$pid"/fd/*)
        total=$((total + ${#fds[@]}))
    done
    echo "$total"
}

# idle_memory STAGE: the resident memory of the stage's server before and while
# $idle_connections keep-alive connections, each after one request to the stage's path,
# sit idle; fails unless the server holds every one of them while it is measured.
idle_memory() {
    local name=$1 server tool out fds_before fds_with i
    local -a server_procs
    server=${stage_server[$name]}
    out="$tmp/idle-$server.out"
    mapfile -t server_procs < <(server_pids "$server")
    rss_before[$server]=$(rss_kb "${server_procs[@]}")
    fds_before=$(open_fds "${server_procs[@]}")
    log "$server: opening $idle_connections idle keep-alive connections"
    (on_cpus "$client_cpus" python3 "$root/bench/idle-connections.py" \
        --port "$(stage_port "$name")" \
        --path "${stage_path[$name]}" --count "$idle_connections" --timeout 60 --hold 120) \
        >"$out" 2>&1 &
    tool=$!
    pids+=("$tool")
    for ((i = 0; i < 700; i++)); do
        grep -q '^open ' "$out" && break
        kill -0 "$tool" 2>/dev/null || die "$server: $(cat "$out")"
        sleep 0.1
    done
    grep -q '^open ' "$out" || die "$server: the idle connections did not open within 70 s"
    sleep 1 # let the server settle after the last answer
    rss_with[$server]=$(rss_kb "${server_procs[@]}")
    fds_with=$(open_fds "${server_procs[@]}")
    stop "$tool"
    ((fds_with - fds_before >= idle_connections)) ||
        die "$server held $((fds_with - fds_before)) more descriptors, not $idle_connections: it closed idle connections"
}

# --- memory over a soak at full load ------------------------------------------------

# Resident memory (KB) sampled every $soak_every seconds of the soak, and what wrk saw.
soak_every=5
soak_rss=()
soak_requests=0
soak_errors=0

# soak: the soak stage at full load for $soak_seconds, sampling the server's resident
# memory; the first $soak_every seconds are its warm-up (pools and caches filling).
soak() {
    local out="$tmp/soak.txt" wrk_pid t
    local -a server_procs
    mapfile -t server_procs < <(server_pids "${stage_server[$soak_stage]}")
    log "soak: $soak_stage for ${soak_seconds}s, resident memory every ${soak_every}s"
    run_wrk "$soak_stage" "$out" "$soak_seconds" "$connections" "$threads" &
    wrk_pid=$!
    for ((t = 0; t < soak_seconds; t += soak_every)); do
        sleep "$soak_every"
        soak_rss+=("$(rss_kb "${server_procs[@]}")")
    done
    wait "$wrk_pid" || die "soak: wrk failed"
    soak_requests=$(wrk_requests "$out")
    soak_errors=$(wrk_errors "$out")
}

# soak_growth: resident memory at the soak's end over its first sample, in percent.
soak_growth() {
    awk -v first="${soak_rss[0]}" -v last="${soak_rss[-1]}" 'BEGIN { printf "%.1f", (last - first) * 100 / first }'
}

soak_table() {
    local kb samples=""
    for kb in "${soak_rss[@]}"; do
        samples+="$(awk -v kb="$kb" 'BEGIN { printf "%.1f", kb / 1024 }') "
    done
    echo "| soak | seconds | requests | errors | RSS after ${soak_every} s | RSS at the end | growth | RSS every ${soak_every} s (MB) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    awk -v s="$soak_stage" -v secs="$soak_seconds" -v n="$soak_requests" -v e="$soak_errors" \
        -v first="${soak_rss[0]}" -v last="${soak_rss[-1]}" -v g="$(soak_growth)" -v all="${samples% }" \
        'BEGIN { printf "| %s | %d | %d | %d | %.1f MB | %.1f MB | %s %% | %s |\n", s, secs, n, e, first / 1024, last / 1024, g, all }'
}

# --- report --------------------------------------------------------------------------

# stats WORDS: "median min max" of the numbers.
stats() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              print m, v[1], v[NR] }'
}

# median WORDS
median() { stats "$1" | awk '{ print $1 }'; }

# figure RUNS STAGE: the median of a stage's runs, or nothing when it did not run.
figure() {
    local -n runs=$1
    [[ -z ${runs[$2]:-} ]] || median "${runs[$2]}"
}

# ratio A B: A / B to two decimals, or n/a when either is missing.
ratio() {
    if [[ -n $1 && -n $2 ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'
    else
        echo n/a
    fi
}

# ms MICROSECONDS: in milliseconds, to three decimals.
ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

# stage_row STAGE: the stage's line of the table.
stage_row() {
    local name=$1 rps cpu rps_min rps_max cpu_min cpu_max
    read -r rps rps_min rps_max < <(stats "${rps_runs[$name]}")
    read -r cpu cpu_min cpu_max < <(stats "${cpu_runs[$name]}")
    printf '| %s | %.0f | %.0f–%.0f | %s | %s | %.1f | %.1f–%.1f | %s | %s | %.0f | %s |\n' \
        "$name" "$rps" "$rps_min" "$rps_max" \
        "$(ratio "$rps" "$(figure rps_runs nginx)")" \
        "$(ratio "$rps" "$(figure rps_runs archway-no-plugins)")" \
        "$cpu" "$cpu_min" "$cpu_max" \
        "$(ms "$(median "${p50_runs[$name]}")")" "$(ms "$(median "${p99_runs[$name]}")")" \
        "$(median "${p50_one_runs[$name]}")" "${errors[$name]}"
}

# goal NAME MEASURED OP TARGET: a goal's line: met when MEASURED OP TARGET (>= or <=).
goal() {
    local verdict
    if [[ -z $2 || $2 == n/a || -z $4 || $4 == n/a ]]; then
        verdict="not run"
    else
        verdict=$(awk -v m="$2" -v t="$4" -v op="$3" \
            'BEGIN { ok = (op == ">=") ? m >= t : m <= t; print ok ? "met" : "**missed**" }')
    fi
    printf '| %s | %s | %s %s | %s |\n' "$1" "${2:-n/a}" "$3" "$4" "$verdict"
}

goals() {
    local plain nginx p5_target=
    plain=$(figure rps_runs archway-no-plugins)
    nginx=$(figure rps_runs nginx)
    echo "| goal | measured | target | |"
    echo "|---|---:|---:|---|"
    goal "P1 req/s, no plugins / nginx" "$(ratio "$plain" "$nginx")" ">=" 1.00
    goal "P1 CPU µs/req, no plugins / nginx" \
        "$(ratio "$(figure cpu_runs archway-no-plugins)" "$(figure cpu_runs nginx)")" "<=" 1.00
    goal "P2 req/s, chain / no plugins" "$(ratio "$(figure rps_runs archway-chain)" "$plain")" ">=" 0.90
    goal "P2 req/s, JWT HS256 / no plugins" \
        "$(ratio "$(figure rps_runs archway-auth-hs256)" "$plain")" ">=" 0.85
    goal "P4 req/s, per-request instances / no plugins" \
        "$(ratio "$(figure rps_runs archway-per-request)" "$plain")" ">=" 0.60
    [[ -z ${p50_one_runs[nginx]:-} ]] || p5_target=$(awk -v n="$(figure p50_one_runs nginx)" 'BEGIN { print n + 10 }')
    goal "P5 p50 µs at 1 connection, no plugins (nginx's + 10)" \
        "$(figure p50_one_runs archway-no-plugins)" "<=" "$p5_target"
    if [[ -n ${rss_with[nginx]:-} ]]; then
        goal "P6 RSS with $idle_connections idle connections, Archway / nginx" \
            "$(ratio "${rss_with[archway]}" "${rss_with[nginx]}")" "<=" 2.00
    fi
    if ((${#soak_rss[@]})); then
        goal "P6 RSS growth over a ${soak_seconds} s soak at full load, % (after its first ${soak_every} s)" \
            "$(soak_growth)" "<=" 5.0
    fi
    echo
    echo "P3 (≤ 1 µs per hook) is measured by \`cargo bench -p archway-tests --bench hooks\`."
}

memory() {
    local server
    echo "| server | RSS idle | RSS with $idle_connections idle connections | per connection |"
    echo "|---|---:|---:|---:|"
    for server in archway nginx; do
        awk -v s="$server" -v b="${rss_before[$server]}" -v w="${rss_with[$server]}" -v n="$idle_connections" \
            'BEGIN { printf "| %s | %.1f MB | %.1f MB | %.1f KB |\n", s, b / 1024, w / 1024, (w - b) / n }'
    done
}

report() {
    local name
    cat <<HEAD
## Archway benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr).
$(pinning); one worker each (nginx \`worker_processes 1\`, Archway \`[server] workers = 1\`).
$rounds interleaved rounds; per stage and round: ${warmup}s warm-up, ${seconds}s with wrk at
$connections connections ($threads thread), then ${latency_seconds}s at 1 connection. Medians over the
rounds; spread is min–max. Upstream path \`$path\`.

| stage | req/s | spread | vs nginx | vs no plugins | server CPU µs/req | spread | p50 ms | p99 ms | p50 µs, 1 conn | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
HEAD
    for name in "${selected[@]}"; do
        stage_row "$name"
    done
    echo
    goals
    if [[ -n ${rss_with[archway]:-} ]]; then
        echo
        memory
    fi
    if ((${#soak_rss[@]})); then
        echo
        soak_table
    fi
}

# --- the run -------------------------------------------------------------------------

need_tools wrk curl
check_pinning
build
memory_stages=()
if ((idle_connections > 0)); then
    memory_stages=(archway-no-plugins nginx)
    raise_open_files "$idle_connections"
fi
soak_stages=()
((soak_seconds == 0)) || soak_stages=("$soak_stage")
start_servers "${selected[@]}" "${memory_stages[@]}" "${soak_stages[@]}"
for name in "${selected[@]}" "${soak_stages[@]}"; do
    check_stage "$name"
done
log "all stages answer as they should"

# Memory first, before the load stages fill caches and pools.
for name in "${memory_stages[@]}"; do
    idle_memory "$name"
done

# Round r measures the stages in the order rotated by r, so that no stage always runs
# right after the same neighbour.
for ((round = 0; round < rounds; round++)); do
    for ((i = 0; i < ${#selected[@]}; i++)); do
        name=${selected[(i + round) % ${#selected[@]}]}
        log "round $((round + 1))/$rounds: $name"
        measure "$name"
    done
done

# The soak last: it measures the memory the load stages left, and whether more load adds to it.
((soak_seconds == 0)) || soak

report
((soak_errors == 0)) || die "the soak had $soak_errors errors (non-2xx or socket errors)"
for name in "${selected[@]}"; do
    ((errors[$name] == 0)) || die "$name had ${errors[$name]} errors (non-2xx or socket errors); its figures are not comparable"
done
