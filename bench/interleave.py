#!/usr/bin/env python3
"""Times benchmark sides interleaved: round after round, each side once a round, in an order
rotated every round. A slow stretch of a noisy machine then falls on every side alike, where
hyperfine, which runs one side's runs all in a row, lets it fall on one side only and skew
the ratios between sides. Writes the medians in the shape of hyperfine's --export-json
(`results[].median`, in seconds), so the scripts read both alike.

usage: interleave.py OUT.json ROUNDS WARMUP [--prepare SHELL-CMD] CMD [[--prepare SHELL-CMD] CMD ...]

Each CMD runs without a shell (split as a shell would), after its side's prepare command,
which is not timed; its output is shown only when it fails, which stops the run. WARMUP
rounds run first and are not counted.
"""
import json
import shlex
import statistics
import subprocess
import sys
import time


def main():
    out, rounds, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sides, prepare, args, i = [], None, sys.argv[4:], 0
    while i < len(args):
        if args[i] == "--prepare":
            prepare, i = args[i + 1], i + 2
            continue
        sides.append((prepare, args[i]))
        prepare, i = None, i + 1
    times = [[] for _ in sides]
    for r in range(warmup + rounds):
        k = r % len(sides)
        for s in list(range(len(sides)))[k:] + list(range(len(sides)))[:k]:
            prep, cmd = sides[s]
            if prep:
                subprocess.run(prep, shell=True, check=True)
            start = time.perf_counter()
            # As hyperfine: the output is not shown, unless the command fails.
            done = subprocess.run(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            took = time.perf_counter() - start
            if done.returncode != 0:
                sys.stderr.write(done.stderr.decode(errors="replace"))
                sys.exit(f"{cmd} failed ({done.returncode})")
            if r >= warmup:
                times[s].append(took)
    results = [{"command": c, "median": statistics.median(t), "times": t} for (_, c), t in zip(sides, times)]
    with open(out, "w") as f:
        json.dump({"results": results}, f)


if __name__ == "__main__":
    main()
