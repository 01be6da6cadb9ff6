#!/usr/bin/env bash
# Base images, side by side with the Dockerfile they replace (`FROM <base>` + `COPY` +
# `CMD`), on a "cc" base of about 13 MB (Debian 12's libc6 + libgcc-s1, as in
# gcr.io/distroless/cc) and the 10 MB benchmark binary built for x86_64-unknown-linux-gnu:
#   --tag with the base cached, against `docker build` with the base in the engine;
#   --push to an empty registry, and to the registry that holds the base, against
#   `docker push`, with the base-layer downloads counted in the registry's log.
# Needs what bench/run.sh needs, plus the Debian packages of .ci/debs. Run alone, or from
# bench/run.sh. Prints medians and ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/cc-bench-base.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
  docker rmi -f cc-bench-base:1 cc-classic-base:1 >/dev/null 2>&1 || true
}
trap cleanup EXIT
export DOCKER_BUILDKIT=0

source "$root/bench/lib.sh"
use_this_build
bash "$root/.ci/debs" 2>/dev/null
debs=${CARGO_CONTAINERIZE_TEST_DEBS:-/var/cache/cargo-containerize-tests/debs}/bookworm-amd64

# Two loopback registries: B holds the base, E starts empty.
start_registry() { # NAME -> prints HOST:PORT
  local dir="$work/$1" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  printf 'version: 0.1\nlog:\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$dir" "$port" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done
  echo "127.0.0.1:$port"
}
B=$(start_registry base-registry)
E=$(start_registry empty-registry)

# The cc base: one layer per package, imported into the engine, pushed to B, and pulled
# back so the engine knows where its layers live (as after a real `FROM` pull).
rootfs="$work/rootfs"
mkdir -p "$rootfs"
for pkg in libc6 libgcc-s1; do dpkg-deb -x "$debs/${pkg}_"*.deb "$rootfs"; done
tar -C "$rootfs" -c . | docker import - cc-bench-import:12 >/dev/null
skopeo copy -q --dest-tls-verify=false docker-daemon:cc-bench-import:12 "docker://$B/base/cc:12"
docker rmi -f cc-bench-import:12 >/dev/null
docker pull -q "$B/base/cc:12" >/dev/null
base_mb=$(docker image inspect -f '{{.Size}}' "$B/base/cc:12" | python3 -c 'import sys; print(round(int(sys.stdin.read())/1e6, 1))')

p=$(make_project big10 10)
(cd "$p" && cargo build --quiet --release --target x86_64-unknown-linux-gnu)
bin="$p/target/x86_64-unknown-linux-gnu/release/big10"
ctx="$work/ctx"
mkdir -p "$ctx"
cp "$bin" "$ctx/big10"
printf 'FROM %s/base/cc:12\nCOPY ./big10 /\nCMD ["/big10"]\n' "$B" >"$ctx/Dockerfile"
cd "$p"
cc=(cargo containerize -q --target x86_64-unknown-linux-gnu --base "$B/base/cc:12")
"${cc[@]}" -o "$work/warm" >/dev/null # the base in the store, the layer cache warm

hyperfine -N --export-json "$work/tag.json" -w 2 -r 10 \
  --prepare true "docker build --no-cache -q -t cc-classic-base:1 $ctx" \
  --prepare "bash -c 'docker rmi -f cc-bench-base:1 >/dev/null 2>&1; true'" "${cc[*]} --tag cc-bench-base:1" \
  --prepare "bash -c 'docker rmi -f cc-bench-base:1 >/dev/null 2>&1; rm -rf $p/target/containerize/cache'" "${cc[*]} --tag cc-bench-base:1" \
  --prepare true "${cc[*]} --tag cc-bench-base:1" >/dev/null
report "--tag on the cc base (${base_mb} MB), big10 built for -gnu, base cached" "$work/tag.json" \
  "docker build --no-cache (FROM base, base in the engine)" \
  "cargo containerize --tag (image new to the engine; layer cache warm)" \
  "cargo containerize --tag (image new to the engine; layer cache cleared)" \
  "cargo containerize --tag (the engine has the image: tagged)"

# Pushes. The empty registry is wiped before each run; on the base's registry only the
# pushed repository is removed, so the base stays where it is.
docker build -q -t "$E/classic:1" -t "$B/classic:1" "$ctx" >/dev/null
wipe_e="rm -rf $work/empty-registry/data"
wipe_b="rm -rf $work/base-registry/data/docker/registry/v2/repositories/classic $work/base-registry/data/docker/registry/v2/repositories/app"
push_pair() { # NAME REGISTRY WIPE TITLE OUR-LABEL: docker push, then ours, to REGISTRY
  hyperfine -N --export-json "$work/push-$1.json" -w 1 -r 5 \
    --prepare "$3" "docker push -q $2/classic:1" \
    --prepare "$3" "${cc[*]} --push $2/app:1" >/dev/null
  report "$4" "$work/push-$1.json" "docker push" "$5"
}
push_pair empty "$E" "$wipe_e" "first push to an empty registry (the base's layers too)" \
  "cargo containerize --push (base layers streamed from the store)"
push_pair base "$B" "$wipe_b" "first push to the registry that holds the base" \
  "cargo containerize --push (base layers mounted)"

# What a push to the base's registry downloads from it, with a fresh store, counted in
# the registry's access log: a static binary needs the base's config only; a -gnu one
# also reads the layers once for the fit check (then the store remembers them).
log="$work/base-registry/log"
gets() { grep -c '"GET /v2/base/cc/blobs/' "$log" || true; }
before=$(gets)
XDG_CACHE_HOME="$work/fresh1" cargo containerize -q --base "$B/base/cc:12" --push "$B/app:static" >/dev/null
static=$(($(gets) - before))
before=$(gets)
XDG_CACHE_HOME="$work/fresh2" "${cc[@]}" --push "$B/app:gnu" >/dev/null
gnu=$(($(gets) - before))
printf '\n## blobs downloaded from the base repository by a push to its registry, fresh store\n'
printf '  static (musl) binary: %s (the config)\n  -gnu binary: %s (the config, and the base layer(s) for the fit check)\n' "$static" "$gnu"
