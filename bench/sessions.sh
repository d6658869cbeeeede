#!/usr/bin/env bash
# Benchmarks suspended sessions: what a command to a waiting Python REPL
# costs against a fresh jailed Python start, and how much memory a
# suspended session holds.
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
# Memory: SESSIONS sessions are started and left suspended; for each, the
# session server (the tracer and its I/O thread) and its descriptor keeper
# are read from /proc: VmRSS, and Pss from smaps_rollup (pages shared with
# other processes counted by their share, which is what the machine pays).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
runs="${RUNS:-20}"
sessions="${SESSIONS:-20}"
cpu="${CPU:-0}"

log() { printf '%s\n' "$*" >&2; }

log "== cargo build --release"
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
sandbox="$repo/target/release/sandbox"

tmp="$(mktemp -d /tmp/sandbox-sessions-bench.XXXXXX)"
cleanup() {
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

pin=(taskset -c "$cpu")
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

fresh_once() {
    echo | "${pin[@]}" "$sandbox" "$tmp/fresh.conf" bench python3 -c 'print(6*7)'
}
session_once() {
    echo 'print(6*7)' | "${pin[@]}" "$sandbox" "$tmp/repl.conf" timed
}

log "== check: both print 42"
[[ "$(fresh_once)" == 42 ]] || { log "fresh run did not print 42"; exit 1; }
[[ "$(session_once)" == 42 ]] || { log "session did not print 42"; exit 1; }

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
    "echo 'print(6*7)' | taskset -c $cpu $sandbox $tmp/repl.conf timed" >&2
read -r fresh session < <(python3 -c '
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(*(r["median"] for r in results))' "$tmp/times.json")
ratio="$(echo "$session / $fresh" | bc -l)"

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
    server="$(fuser "$tmp/socks/m$i.sock" 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | head -1 || true)"
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
| session server (tracer), VmRSS, median of ${#server_rss[@]} | $(med "${server_rss[@]}") KiB |
| session server (tracer), Pss, median | $(med "${server_pss[@]}") KiB |
| descriptor keeper, VmRSS, median of ${#keeper_rss[@]} | $(med "${keeper_rss[@]:-0}") KiB |
| descriptor keeper, Pss, median | $(med "${keeper_pss[@]:-0}") KiB |
EOF
