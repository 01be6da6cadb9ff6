#!/usr/bin/env bash
# Benchmarks cargo containerize against the ritual it replaces, side by side in one run.
# Needs: hyperfine, a running Docker engine, the musl target (bash .ci/setup gives all three).
# Prints medians and ratios; machines here are noisy, so compare ratios, not absolutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cc-bench.XXXXXX)
trap 'rm -rf "$work"; docker rmi -f cc-bench:1 cc-classic:1 >/dev/null 2>&1 || true' EXIT
export DOCKER_BUILDKIT=0

source "$root/bench/lib.sh"
use_this_build

hello="$work/hello"
cp -r "$root/fixtures/hello" "$hello"
rm -rf "$hello/target"
(cd "$hello" && cargo build --quiet --release --target x86_64-unknown-linux-musl)
p10=$(make_project big10 10)
p90=$(make_project big90 90)

for p in "$hello" "$p10" "$p90"; do
  name=$(basename "$p")
  bin="$p/target/x86_64-unknown-linux-musl/release/$name"
  size=$(stat -c %s "$bin")
  ctx="$work/ctx-$name"
  mkdir -p "$ctx"
  cp "$bin" "$ctx/$name"
  printf 'FROM scratch\nCOPY ./%s /\nCMD ["/%s"]\n' "$name" "$name" > "$ctx/Dockerfile"
  cd "$p"
  hyperfine -N --export-json "$work/tag-$name.json" -w 2 -r 10 \
    --prepare true "docker build --no-cache -q -t cc-classic:1 $ctx" \
    --prepare "bash -c 'docker rmi -f cc-bench:1 >/dev/null 2>&1; rm -rf $p/target/containerize/cache'" "cargo containerize -q --tag cc-bench:1" \
    --prepare true "cargo containerize -q --tag cc-bench:1" >/dev/null
  report "--tag vs docker build --no-cache, $name ($((size / 1000)) kB binary, already built)" "$work/tag-$name.json" \
    "docker build --no-cache (classic Dockerfile)" \
    "cargo containerize --tag (image new to the engine, layer cache cleared)" \
    "cargo containerize --tag (unchanged binary: the engine has it, tagged)"

  hyperfine -N --export-json "$work/noop-$name.json" -w 3 -r 30 \
    --prepare true "cargo build -q --release --target x86_64-unknown-linux-musl" \
    --prepare true "cargo containerize -q -o $work/out-$name" \
    --prepare true "cargo containerize --version" \
    --prepare "rm -rf $p/target/containerize/cache" "cargo containerize -q -o $work/new-$name" >/dev/null
  report "no-op: nothing changed, $name" "$work/noop-$name.json" \
    "cargo build (no-op)" \
    "cargo containerize --output (no-op)" \
    "cargo containerize --version (cargo's subcommand dispatch alone)" \
    "cargo containerize --output, binary new to the layer cache"
  read -r -a ms <<<"$(median "$work/noop-$name.json")"
  python3 -c "b,c,d=${ms[0]},${ms[1]},${ms[2]}; print('  our own cost on top of cargo build + dispatch: %.1f ms; (containerize - dispatch) / cargo build = %.2fx' % (c-b-d, (c-d)/b))"
done

# Pushing: the same image of each big binary to a loopback registry, first to an empty
# registry (storage wiped before each run), then again with nothing changed.
start_registry
trap 'kill $reg_pid 2>/dev/null; rm -rf "$work"; docker rmi -f cc-bench:1 cc-classic:1 >/dev/null 2>&1 || true' EXIT
wipe="rm -rf $reg/data"
for p in "$p10" "$p90"; do
  name=$(basename "$p")
  cd "$p"
  cargo containerize -q -o "$work/lay-$name" -t "$R/docker-$name:1" >/dev/null
  hyperfine -N --export-json "$work/push1-$name.json" -w 1 -r 5 \
    --prepare "$wipe" "docker push -q $R/docker-$name:1" \
    --prepare "$wipe" "skopeo copy -q --dest-tls-verify=false docker-daemon:$R/docker-$name:1 docker://$R/skopeo-d-$name:1" \
    --prepare "$wipe" "skopeo copy -q --dest-tls-verify=false oci:$work/lay-$name:1 docker://$R/skopeo-o-$name:1" \
    --prepare "$wipe" "bash $root/bench/curl-push.sh $work/lay-$name $R curl-$name 1" \
    --prepare "$wipe" "cargo containerize -q --push $R/cc-$name:1" \
    --prepare "$wipe; rm -rf $p/target/containerize/cache" "cargo containerize -q --push $R/cc-$name:1" >/dev/null
  report "first push to an empty registry, $name" "$work/push1-$name.json" \
    "docker push (compresses)" \
    "skopeo copy docker-daemon: -> registry (compresses)" \
    "skopeo copy oci: layout -> registry (already compressed)" \
    "raw curl upload of the same blobs (already compressed)" \
    "cargo containerize --push (layer cache warm)" \
    "cargo containerize --push (layer cache cleared: compresses)"
  docker push -q "$R/docker-$name:1" >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$work/lay-$name:1" "docker://$R/skopeo-o-$name:1"
  cargo containerize -q --push "$R/cc-$name:1" >/dev/null
  skopeo copy -q --dest-tls-verify=false "docker-daemon:$R/docker-$name:1" "docker://$R/skopeo-d-$name:1"
  hyperfine -N --export-json "$work/push2-$name.json" -w 1 -r 10 \
    "docker push -q $R/docker-$name:1" \
    "skopeo copy -q --dest-tls-verify=false docker-daemon:$R/docker-$name:1 docker://$R/skopeo-d-$name:1" \
    "skopeo copy -q --dest-tls-verify=false oci:$work/lay-$name:1 docker://$R/skopeo-o-$name:1" \
    "cargo containerize -q --push $R/cc-$name:1" \
    "cargo containerize -q -o $work/noop-lay-$name" >/dev/null
  report "re-push, nothing changed, $name" "$work/push2-$name.json" \
    "docker push" \
    "skopeo copy docker-daemon: -> registry" \
    "skopeo copy oci: layout -> registry" \
    "cargo containerize --push" \
    "cargo containerize --output (the no-op floor: dispatch + cargo build)"
  docker rmi -f "$R/docker-$name:1" >/dev/null 2>&1 || true
done

printf '\n## assembly alone (tar + sha256 + parallel gzip -6, zlib-rs), median of 5\n'
for p in "$p10" "$p90"; do
  name=$(basename "$p")
  cargo bench --quiet --manifest-path "$root/Cargo.toml" --bench assemble -- "$p/target/x86_64-unknown-linux-musl/release/$name" 2>/dev/null | sed 's/^/  /'
  start=$(date +%s.%N); gzip -6 -c "$p/target/x86_64-unknown-linux-musl/release/$name" > /dev/null; end=$(date +%s.%N)
  python3 -c "print('  for reference, gzip -6 CLI on the same file: %.3f s' % ($end - $start))"
done

# Base images, against `FROM <base>`.
bash "$root/bench/base.sh"

# SBOMs, provenance and the embedded dependency list: what they cost.
bash "$root/bench/supply-chain.sh"
