#!/usr/bin/env bash
# bench/profile.sh STAGE: starts the servers STAGE needs as bench/run.sh does (pinned),
# puts STAGE under wrk load while `perf record` samples the stage's server, then writes a
# flame graph SVG with inferno and prints the top frames by self and inclusive time.
# The SVG's path goes to stdout last. See bench/README.md.

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die "usage: bench/profile.sh STAGE, a stage of: ${stages[*]}"
name=$1
known_stage "$name"
profile_seconds=${BENCH_PROFILE_SECONDS:-10}
frequency=${BENCH_PROFILE_FREQUENCY:-499}
call_graph=${BENCH_PROFILE_CALL_GRAPH:-dwarf}
out_dir=${BENCH_PROFILE_DIR:-$root/bench/profiles}
tools=$root/bench/.tools # inferno, when it is not on PATH; git ignores it

positive_integer BENCH_PROFILE_SECONDS "$profile_seconds"
positive_integer BENCH_PROFILE_FREQUENCY "$frequency"

# need_perf: perf on PATH and allowed to sample another process.
need_perf() {
    command -v perf >/dev/null || die "perf is missing (Debian: apt-get install linux-perf)"
    local paranoid
    paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
    [[ $(id -u) == 0 ]] || ((paranoid <= 1)) ||
        die "perf cannot sample other processes: run as root or sysctl kernel.perf_event_paranoid=1"
}

# need_inferno: inferno's collapse-perf and flamegraph, installed under $tools if missing.
need_inferno() {
    PATH="$tools/bin:$PATH"
    command -v inferno-flamegraph >/dev/null && command -v inferno-collapse-perf >/dev/null &&
        return 0
    log "installing inferno into $tools (cargo install)"
    cargo install inferno --locked --root "$tools" >&2
}

# record PID...: perf samples the processes for $profile_seconds into $tmp/perf.data,
# from the client CPUs, while wrk loads the stage.
record() {
    local perf_pid errors
    (on_cpus "$client_cpus" perf record -F "$frequency" --call-graph "$call_graph" \
        -p "$(IFS=,; echo "$*")" -o "$tmp/perf.data" -- sleep "$profile_seconds") \
        >"$tmp/perf.log" 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
    log "$name: recording ${profile_seconds}s at ${frequency} Hz (call graph: $call_graph) of pids $*"
    run_wrk "$name" "$tmp/wrk.txt" $((profile_seconds + 1)) "$connections" "$threads"
    wait "$perf_pid" || die "perf record failed: $(cat "$tmp/perf.log")"
    stop "$perf_pid"
    errors=$(wrk_errors "$tmp/wrk.txt")
    ((errors == 0)) || log "$name: WARNING $errors errors (non-2xx or socket errors) under load"
    log "$name: $(wrk_rps "$tmp/wrk.txt") req/s while recording"
}

# top_frames CHILDREN-FLAG: the 15 heaviest symbols (--no-children: self time;
# --children: inclusive time), without perf's padding and empty trailing columns. awk
# reads to the end, so perf never writes to a closed pipe.
top_frames() {
    perf report -i "$tmp/perf.data" "$1" --sort symbol -g none --stdio 2>/dev/null |
        awk 'NF && !/^#/ && n++ < 15 { sub(/([ \t]+-)*[ \t]*$/, ""); print }'
}

need_tools wrk curl
need_perf
check_pinning
build
need_inferno
start_servers "$name"
check_stage "$name"
mapfile -t procs < <(server_pids "${stage_server[$name]}")
if ((warmup > 0)); then
    run_wrk "$name" "$tmp/wrk.txt" "$warmup" "$connections" "$threads"
fi
record "${procs[@]}"

mkdir -p "$out_dir"
svg="$out_dir/$name-$(date -u +%Y%m%dT%H%M%SZ).svg"
log "writing the flame graph"
perf script -i "$tmp/perf.data" --no-inline 2>/dev/null | inferno-collapse-perf |
    inferno-flamegraph --title "$name: $connections connections, ${profile_seconds}s, $(pinning)" >"$svg"
echo "## $name: top frames by self time"
echo '```'
top_frames --no-children
echo '```'
echo "## $name: top frames by inclusive time"
echo '```'
top_frames --children
echo '```'
echo "$svg"
