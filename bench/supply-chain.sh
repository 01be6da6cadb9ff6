#!/usr/bin/env bash
# What SBOMs and provenance cost: the same push with them (the default) and without
# (--no-sbom --no-provenance), side by side, on the 10 MB and 90 MB benchmark projects,
# to a loopback distribution registry (no referrers API: the tag schema, the costlier
# case); first to an empty registry, then again with nothing changed. And what embedding
# the dependency list costs a build of the binary. Run alone, or from bench/run.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cc-bench-supply.XXXXXX)
reg_pid=
trap '[ -n "$reg_pid" ] && kill $reg_pid 2>/dev/null; rm -rf "$work"' EXIT
source "$root/bench/lib.sh"
use_this_build

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/reg"
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/reg/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$work" "$port" >"$work/reg/config.yml"
docker-registry serve "$work/reg/config.yml" >"$work/reg/log" 2>&1 &
reg_pid=$!
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done
R="127.0.0.1:$port"
wipe="rm -rf $work/reg/data"

for size in 10 90; do
  p=$(make_project "big$size" "$size")
  cd "$p"
  off=(cargo containerize -q --no-sbom --no-provenance)
  on=(cargo containerize -q)
  "${on[@]}" -o "$work/warm-$size" >/dev/null # the layer cache warm, the binary built
  hyperfine -N --export-json "$work/first-$size.json" -w 1 -r 7 \
    --prepare "$wipe" "${off[*]} --push $R/app:1" \
    --prepare "$wipe" "${on[*]} --push $R/app:1" >/dev/null
  report "first push, big$size: documents off, then on (SPDX + CycloneDX + provenance)" "$work/first-$size.json" \
    "cargo containerize --push --no-sbom --no-provenance" \
    "cargo containerize --push (SBOMs and provenance attached)"
  "${on[@]}" --push "$R/app:1" >/dev/null
  hyperfine -N --export-json "$work/again-$size.json" -w 2 -r 15 \
    "${off[*]} --push $R/app:1" \
    "${on[*]} --push $R/app:1" >/dev/null
  report "re-push, nothing changed, big$size" "$work/again-$size.json" \
    "cargo containerize --push --no-sbom --no-provenance" \
    "cargo containerize --push (documents found with HEAD and the tag index)"
  read -r -a ms <<<"$(median "$work/again-$size.json")"
  python3 -c "print('  re-push cost of the documents: %+.1f ms' % (${ms[1]} - ${ms[0]}))"
done

# Embedding the list: a rebuild of the binary's own crate (its source touched), with and
# without the wrapper that adds the section.
cd "$work/big10"
hyperfine -N --export-json "$work/embed.json" -w 1 -r 7 \
  --prepare "touch src/main.rs" "cargo containerize -q --no-sbom --no-auditable -o $work/e1" \
  --prepare "touch src/main.rs" "cargo containerize -q --no-sbom -o $work/e2" >/dev/null
report "a rebuild of big10's own crate, without and with the embedded list" "$work/embed.json" \
  "cargo containerize --no-auditable" \
  "cargo containerize (.dep-v0 embedded: cargo metadata + an object at link time)"
