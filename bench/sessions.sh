#!/usr/bin/env bash
# Benchmarks suspended sessions and templates: what a command to a
# waiting Python REPL, and a run forked from a prepared Python
# (`template`), cost against a fresh jailed Python start, and how much
# memory a suspended session and a prepared process hold.
#
#   bench/sessions.sh              # 20 timed runs of each, 20 sessions for memory
#   RUNS=50 SESSIONS=100 bench/sessions.sh
#   CPU=1 bench/sessions.sh        # pin everything to CPU 1 (default 0)
#
# Both sides run pinned to one CPU with `taskset`, as the jail's own
# `cpu auto` would place them. "fresh" is `python3 -c 'print(6*7)'` under
# conf/python.conf's see/write lines; "session" is `print(6*7)` sent to a
# session of conf/python-repl.conf that has already started. Medians from
# hyperfine (installed with apt-get when missing and root); the markdown
# table goes to stdout, progress to stderr.
#
# Templates: "cold with imports" is `python3 -c 'import json, decimal, re,
# collections; print(6*7)'` under conf/python.conf; "template" is
# `print(6*7)` as a run of conf/python-template.conf, whose prepared
# python3 has those imports done. All four commands are timed in one
# hyperfine run. Then the same two as shipped (the configs' `cpu auto`,
# the client unpinned), back to back and SPACE_MS (20) apart, as a bot's
# messages come; then the memory of the prepared process and of the spare
# copy kept ready between runs, and CONCURRENT (100) runs started at once
# against the one template, each checked to print 42.
#
# Memory: SESSIONS sessions are started and left suspended; for each, the
# session server (the tracer and its I/O thread) and its descriptor keeper
# are read from /proc: VmRSS, and Pss from smaps_rollup (pages shared with
# other processes counted by their share, which is what the machine pays).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
runs="${RUNS:-20}"
sessions="${SESSIONS:-20}"
concurrent="${CONCURRENT:-100}"
cpu="${CPU:-0}"
space_ms="${SPACE_MS:-20}"

log() { printf '%s\n' "$*" >&2; }

log "== cargo build --release"
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
sandbox="$repo/target/release/sandbox"

tmp="$(mktemp -d /tmp/sandbox-sessions-bench.XXXXXX)"
cleanup() {
    "$sandbox" --kill-template "$tmp/template.conf" >/dev/null 2>&1 || true
    "$sandbox" --kill-template "$tmp/template-auto.conf" >/dev/null 2>&1 || true
    for sock in "$tmp"/socks/*.sock; do
        [[ -e "$sock" ]] || continue
        ident="$(basename "$sock" .sock)"
        "$sandbox" "$tmp/repl.conf" kill "$ident" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# The shipped configs, with the sessions' sockets in the temporary
# directory and without `cpu auto` (taskset pins both sides alike).
grep -v '^cpu ' "$repo/conf/python-repl.conf" > "$tmp/repl.conf"
echo "sockdir $tmp/socks" >> "$tmp/repl.conf"
grep -v '^cpu ' "$repo/conf/python.conf" > "$tmp/fresh.conf"
grep -v '^cpu ' "$repo/conf/python-template.conf" > "$tmp/template.conf"
echo "sockdir $tmp/socks" >> "$tmp/template.conf"
# As shipped (`cpu auto`), with their own sockets.
cp "$repo/conf/python.conf" "$tmp/fresh-auto.conf"
cp "$repo/conf/python-template.conf" "$tmp/template-auto.conf"
echo "sockdir $tmp/socks-auto" >> "$tmp/template-auto.conf"
imports='import json, decimal, re, collections; print(6*7)'

pin=(taskset -c "$cpu")
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

fresh_once() {
    echo | "${pin[@]}" "$sandbox" "$tmp/fresh.conf" bench python3 -c 'print(6*7)'
}
session_once() {
    echo 'print(6*7)' | "${pin[@]}" "$sandbox" "$tmp/repl.conf" timed
}
template_once() {
    echo 'print(6*7)' | "${pin[@]}" "$sandbox" "$tmp/template.conf" "${1:-timed}"
}

log "== check: both print 42"
[[ "$(fresh_once)" == 42 ]] || { log "fresh run did not print 42"; exit 1; }
[[ "$(session_once)" == 42 ]] || { log "session did not print 42"; exit 1; }
[[ "$(template_once)" == 42 ]] || { log "template run did not print 42"; exit 1; }

log "== timing: $runs runs of each (hyperfine, shell start-up subtracted)"
if ! command -v hyperfine >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        apt-get install -y -q hyperfine >&2
    else
        log "needs hyperfine (apt-get install hyperfine)"; exit 1
    fi
fi
export sandbox tmp cpu
hyperfine --warmup 3 --runs "$runs" --export-json "$tmp/times.json" \
    "echo | taskset -c $cpu $sandbox $tmp/fresh.conf bench python3 -c 'print(6*7)'" \
    "echo 'print(6*7)' | taskset -c $cpu $sandbox $tmp/repl.conf timed" \
    "echo | taskset -c $cpu $sandbox $tmp/fresh.conf bench python3 -c '$imports'" \
    "echo 'print(6*7)' | taskset -c $cpu $sandbox $tmp/template.conf timed" >&2
read -r fresh session cold template < <(python3 -c '
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(*(r["median"] for r in results))' "$tmp/times.json")
ratio="$(echo "$session / $fresh" | bc -l)"
template_ratio="$(echo "$template / $cold" | bc -l)"

log "== templates as shipped (cpu auto, client unpinned): back to back, then ${space_ms} ms apart"
# A Python loop times each command (spawn to exit) and sleeps between
# them when asked; the cold run every fifth round.
as_shipped() {
    python3 - "$1" "$runs" "$sandbox" "$tmp" "$imports" <<'PY'
import statistics, subprocess, sys, time
space, runs, sandbox, tmp, imports = float(sys.argv[1]) / 1000, int(sys.argv[2]), *sys.argv[3:]
def timed(argv, data):
    start = time.perf_counter()
    out = subprocess.run(argv, input=data, capture_output=True).stdout
    assert out == b"42\n", out
    return time.perf_counter() - start
template, cold = [], []
for round in range(runs * 3):
    time.sleep(space)
    template.append(timed([sandbox, f"{tmp}/template-auto.conf", "timed"], b"print(6*7)"))
    if round % 3 == 0:
        time.sleep(space)
        cold.append(timed([sandbox, f"{tmp}/fresh-auto.conf", "bench", "python3", "-c", imports], b""))
print(statistics.median(template), statistics.median(cold))
PY
}
read -r auto_template auto_cold < <(as_shipped 0)
read -r spaced_template spaced_cold < <(as_shipped "$space_ms")

log "== templates: the prepared process, and $concurrent runs at once"
tserver="$(fuser "$tmp/socks/".template.*.sock 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | head -1 || true)"
prepared_rss=0; prepared_pss=0; tserver_rss=0; tserver_pss=0; spare_rss=0; spare_pss=0
if [[ -n "$tserver" ]]; then
    tserver_rss="$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$tserver/status")"
    tserver_pss="$(awk '$1 == "Pss:" { print $2 }' "/proc/$tserver/smaps_rollup")"
    # The traced children: the prepared process (the oldest) and the
    # spare copy.
    traced=()
    for child in $(cat "/proc/$tserver/task/"*/children 2>/dev/null); do
        if [[ "$(awk '$1 == "TracerPid:" { print $2 }' "/proc/$child/status")" != 0 ]]; then
            traced+=("$(awk '{ print $22 }' "/proc/$child/stat") $child")
        fi
    done
    i=0
    while read -r _ child; do
        [[ -n "$child" ]] || continue
        rss="$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$child/status")"
        pss="$(awk '$1 == "Pss:" { print $2 }' "/proc/$child/smaps_rollup")"
        # The spare's own pages (private: not shared with the prepared
        # process); its Pss takes half of every page they share.
        own="$(awk '$1 == "Private_Clean:" || $1 == "Private_Dirty:" { kb += $2 } END { print kb + 0 }' "/proc/$child/smaps_rollup")"
        if ((i == 0)); then prepared_rss="$rss"; prepared_pss="$pss"; else spare_rss="$rss"; spare_pss="$own"; fi
        i=$((i + 1))
    done < <(printf '%s\n' "${traced[@]}" | sort -n)
fi
start_ns="$(date +%s%N)"
pids=()
for ((i = 0; i < concurrent; i++)); do
    (template_once "c$((i % 10))" > "$tmp/out.$i" 2>&1) &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
concurrent_ms="$(( ($(date +%s%N) - start_ns) / 1000000 ))"
right=0
for ((i = 0; i < concurrent; i++)); do
    [[ "$(cat "$tmp/out.$i")" == 42 ]] && right=$((right + 1))
done

log "== memory: $sessions suspended sessions"
for ((i = 0; i < sessions; i++)); do
    [[ "$(echo 'x = 1' | "$sandbox" "$tmp/repl.conf" "m$i"; echo ok)" == ok ]] || {
        log "session m$i did not start"; exit 1; }
done
kb() { awk -v key="$2" '$1 == key":" { print $2 }' "$1" 2>/dev/null || true; }
server_rss=(); server_pss=(); keeper_rss=(); keeper_pss=()
for ((i = 0; i < sessions; i++)); do
    # The server holds the socket; its children are the driver (traced)
    # and the keeper (not traced).
    server="$(fuser "$tmp/socks/m$i."*.sock 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | head -1 || true)"
    [[ -n "$server" ]] || continue
    server_rss+=("$(kb "/proc/$server/status" VmRSS)")
    server_pss+=("$(kb "/proc/$server/smaps_rollup" Pss)")
    for child in $(cat "/proc/$server/task/"*/children 2>/dev/null); do
        if [[ "$(awk '$1 == "TracerPid:" { print $2 }' "/proc/$child/status")" == 0 ]]; then
            keeper_rss+=("$(kb "/proc/$child/status" VmRSS)")
            keeper_pss+=("$(kb "/proc/$child/smaps_rollup" Pss)")
        fi
    done
done
med() { printf '%s\n' "$@" | median; }

cat <<EOF
| measure | value |
|---|---:|
| fresh jailed \`python3 -c 'print(6*7)'\`, median of $runs | $(printf '%.1f' "$(echo "$fresh * 1000" | bc -l)") ms |
| the same command to a suspended session, median of $runs | $(printf '%.1f' "$(echo "$session * 1000" | bc -l)") ms |
| session / fresh | $(printf '%.3f' "$ratio") |
| fresh jailed \`python3 -c '$imports'\` (cold, with the imports), median of $runs | $(printf '%.1f' "$(echo "$cold * 1000" | bc -l)") ms |
| \`print(6*7)\` as a run of the template (those imports prepared), median of $runs | $(printf '%.1f' "$(echo "$template * 1000" | bc -l)") ms |
| template run / cold with imports | $(printf '%.3f' "$template_ratio") |
| as shipped (\`cpu auto\`, client unpinned), back to back: template run / cold, medians of $((runs * 3)) / $runs | $(printf '%.1f / %.1f ms = %.3f' "$(echo "$auto_template * 1000" | bc -l)" "$(echo "$auto_cold * 1000" | bc -l)" "$(echo "$auto_template / $auto_cold" | bc -l)") |
| as shipped, ${space_ms} ms between commands: template run / cold | $(printf '%.1f / %.1f ms = %.3f' "$(echo "$spaced_template * 1000" | bc -l)" "$(echo "$spaced_cold * 1000" | bc -l)" "$(echo "$spaced_template / $spaced_cold" | bc -l)") |
| prepared python3, VmRSS | $prepared_rss KiB |
| prepared python3, Pss (shared with the spare, which takes half of what they share) | $prepared_pss KiB |
| spare copy kept ready between runs, VmRSS / its own pages (Private_*) | $spare_rss / $spare_pss KiB |
| template server (tracer), VmRSS / Pss | $tserver_rss / $tserver_pss KiB |
| $concurrent runs started at once against one template: wall time, all done | $concurrent_ms ms |
| of those, runs that printed 42 / failed | $right / $failed |
| session server (tracer), VmRSS, median of ${#server_rss[@]} | $(med "${server_rss[@]}") KiB |
| session server (tracer), Pss, median | $(med "${server_pss[@]}") KiB |
| descriptor keeper, VmRSS, median of ${#keeper_rss[@]} | $(med "${keeper_rss[@]:-0}") KiB |
| descriptor keeper, Pss, median | $(med "${keeper_pss[@]:-0}") KiB |
EOF
