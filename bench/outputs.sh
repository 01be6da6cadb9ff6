#!/usr/bin/env bash
# What writing an OCI layout costs now that outputs share no inode with the layer cache
# (a layout blob edited in place must not corrupt the cache or other layouts): `-o` into a
# new directory copies each blob where it used to hard-link it; `-o` into an existing
# layout skips the blobs it already has. Side by side in one run with `cp` of the same
# compressed layer and, when CC_OLD_BIN names a build from before the change (e.g. commit
# d87e6b3), with the hard-linking version. Needs hyperfine and the musl target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cc-bench-out.XXXXXX)
trap 'rm -rf "$work"' EXIT
source "$root/bench/lib.sh"

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
new="$root/target/release/cargo-containerize"
old=${CC_OLD_BIN:-}

for size in 10 90; do
  p=$(make_project "out$size" "$size")
  cd "$p"
  "$new" containerize -q -o "$work/warm-$size" >/dev/null
  layer=$(ls -S "$p"/target/containerize/cache/*.tar.gz | head -1)
  cmds=(--prepare "rm -rf $work/copy-$size" "cp --reflink=never $layer $work/copy-$size")
  labels=("cp of the compressed binary layer ($(($(stat -c %s "$layer") / 1000)) kB)")
  if [ -n "$old" ]; then
    "$old" containerize -q -o "$work/warm-old-$size" >/dev/null
    cmds+=(--prepare "rm -rf $work/old-$size" "$old containerize -q -o $work/old-$size")
    labels+=("before: cargo containerize -o NEW_DIR (hard links)")
  fi
  cmds+=(--prepare "rm -rf $work/new-$size" "$new containerize -q -o $work/new-$size")
  labels+=("now: cargo containerize -o NEW_DIR (copies)")
  cmds+=(--prepare true "$new containerize -q -o $work/warm-$size")
  labels+=("now: cargo containerize -o EXISTING_LAYOUT (nothing to copy)")
  cmds+=(--prepare true "cargo build -q --release --target x86_64-unknown-linux-musl")
  labels+=("cargo build (no-op), for scale")
  hyperfine -N --export-json "$work/out-$size.json" -w 2 -r 15 "${cmds[@]}" >/dev/null
  report "writing a layout, ${size} MB binary already built and compressed" "$work/out-$size.json" "${labels[@]}"
done
