#!/usr/bin/env bash
# Benchmarks the jail against native runs of the same programs, side by side.
#
#   bench/run.sh                  # every workload, 5 timed pairs each, pinned and unpinned (~2 min on 2 CPUs)
#   QUICK=1 bench/run.sh          # smoke run (~30 s): 1 timed pair, loops 1/5 as long
#   RUNS=9 bench/run.sh           # more timed pairs per workload and setting
#   ONLY='stat getpid' bench/run.sh    # only these workloads (ids below)
#   SETTINGS='pinned unpinned auto' bench/run.sh   # also the config's `cpu auto`
#   CPU=1 bench/run.sh            # pin to CPU 1 instead of 0
#   NO_HYPERFINE=1 bench/run.sh   # use the built-in timing loop even if hyperfine is there
#   BIN_WRITABLE=1 bench/run.sh   # the workloads' own directory writable in the jail too
#   KEEP=1 bench/run.sh           # keep the temporary directory (logs of failed checks)
#   PEERS='floor' bench/run.sh    # which other tracers to time next to the jail
#                                 # (default: floor and strace, when available)
#   MINTRACE=path/mintrace.c      # the floor's source (default ../shared/bench/mintrace.c)
#   JAIL=path/to/sandbox          # time that build of the jail instead of this tree's
#                                 # (an A/B in two runs: an older binary, then this one)
#
# Settings: "pinned" runs both the native program and the jail under
# `taskset -c $CPU`, so the tracer and the program share one CPU; "unpinned"
# lets the scheduler place them; "auto" (optional) is unpinned with `cpu auto`
# in the jail config.
#
# Workload ids: imports find forkexec gcc compute parallel stat openclose getpid sendmsg true seefind
#   cowfind seeimports cowimports writebuild cowbuild
# (parallel: two of the compute workload at once, which on 2 CPUs should
# take the time of one unpinned, jailed as natively: the jail must not
# hold both processes to one CPU)
# (seefind and cowfind: find over a copy of /usr/include that the jail sees,
# or that is a `cow` tree, whose kept layer the warm-up run makes;
# seeimports and cowimports: python3 importing with its working directory,
# first on sys.path, in that seen or cow tree; writebuild and cowbuild:
# untar a 17-file C project, make it with gcc, run it and remove it, in a
# write tree or a cow tree whose layer each run discards)
#
# Peers, timed in the same rounds as the native run and the jail: "floor" is
# the bare one-stop tracer (mintrace.c: one seccomp stop per path syscall and
# per clone, reads the path, continues; the least a seccomp-assisted ptrace
# jail can cost), built from ../shared/bench/mintrace.c when that exists;
# "strace" is `strace -f --seccomp-bpf -e trace=%file,process` writing to
# /dev/null, when strace is installed (or installable with apt-get as root).
# Neither confines anything: they run with the native run's view.
#
# Every workload first runs once natively and once jailed (RUST_LOG=debug,
# logged to the jail's stderr) with stdout captured; both must exit 0 and print
# the same bytes. A failure is printed in full (the program's stderr, the
# jail's refusals, hidden paths that exist outside), counted in the table, and
# makes the script exit 1 at the end; up to three attempts, so an intermittent
# failure is reported and the workload still measured. Timing uses hyperfine
# (installed with apt-get when missing and root), one native and one jailed
# run per round, alternating which goes first, with one warm-up run of each
# before the first round; the medians of the rounds are reported. Progress
# goes to stderr, the markdown table to stdout. Needs gcc with a static libc,
# /usr/bin/python3, find and taskset. Run it on an otherwise idle machine;
# docs/performance.md has results and how to read them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
quick="${QUICK:-0}"
if [[ "$quick" == 1 ]]; then
    runs="${RUNS:-1}"; scale=5
else
    runs="${RUNS:-5}"; scale=1
fi
warmup=1
cpu="${CPU:-0}"
settings="${SETTINGS:-pinned unpinned}"
only="${ONLY:-}"
ident=bench

log() { printf '%s\n' "$*" >&2; }

# --- the jail ----------------------------------------------------------------
log "== cargo build --release"
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
sandbox="${JAIL:-$repo/target/release/sandbox}"
[[ -x "$sandbox" ]] || { log "JAIL=$sandbox: no executable there"; exit 2; }

# --- hyperfine or the fallback loop -------------------------------------------
timer=hyperfine
if [[ "${NO_HYPERFINE:-0}" == 1 ]]; then
    timer=loop
elif ! command -v hyperfine >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "== installing hyperfine"
        apt-get install -y -qq hyperfine >&2 \
            || { apt-get update -qq >&2 && apt-get install -y -qq hyperfine >&2; } \
            || true
    fi
    command -v hyperfine >/dev/null 2>&1 || timer=loop
fi
if [[ "$timer" == hyperfine ]]; then
    timer_name="$(hyperfine --version)"
else
    timer_name="own loop (date +%s.%N)"
fi

# --- peers: the floor and strace ----------------------------------------------
peers="${PEERS-floor strace}"
mintrace_src="${MINTRACE:-$repo/../shared/bench/mintrace.c}"
declare -A peer_argv
for peer in $peers; do
    case "$peer" in
    floor)
        if [[ -f "$mintrace_src" ]]; then
            peer_argv[floor]="floor"
        else
            log "== no $mintrace_src: the floor is not measured"
        fi ;;
    strace)
        if ! command -v strace >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "== installing strace"
            apt-get install -y -qq strace >&2 || true
        fi
        if command -v strace >/dev/null 2>&1; then
            peer_argv[strace]="strace"
        else
            log "== no strace: not measured"
        fi ;;
    *) log "unknown peer: $peer (known: floor strace)"; exit 2 ;;
    esac
done

# --- workloads and jail config in a temporary directory -----------------------
work="$(mktemp -d /tmp/sandbox-bench.XXXXXX)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
bin="$work/bin"   # the workloads: visible, not writable (unless BIN_WRITABLE=1)
run="$work/run"   # working directory and TMPDIR: writable
mkdir "$bin" "$run"
log "== compiling workloads into $bin"
for source in statloop openclose getpid forkexec sendmsg; do
    gcc -O2 -static -o "$bin/$source" "$here/workloads/$source.c"
done
cp "$here/workloads/compute.py" "$here/workloads/gcc.sh" "$here/workloads/hello.c" "$bin/"
variants=(native jailed)
if [[ -n "${peer_argv[floor]:-}" ]]; then
    gcc -O2 -o "$work/mintrace" "$mintrace_src"
    variants+=(floor)
fi
[[ -n "${peer_argv[strace]:-}" ]] && variants+=(strace)

# Only what the workloads open: /etc/ld.so.cache (the dynamic loader) and
# /etc/localtime (Python), not the rest of /etc; /dev/null for programs that
# open it themselves. The workloads' own directory is not writable, as a
# jail's programs normally are not: a path string inside a binary the jail can
# write could change under the tracer, so the jail copies it into scratch
# memory first, which costs a second stop per call (BIN_WRITABLE=1 measures
# that layout).
writable="$run"; [[ "${BIN_WRITABLE:-0}" == 1 ]] && writable="$work"
config="$work/bench.conf"
cat > "$config" <<CONF
see /usr
see /bin
see /lib
see /lib64
see /etc/ld.so.cache
see /etc/localtime
see /dev/null
write /dev/null
see $work
write $writable
chdir $run
setenv TMPDIR $run
CONF
# The project bench/workloads/build.sh builds: 16 C files and a Makefile.
proj="$work/proj"
mkdir "$proj"
for i in $(seq 1 16); do
    printf '#include <stdio.h>\n#include <string.h>\nint f%d(const char *s) { return (int)strlen(s) + %d; }\n' "$i" "$i" >"$proj/f$i.c"
done
{
    printf '#include <stdio.h>\n'
    for i in $(seq 1 16); do printf 'int f%d(const char *);\n' "$i"; done
    printf 'int main(void) { int t = 0;\n'
    for i in $(seq 1 16); do printf 't += f%d("x");\n' "$i"; done
    printf 'printf("%%d\\n", t); return 0; }\n'
} >"$proj/main.c"
printf 'OBJS = main.o %s\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n%%.o: %%.c\n\t$(CC) -O2 -c -o $@ $<\n' \
    "$(for i in $(seq 1 16); do printf 'f%d.o ' "$i"; done)" >"$proj/Makefile"
tar -cf "$bin/src.tar" -C "$proj" .
cp "$here/workloads/build.sh" "$bin/"
# Where the build runs: a directory of the write tree, and a cow tree
# (each run's layer discarded at its end, as a dry run would).
writebuild="$run/build"; mkdir "$writebuild"
cowbuild="$work/cowbuild"; mkdir "$cowbuild"
# A tree for seefind and cowfind: /usr/include hard-linked (or copied).
tree="$work/tree"
cp -al /usr/include "$tree" 2>/dev/null || cp -a /usr/include "$tree"
config_cow="$work/bench-cow.conf"
cp "$config" "$config_cow"
# The layer's directory may not lie in a tree the jail sees.
layers="$(mktemp -d /tmp/sandbox-bench-layers.XXXXXX)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work" "$layers"' EXIT
printf 'cow %s\ncowdir %s\nonexit keep\n' "$tree" "$layers" >> "$config_cow"
config_cowbuild="$work/bench-cowbuild.conf"
cp "$config" "$config_cowbuild"
printf 'cow %s\ncowdir %s\nonexit discard\n' "$cowbuild" "$layers" >> "$config_cowbuild"
config_auto="$work/bench-auto.conf"
cp "$config" "$config_auto"
echo "cpu auto" >> "$config_auto"

# Native runs see the same working directory and environment; a short PATH
# so that neither looks up commands in directories the jail hides.
cd "$run"
export TMPDIR="$run" LC_ALL=C PATH=/usr/bin:/bin

n_stat=$((50000 / scale)); n_open=$((20000 / scale)); n_getpid=$((50000 / scale)); n_fork=$((300 / scale))
n_sendmsg=$((20000 / scale))
all_ids="imports find forkexec gcc compute parallel stat openclose getpid sendmsg true seefind cowfind seeimports cowimports writebuild cowbuild"

# Sets `argv`, `title`, `checked` (syscalls per run, or empty) and `ref`
# (the reference "best seccomp tracer" ratio, pinned) for a workload id.
workload() {
    checked=""; ref=""; wconf=""
    case "$1" in
    imports)   title="python3 start + imports"; ref=1.28
               argv=(/usr/bin/python3 -c 'import json, re, collections, decimal, email, http.client') ;;
    find)      title="find /usr/lib -name '*.so*'"; ref=8.25
               argv=(/usr/bin/find /usr/lib -name '*.so*') ;;
    forkexec)  title="$n_fork x fork+exec /bin/true"; ref=1.45
               argv=("$bin/forkexec" "$n_fork") ;;
    gcc)       title="gcc compile+link+run"; ref=2.32
               argv=(/bin/sh "$bin/gcc.sh") ;;
    compute)   title="python pure compute"; ref=0.92
               argv=(/usr/bin/python3 "$bin/compute.py") ;;
    parallel)  title="2 x python pure compute at once"
               argv=(/bin/sh -c "/usr/bin/python3 $bin/compute.py & /usr/bin/python3 $bin/compute.py; wait") ;;
    stat)      title="$((n_stat / 1000))k stat loop"; ref=22.3; checked=$n_stat
               argv=("$bin/statloop" "$n_stat") ;;
    openclose) title="$((n_open / 1000))k open+close loop"; ref=8.57; checked=$n_open
               argv=("$bin/openclose" "$n_open") ;;
    getpid)    title="$((n_getpid / 1000))k getpid loop (not stopped)"; ref=1.54; checked=$n_getpid
               argv=("$bin/getpid" "$n_getpid") ;;
    sendmsg)   title="$((n_sendmsg / 1000))k sendmsg on a socket pair"; checked=$n_sendmsg
               argv=("$bin/sendmsg" "$n_sendmsg") ;;
    seefind)   title="find in a seen tree (/usr/include)"
               argv=(/usr/bin/find "$tree" -name '*.h') ;;
    cowfind)   title="find in a cow tree (/usr/include, layer kept)"; wconf="$config_cow"
               argv=(/usr/bin/find "$tree" -name '*.h') ;;
    seeimports) title="python3 start + imports, cwd a seen tree"
               argv=(/usr/bin/python3 -c "import os; os.chdir('$tree'); import json, re, collections, decimal, email, http.client") ;;
    cowimports) title="python3 start + imports, cwd a cow tree"; wconf="$config_cow"
               argv=(/usr/bin/python3 -c "import os; os.chdir('$tree'); import json, re, collections, decimal, email, http.client") ;;
    writebuild) title="untar + make (17 C files) in a write tree"
               argv=(/bin/sh "$bin/build.sh" "$writebuild") ;;
    cowbuild)  title="untar + make (17 C files) in a cow tree (discarded)"; wconf="$config_cowbuild"
               argv=(/bin/sh "$bin/build.sh" "$cowbuild") ;;
    true)      title="/bin/true (jail start-up)"
               argv=(/bin/true) ;;
    *) log "unknown workload id: $1"; exit 2 ;;
    esac
}

# The argv of a setting's native and jailed commands, given the workload's.
prefix_for() {
    case "$1" in
    pinned)   prefix=(taskset -c "$cpu"); conf="$config" ;;
    unpinned) prefix=(); conf="$config" ;;
    auto)     prefix=(); conf="$config_auto" ;;
    *) log "unknown setting: $1"; exit 2 ;;
    esac
}

quote() { local out="" a; for a in "$@"; do out+="$(printf '%q' "$a") "; done; printf '%s' "${out% }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.4f-%.4f", lo, hi}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }

# One timed run with the fallback loop; prints seconds.
time_once() {
    local start end
    start=$(date +%s.%N)
    "$@" </dev/null >/dev/null 2>"$work/err.timed" || { log "FAILED while timing: $(quote "$@")"; cat "$work/err.timed" >&2; return 1; }
    end=$(date +%s.%N)
    calc '%.6f' "$end - $start"
}

# The argv of `variant` for the current workload and setting, in `full`.
variant_argv() {
    case "$1" in
    native) full=("${prefix[@]}" "${argv[@]}") ;;
    jailed) full=("${prefix[@]}" "$sandbox" "$conf" "$ident" "${argv[@]}") ;;
    floor)  full=("${prefix[@]}" "$work/mintrace" "${argv[@]}") ;;
    strace) full=("${prefix[@]}" strace -f -qq --seccomp-bpf -e trace=%file,process -o /dev/null "${argv[@]}") ;;
    esac
}

# Times every variant (native, the jail, the peers) for the current workload
# and setting, in rounds of one run each, rotating which goes first; sets
# `times[<variant>]` to the space-separated times. A round in which any run
# fails is recorded in `failures`, counted in `flaky` and run again, up to
# $runs times (then the workload and setting count as failed).
measure() {
    local -A cmd
    local variant full
    for variant in "${variants[@]}"; do
        variant_argv "$variant"
        cmd[$variant]="$(quote "${full[@]}")"
    done
    times=()
    local round=0 failed=0 done_rounds=0 wu i n=${#variants[@]} order t ok
    while ((done_rounds < runs)); do
        round=$((round + 1))
        order=()
        for ((i = 0; i < n; i++)); do order+=("${variants[$(( (i + round) % n ))]}"); done
        wu=0; ((round == 1)) && wu=$warmup
        ok=1
        if [[ "$timer" == hyperfine ]]; then
            local hargs=()
            for variant in "${order[@]}"; do hargs+=(-n "$variant" "${cmd[$variant]}"); done
            if hyperfine -N --style none --warmup "$wu" --runs 1 --export-csv "$work/h.csv" \
                    "${hargs[@]}" 2>"$work/h.err"; then
                for variant in "${variants[@]}"; do
                    times[$variant]+="$(awk -F, -v v="$variant" '$1 == v {print $2}' "$work/h.csv") "
                done
                done_rounds=$((done_rounds + 1))
                continue
            fi
            cp "$work/h.err" "$work/err.timed"
        else
            local -A got=()
            for ((; wu > 0; wu--)); do
                for variant in "${order[@]}"; do
                    variant_argv "$variant"; time_once "${full[@]}" >/dev/null || { ok=0; break; }
                done
            done
            if ((ok)); then
                for variant in "${order[@]}"; do
                    variant_argv "$variant"
                    t=$(time_once "${full[@]}") || { ok=0; break; }
                    got[$variant]=$t
                done
            fi
            if ((ok)); then
                for variant in "${variants[@]}"; do times[$variant]+="${got[$variant]} "; done
                done_rounds=$((done_rounds + 1))
                continue
            fi
        fi
        failed=$((failed + 1))
        flaky[$id]=$(( ${flaky[$id]:-0} + 1 ))
        failures+=("$title [$setting]: timed round $round failed: $(tr '\n' ' ' <"$work/err.timed" | tail -c 400)")
        log "   !!! $setting: timed round $round failed: $(tail -c 400 "$work/err.timed")"
        if ((failed > runs)); then return 1; fi
    done
}

# Runs the workload once natively and once jailed (unpinned, with the jail's
# decisions logged: RUST_LOG=debug goes to the jail's stderr, only stdout is
# compared) and compares exit statuses and stdout. A failed attempt is
# reported in full, recorded in `failures` and counted in `flaky`; up to three
# attempts (two when the second fails the same way), so that an intermittent
# failure is reported and the workload still measured. Returns 1 when no
# attempt succeeded.
check() {
    local attempt nrc jrc same signature previous=""
    for attempt in 1 2 3; do
        nrc=0 jrc=0
        "${argv[@]}" </dev/null >"$work/out.native" 2>"$work/err.native" || nrc=$?
        RUST_LOG=debug "$sandbox" "${wconf:-$config}" "$ident" "${argv[@]}" </dev/null \
            >"$work/out.jailed" 2>"$work/err.jailed" || jrc=$?
        same=DIFFER; cmp -s "$work/out.native" "$work/out.jailed" && same=same
        if [[ $nrc == 0 && $jrc == 0 && $same == same ]]; then
            return 0
        fi
        flaky[$id]=$(( ${flaky[$id]:-0} + 1 ))
        signature="$jrc $nrc $same $(grep -v '^\[20[0-9-]*T' "$work/err.jailed" | sed -E 's/[0-9]+//g')"
        if ((attempt > 1)) && [[ "$signature" == "$previous" ]]; then
            log "!!!!!! FAILED again, the same way: $title (check run $attempt); not retrying"
            failures+=("$title: check run $attempt failed the same way")
            return 1
        fi
        previous="$signature"
        failures+=("$title: check run $attempt: native exit $nrc, jailed exit $jrc, outputs $same; program's stderr: $(grep -v '^\[20[0-9-]*T' "$work/err.jailed" | tail -c 300 | tr '\n' ' ')")
        {
            echo
            echo "!!!!!! FAILED: $title (check run $attempt)"
            echo "!!!!!! native exit $nrc, jailed exit $jrc; outputs $same"
            echo "--- jailed command: RUST_LOG=debug $(quote "$sandbox" "${wconf:-$config}" "$ident" "${argv[@]}")"
            echo "--- native stdout (head):"; head -c 600 "$work/out.native"
            echo "--- jailed stdout (head):"; head -c 600 "$work/out.jailed"
            echo "--- the program's stderr in the jail (tail):"
            grep -v '^\[20[0-9-]*T' "$work/err.jailed" | tail -c 1500
            echo "--- the jail's refusals and errors other than ENOENT (count, line):"
            grep -E 'errno [0-9]+|cannot|WARN|ERROR|refus|EPERM|EACCES' "$work/err.jailed" \
                | grep -v 'errno 2$' | sed -E 's/^\[[^ ]* //' | sort | uniq -c | sort -rn | head -n 30 || true
            echo "--- paths hidden by the jail (ENOENT) that exist outside it (first 30):"
            grep -E 'errno 2$|does not resolve' "$work/err.jailed" \
                | sed -nE 's/^[^]]*\] [0-9]+: [a-z0-9_]+\("([^"]*)".*/\1/p' | sort -u \
                | while read -r path; do [[ "$path" == /* && -e "$path" ]] && echo "$path"; done | head -n 30 || true
            echo "--- whole log: $work/err.jailed (kept: KEEP=1)"
            echo
        } >&2
    done
    return 1
}

machine="$(nproc) CPUs, Linux $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
log "== $machine; timer: $timer_name; $runs timed pair(s) + $warmup warm-up per workload and setting; settings: $settings"

# How busy the CPUs are before we start (one second of /proc/stat): other
# work on the machine makes every number noisy, the unpinned ones most.
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
read -r busy0 idle0 < <(cpu_ticks); sleep 1; read -r busy1 idle1 < <(cpu_ticks)
busy_before=$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0 + 1) ))
if ((busy_before > 10)); then
    log "!!! the CPUs were ${busy_before}% busy before the start: the numbers will be noisy"
fi
failures=()
declare -A flaky   # [id] = failed runs
declare -A result   # [id,setting,variant] = median seconds
declare -A times    # [variant] = the times of one workload and setting
ids=()
started=$SECONDS
for id in $all_ids; do
    if [[ -n "$only" && " $only " != *" $id "* ]]; then continue; fi
    ids+=("$id")
    workload "$id"
    log "-- $title"
    if ! check; then
        continue
    fi
    for setting in $settings; do
        prefix_for "$setting"
        [[ -n "$wconf" ]] && conf="$wconf"
        if ! measure; then
            failures+=("$title [$setting]: gave up after $runs failed timed rounds")
            continue
        fi
        line="$(printf '%-9s' "$setting")"
        for variant in "${variants[@]}"; do
            # shellcheck disable=SC2086
            m=$(median ${times[$variant]})
            result[$id,$setting,$variant]=$m
            line+="$(printf ' %s %.4f s' "$variant" "$m")"
            [[ $variant != native ]] && line+="$(printf ' (x%.2f)' "$(calc '%.4f' "$m / ${result[$id,$setting,native]}")")"
        done
        log "   $line"
    done
done
log "== measured in $((SECONDS - started)) s"

# --- the table ----------------------------------------------------------------
echo
echo "$machine, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "CPUs ${busy_before}% busy in the second before the start; workloads' directory $([[ "${BIN_WRITABLE:-0}" == 1 ]] && echo WRITABLE || echo read-only) in the jail"
echo "timer: $timer_name; median of $runs alternating native/jailed pair(s) after $warmup warm-up run each$([[ $quick == 1 ]] && echo '; QUICK=1: loops 1/5 as long')"
echo
# One table per setting: every variant's median, then what each adds to the
# native run (ratio - 1 for whole workloads, µs per call for the loops),
# and the jail's added cost over the floor's.
added() { # added <seconds> <native seconds>
    if [[ -n "$checked" ]]; then calc '%.2f µs' "($1 - $2) / $checked * 1e6"; else calc '%.2f' "$1 / $2 - 1"; fi
}
for setting in $settings; do
    label="$setting"; [[ "$setting" == pinned ]] && label="pinned to CPU $cpu"; [[ "$setting" == auto ]] && label="cpu auto"
    echo "**$label**"
    echo
    header="| workload |"; rule="|---|"
    for variant in "${variants[@]}"; do header+=" $variant |"; rule+="---:|"; done
    for variant in "${variants[@]}"; do [[ $variant == native ]] || { header+=" $variant adds |"; rule+="---:|"; }; done
    [[ -n "${peer_argv[floor]:-}" ]] && { header+=" jail added / floor added |"; rule+="---:|"; }
    [[ "$setting" == pinned ]] && { header+=" ref. best seccomp tracer x (pinned) |"; rule+="---:|"; }
    echo "$header"; echo "$rule"
    for id in "${ids[@]}"; do
        workload "$id"
        note=""; [[ -n "${flaky[$id]:-}" ]] && note=" (**${flaky[$id]} failed run(s)**, see below)"
        row="| $title$note |"
        if [[ -z "${result[$id,$setting,native]:-}" ]]; then
            echo "$row FAILED |"; continue
        fi
        n=${result[$id,$setting,native]}
        for variant in "${variants[@]}"; do row+=" $(calc '%.3f s' "${result[$id,$setting,$variant]}") |"; done
        for variant in "${variants[@]}"; do
            [[ $variant == native ]] || row+=" $(added "${result[$id,$setting,$variant]}" "$n") |"
        done
        if [[ -n "${peer_argv[floor]:-}" ]]; then
            j=${result[$id,$setting,jailed]}; f=${result[$id,$setting,floor]}
            row+=" $(awk "BEGIN {d = $f - $n; if (d <= 0) print \"-\"; else printf \"%.2f\", ($j - $n) / d}") |"
        fi
        if [[ "$setting" == pinned ]]; then
            j=${result[$id,$setting,jailed]}
            if [[ -n "$ref" && "$quick" != 1 ]]; then
                row+=" $ref ($(awk "BEGIN {print ($j / $n < $ref) ? \"ahead\" : \"BEHIND\"}")) |"
            else
                row+=" ${ref:--} |"
            fi
        fi
        echo "$row"
    done
    echo
done
echo
echo "jail config:"
echo '```'
sed "s#$work#\$TMP#g" "$config"
echo '```'
echo
if ((${#failures[@]})); then
    echo "WORKLOADS THAT FAILED OR DIFFERED:"
    for f in "${failures[@]}"; do echo "- $f"; done
    exit 1
fi
