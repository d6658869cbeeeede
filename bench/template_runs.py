#!/usr/bin/env python3
"""Times template runs of several `sandbox` binaries side by side.

    bench/template_runs.py ROUNDS BINARY[:CONFIG] [BINARY[:CONFIG]...]
    KEEP_CPU=1 ...   keep the configs' `cpu auto` (as shipped); else dropped
    SPACE=0.02 ...   sleep this many seconds before each command (a bot's pace)
    COLD=0 ...       no cold runs

Each binary gets its own copy of conf/python-template.conf, or of CONFIG
when given (an older binary needs the config of its time; one binary may
be named twice with two configs, e.g. one with `rehearsal off`), with
its own sockets; each round runs `print(6*7)` as a run of each binary's template
(alternating their order), and every fifth round a cold jailed
`python3 -c 'import json, decimal, re, collections; print(6*7)'` under
conf/python.conf with the first binary. Every command must print 42.
Prints the medians, the ratio of each to the cold start, and the same less
the harness's own spawn of a process (`/bin/echo`). Pin or prioritize the
whole harness from outside (`chrt -f 10 taskset -c 1 ...`) to measure
everything on one CPU.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

rounds = int(sys.argv[1])
entries = [argument.split(":", 1) for argument in sys.argv[2:]]
binaries = [entry[0] for entry in entries]
sources = [entry[1] if len(entry) > 1 else None for entry in entries]
space = float(os.environ.get("SPACE", "0"))
keep_cpu = bool(os.environ.get("KEEP_CPU"))
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(path):
    with open(path) as file:
        return "".join(line for line in file
                       if (keep_cpu or not line.startswith("cpu ")) and not line.startswith("sockdir "))


tmp = tempfile.mkdtemp(prefix="sandbox-template-runs.")
configs = []
for index, source in enumerate(sources):
    path = f"{tmp}/template{index}.conf"
    source = source or os.path.join(repo, "conf", "python-template.conf")
    with open(path, "w") as file:
        file.write(config(source) + f"\nsockdir {tmp}/socks{index}\n")
    configs.append(path)
fresh = f"{tmp}/fresh.conf"
with open(fresh, "w") as file:
    file.write(config(os.path.join(repo, "conf", "python.conf")))


def timed(argv, data):
    start = time.perf_counter()
    done = subprocess.run(argv, input=data, capture_output=True)
    took = time.perf_counter() - start
    assert done.stdout == b"42\n", (argv, done)
    return took


labels = sys.argv[2:]
times = {label: [] for label in labels}
cold = []
try:
    for binary, conf in zip(binaries, configs):
        for _ in range(5):
            timed([binary, conf, "warm"], b"print(6*7)")
    for round in range(rounds):
        order = list(zip(labels, binaries, configs))
        if round % 2:
            order.reverse()
        for label, binary, conf in order:
            time.sleep(space)
            times[label].append(timed([binary, conf, f"id{round % 7}"], b"print(6*7)"))
        if round % 5 == 0 and os.environ.get("COLD", "1") == "1":
            time.sleep(space)
            cold.append(timed([binaries[0], fresh, "cold", "/usr/bin/python3", "-c",
                               "import json, decimal, re, collections; print(6*7)"], b""))
    spawn = statistics.median(
        timed(["/bin/echo", "42"], b"") for _ in range(rounds))
finally:
    for binary, conf in zip(binaries, configs):
        subprocess.run([binary, "--kill-template", conf], capture_output=True)
print(f"spawn of /bin/echo: {spawn * 1e3:.2f} ms")
cold_median = statistics.median(cold) if cold else float("nan")
print(f"cold: {cold_median * 1e3:.2f} ms (n={len(cold)})")
for label in labels:
    median = statistics.median(times[label])
    print(f"{label}: {median * 1e3:.2f} ms  ratio {median / cold_median:.3f}"
          f"  (less spawn: {(median - spawn) / (cold_median - spawn):.3f})")
