#!/usr/bin/env bash
# Every service of a workspace in one run (issue 21 §6): the four services of
# bench/services, pushed to a loopback registry
#   - by one run of this tool (`--workspace --push`),
#   - by four runs of it (`-p SERVICE --push`, one after the other),
#   - by the seed ritual: one `cargo build --workspace` for musl, then for each service a
#     three-line Dockerfile, `docker build` and `docker push`;
# from a clean target directory, then after a one-line edit in one service, then with
# nothing changed. Each side compiles the same code, so `cargo build --workspace` alone
# (the same profile and target) is timed too, and each side's time beyond it is reported.
# Needs docker-registry, a running Docker engine and the musl target (bash .ci/setup). RUNS
# (default 3) runs per side from clean, 3x that after an edit and 5x for the no-op (short
# and noisy); medians, side by side. The sides run interleaved (bench/interleave.py), each
# once a round, so that a slow stretch of the machine falls on all of them alike; each has
# a target directory of its own, so none undoes another's build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cc-bench-ws.XXXXXX)
runs=${RUNS:-3}
services="api worker gateway cron"
export DOCKER_BUILDKIT=0
source "$root/bench/lib.sh"
use_this_build

ws="$work/ws"
cp -r "$root/bench/services" "$ws"
rm -rf "$ws/target"
T=x86_64-unknown-linux-musl

start_registry
cleanup() {
  kill "$reg_pid" 2>/dev/null || true
  for s in $services; do docker rmi -f "$R/ritual/$s:1" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The sides, as scripts, each run as one command; each with a target directory of its own.
cat > "$work/cargo.sh" <<SH
set -e; cd "$ws"; export CARGO_TARGET_DIR="$work/t-cargo"
cargo build -q --release --target $T --workspace
SH
cat > "$work/one.sh" <<SH
set -e; cd "$ws"; export CARGO_TARGET_DIR="$work/t-one"
cargo containerize -q --workspace --push $R/one:1 >/dev/null
SH
cat > "$work/four.sh" <<SH
set -e; cd "$ws"; export CARGO_TARGET_DIR="$work/t-four"
for s in $services; do cargo containerize -q -p \$s --push $R/four/\$s:1 >/dev/null; done
SH
cat > "$work/ritual.sh" <<SH
set -e; cd "$ws"; export CARGO_TARGET_DIR="$work/t-ritual"
cargo build -q --release --target $T --workspace
for s in $services; do
  ctx="$work/ctx-\$s"; rm -rf "\$ctx"; mkdir -p "\$ctx"
  cp "\$CARGO_TARGET_DIR/$T/release/\$s" "\$ctx/\$s"
  printf 'FROM scratch\nCOPY ./%s /\nCMD ["/%s"]\n' "\$s" "\$s" > "\$ctx/Dockerfile"
  docker build -q -t "$R/ritual/\$s:1" "\$ctx" >/dev/null
  docker push -q "$R/ritual/\$s:1" >/dev/null
done
SH
# The single-binary no-op, against which the four-service one is measured.
cat > "$work/one-api.sh" <<SH
set -e; cd "$ws"; export CARGO_TARGET_DIR="$work/t-single"
cargo containerize -q -p api --push $R/single/api:1 >/dev/null
SH
cat > "$work/edit.sh" <<SH
set -e; n=\$(cat "$work/edits" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n > "$work/edits"
sed -i "s/^const EDIT: u32 = .*/const EDIT: u32 = \$n;/" "$ws/api/src/main.rs"
SH

# Clean means no cache on any side: nor the ritual's engine, whose classic builder would
# otherwise find the last round's identical image and skip its build.
clean="rm -rf $work/t-* $reg/data; for s in $services; do docker rmi -f $R/ritual/\$s:1 >/dev/null 2>&1 || true; done"
sides=("$work/cargo.sh" "$work/one.sh" "$work/four.sh" "$work/ritual.sh")
labels=("cargo build --workspace alone (the compile every side does)"
  "cargo containerize --workspace --push (one run)"
  "cargo containerize -p S --push, four runs"
  "cargo build --workspace + 4 x (Dockerfile, docker build, docker push)")

summary() { # title, json
  local title=$1 json=$2
  report "$title" "$json" "${labels[@]}"
  python3 - "$json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
ratio = lambda a, b: a / b if b > 0 else float("nan")
cargo, one, four, ritual = (x["median"] * 1000 for x in r)
b1, b4, br = one - cargo, four - cargo, ritual - cargo
print("  beyond the compile (difference of medians): one run %.0f ms, four runs %.0f ms, ritual %.0f ms" % (b1, b4, br))
print("    one run / four runs = %.2fx (goal <= 0.5x); one run / ritual = %.2fx (goal <= 0.3x)"
      % (ratio(b1, b4), ratio(b1, br)))
# Paired: each round's side less the same round's compile, then the median; a slow
# stretch of the machine that spans a round then cancels out.
t = [x["times"] for x in r]
p1, p4, pr = (statistics.median((s - c) * 1000 for s, c in zip(side, t[0])) for side in t[1:4])
print("  beyond the compile (median of each round's difference): one run %.0f ms, four runs %.0f ms, ritual %.0f ms"
      % (p1, p4, pr))
print("    one run / four runs = %.2fx (goal <= 0.5x); one run / ritual = %.2fx (goal <= 0.3x)"
      % (ratio(p1, p4), ratio(p1, pr)))
PY
}

printf '# %s runs per side; %s\n' "$runs" "$(nproc) cores"
interleave() { python3 "$root/bench/interleave.py" "$@"; }
interleave "$work/clean.json" "$runs" 0 \
  --prepare "$clean" "bash ${sides[0]}" \
  --prepare "$clean" "bash ${sides[1]}" \
  --prepare "$clean" "bash ${sides[2]}" \
  --prepare "$clean" "bash ${sides[3]}"
summary "clean: empty target directory, empty registry" "$work/clean.json"

# A round to build each side's state; then each run follows one edit.
interleave "$work/edit.json" $((runs * 3)) 1 \
  --prepare "bash $work/edit.sh" "bash ${sides[0]}" \
  --prepare "bash $work/edit.sh" "bash ${sides[1]}" \
  --prepare "bash $work/edit.sh" "bash ${sides[2]}" \
  --prepare "bash $work/edit.sh" "bash ${sides[3]}"
summary "after a one-line edit in one service (api)" "$work/edit.json"

interleave "$work/noop.json" $((runs * 5)) 3 \
  "bash $work/one-api.sh" \
  "bash ${sides[1]}" \
  "bash ${sides[2]}"
report "no-op: nothing changed, re-push" "$work/noop.json" \
  "cargo containerize -p api --push (one service)" \
  "cargo containerize --workspace --push (four services, one run)" \
  "cargo containerize -p S --push, four runs"
read -r -a ms <<<"$(median "$work/noop.json")"
python3 -c "print('  four-service no-op / single-binary no-op = %.2fx (goal <= 1.2x)' % (${ms[1]} / ${ms[0]}))"
