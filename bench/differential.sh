#!/usr/bin/env bash
# Images must not change: builds this tool at a base revision and at HEAD, builds the same
# six images with each, and compares the manifest (or index) digests. See usage below.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bash bench/differential.sh [BASE-REV]      (default: HEAD~1)

Builds cargo-containerize (cargo build --release --locked) at BASE-REV and at HEAD, the
commit checked out in this work tree (uncommitted changes are NOT part of it: commit
first), then builds the same images with each of the two tools and compares the digests
each printed:
  hello, tls-roots, with-metadata, with-deps         (scratch, the default)
  hello -gnu on a "cc" base (Debian 12's libc6 and libgcc-s1, an oci: layout made once)
  hello for linux/amd64,linux/arm64                  (an image index)
Each image is built from a copy of fixtures/ (from HEAD) outside git, with
SOURCE_DATE_EPOCH=0, -q -o DIR, offline when the crates are in the cargo cache. Both
tools run from the same path, on project copies at the same path, each with its own
target dir and its own HOME, XDG_CACHE_HOME and DOCKER_CONFIG.

BASE-REV is built in a temporary git worktree with a target dir of its own, seeded with
a copy of HEAD's release artifacts so that only what changed is compiled. HEAD is built
in place (the work tree's own target dir) when no tracked file is modified, else in a
temporary worktree too. Everything temporary is removed at the end; set
CC_DIFF_KEEP=1 to keep the images for a closer look.

Prints a table (case | base digest | head digest | same?) and, for a case that differs,
what differs in its manifest and config. Exits 0 if all six are the same, 1 if any
differs, 2 on a usage error; a failed build stops the run with its log.
Needs: git, cargo, jq, dpkg-deb, GNU tar, umoci, and the Debian packages of .ci/debs.
EOF
}

case ${1:-} in -h | --help) usage; exit 0 ;; esac
[ $# -le 1 ] || { usage >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
base_rev=${1:-HEAD~1}
base_sha=$(git -C "$root" rev-parse --verify --quiet "$base_rev^{commit}") ||
  { echo "error: $base_rev is not a commit of $root" >&2; exit 2; }
head_sha=$(git -C "$root" rev-parse HEAD)
for tool in git cargo jq dpkg-deb umoci tar; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (see .ci/setup)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cc-differential.XXXXXX")
worktrees=()
cleanup() {
  for wt in ${worktrees[@]+"${worktrees[@]}"}; do
    git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || true
  done
  git -C "$root" worktree prune >/dev/null 2>&1 || true
  if [ "${CC_DIFF_KEEP:-}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
say() { printf '[%4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

# The user's cargo and rustup homes, named outright: the tools run with HOME elsewhere.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}

# ---- the two tools ----

main_target=$(cd "$root" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)

# Builds the tool from source tree SRC into target dir TARGET (seeded from SEED/release when
# given), and prints the binary's path.
build_tool() { # NAME SRC TARGET [SEED]
  local name=$1 src=$2 target=$3 seed=${4:-} log="$work/build-$1.log" t=$SECONDS
  if [ -n "$seed" ] && [ -d "$seed/release" ] && [ "$seed" != "$target" ]; then
    mkdir -p "$target/release"
    for d in deps build .fingerprint; do
      if [ -d "$seed/release/$d" ]; then cp -a --reflink=auto "$seed/release/$d" "$target/release/"; fi
    done
  fi
  if ! (cd "$src" && CARGO_TARGET_DIR=$target cargo build --release --locked) >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: building the tool ($name) failed; log above" >&2
    exit 1
  fi
  say "built the $name tool in $((SECONDS - t)) s"
  echo "$target/release/cargo-containerize"
}

checkout() { # NAME REV: a temporary worktree of REV, at $work/src-NAME
  git -C "$root" worktree add --quiet --detach "$work/src-$1" "$2" >&2
  worktrees+=("$work/src-$1")
}

say "base: $base_rev = ${base_sha:0:12}; head: HEAD = ${head_sha:0:12}; work dir $work"
if [ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  head_target=$main_target
  head_bin=$(build_tool head "$root" "$head_target")
else
  say "tracked files are modified: HEAD is built in a worktree of its own"
  head_target="$work/target-head"
  checkout head "$head_sha"
  head_bin=$(build_tool head "$work/src-head" "$head_target" "$main_target")
fi
checkout base "$base_sha"
base_bin=$(build_tool base "$work/src-base" "$work/target-base" "$head_target")

# ---- the cc base: one layer of libc6 + libgcc-s1, made once for both tools ----

debs_dir=${CARGO_CONTAINERIZE_TEST_DEBS:-/var/cache/cargo-containerize-tests/debs}
[ -f "$debs_dir/bookworm-amd64/.done" ] || bash "$root/.ci/debs"
cc="$work/bases/cc"
mkdir -p "$work/bases/rootfs"
for pkg in libc6 libgcc-s1; do
  debs=("$debs_dir/bookworm-amd64/${pkg}_"*.deb)
  dpkg-deb -x "${debs[0]}" "$work/bases/rootfs"
done
# GNU tar makes the layer: umoci 0.4.7's `insert` writes a tar without its end blocks.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work/bases/rootfs" -cf "$work/bases/layer.tar" .
umoci init --layout "$cc"
umoci new --image "$cc:12"
umoci raw add-layer --image "$cc:12" --history.created_by "dpkg-deb -x libc6 libgcc-s1" "$work/bases/layer.tar"
umoci config --image "$cc:12" --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
umoci gc --layout "$cc"
rm -rf "$work/bases/rootfs" "$work/bases/layer.tar"
cc_index=$(sha256sum "$cc/index.json")
cc_digest=$(jq -r '.manifests[0].digest' "$cc/index.json")
say "cc base: oci:$cc:12 = $cc_digest"

# ---- the images ----

# Variables that would change what a tool does (as tests/common/mod.rs isolate() drops).
unset_vars=()
while read -r v; do
  case $v in
    CARGO_CONTAINERIZE_* | GITHUB_* | REGISTRY_AUTH_FILE | SOURCE_DATE_EPOCH | CARGO_TARGET_DIR | CARGO_BUILD_TARGET_DIR)
      unset_vars+=(-u "$v") ;;
  esac
done < <(compgen -e)

# Both tools run as $work/tool/cargo-containerize, on a project copy at $work/run/project
# with target dir $work/run/target and home $work/run/home: the same paths for both, so
# that only the tool differs. After each run, $work/run moves to $work/SIDE/CASE.
mkdir -p "$work/tool" "$work/base" "$work/head"
names=() base_digests=() head_digests=()

build_image() { # SIDE CASE FIXTURE TRIPLES ARGS... -> prints the digest
  local side=$1 name=$2 fixture=$3 triples=$4 bin at="$work/run" t=$SECONDS; shift 4
  if [ "$side" = base ]; then bin=$base_bin; else bin=$head_bin; fi
  rm -rf "$at"
  mkdir -p "$at/home/cache" "$at/home/docker" "$at/home/run"
  echo '{}' >"$at/home/docker/config.json"
  cp -a "$root/fixtures/$fixture" "$at/project"
  cp "$bin" "$work/tool/cargo-containerize"
  local -a run_env=(env ${unset_vars[@]+"${unset_vars[@]}"}
    HOME="$at/home" XDG_CACHE_HOME="$at/home/cache" DOCKER_CONFIG="$at/home/docker"
    XDG_RUNTIME_DIR="$at/home/run" CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home"
    CARGO_TARGET_DIR="$at/target" SOURCE_DATE_EPOCH=0 PATH="$work/tool:$PATH")
  # Offline when every crate these targets need is in the cargo cache.
  local -a offline=() fetch=(cargo fetch --offline --locked --quiet)
  for triple in $triples; do fetch+=(--target "$triple"); done
  if (cd "$at/project" && "${run_env[@]}" "${fetch[@]}") >/dev/null 2>&1; then offline=(--offline); fi
  if ! (cd "$at/project" && "${run_env[@]}" cargo-containerize containerize -q -o "$at/out" \
    ${offline[@]+"${offline[@]}"} "$@") >"$at/stdout" 2>"$at/stderr"; then
    cat "$at/stderr" >&2
    echo "error: the $side tool failed on $name" >&2
    exit 1
  fi
  local digest
  digest=$(awk -v out="$at/out" '$1 == out { print $2 }' "$at/stdout")
  [[ $digest == sha256:* ]] || { cat "$at/stdout" "$at/stderr" >&2; echo "error: no digest from the $side tool on $name" >&2; exit 1; }
  mv "$at" "$work/$side/$name"
  say "$side: $name in $((SECONDS - t)) s${offline:+ (offline)}"
  echo "$digest"
}

musl=x86_64-unknown-linux-musl
image() { # CASE FIXTURE TRIPLES ARGS...
  local b h
  b=$(build_image base "$@")
  h=$(build_image head "$@")
  names+=("$1") base_digests+=("$b") head_digests+=("$h")
}
image hello hello "$musl"
image tls-roots tls-roots "$musl"
image with-metadata with-metadata "$musl"
image with-deps with-deps "$musl"
image cc-gnu hello x86_64-unknown-linux-gnu --target x86_64-unknown-linux-gnu --base "oci:$cc:12"
image two-platforms hello "$musl aarch64-unknown-linux-musl" --platform linux/amd64,linux/arm64

[ "$(sha256sum "$cc/index.json")" = "$cc_index" ] || { echo "error: the cc base layout changed during the run" >&2; exit 1; }

# ---- the verdict ----

blob() { # LAYOUT DIGEST -> the blob's path
  echo "$1/blobs/sha256/${2#sha256:}"
}
explain() { # CASE BASE-DIGEST HEAD-DIGEST: what differs, manifest by manifest
  local name=$1 b=$2 h=$3 lb="$work/base/$1/out" lh="$work/head/$1/out"
  echo
  echo "## $name: what differs (- base, + head)"
  local -a mb mh
  if [ "$(jq -r .mediaType "$(blob "$lb" "$b")")" = application/vnd.oci.image.index.v1+json ]; then
    diff <(jq -S . "$(blob "$lb" "$b")") <(jq -S . "$(blob "$lh" "$h")") || true
    mapfile -t mb < <(jq -r '.manifests[].digest' "$(blob "$lb" "$b")")
    mapfile -t mh < <(jq -r '.manifests[].digest' "$(blob "$lh" "$h")")
  else
    mb=("$b") mh=("$h")
  fi
  local i
  for i in "${!mb[@]}"; do
    [ "${mb[$i]}" != "${mh[$i]:-}" ] || continue
    local fb fh
    fb=$(blob "$lb" "${mb[$i]}") fh=$(blob "$lh" "${mh[$i]}")
    echo "# manifest ${mb[$i]} -> ${mh[$i]}"
    diff <(jq -S . "$fb") <(jq -S . "$fh") || true
    echo "# its config"
    diff <(jq -S . "$(blob "$lb" "$(jq -r .config.digest "$fb")")") \
      <(jq -S . "$(blob "$lh" "$(jq -r .config.digest "$fh")")") || true
  done
}

echo
echo "base ${base_sha:0:12} ($base_rev) against head ${head_sha:0:12}; cc base $cc_digest"
printf '%-14s | %-71s | %-71s | %s\n' case "base digest" "head digest" "same?"
differ=()
for i in "${!names[@]}"; do
  same=yes
  if [ "${base_digests[$i]}" != "${head_digests[$i]}" ]; then same=NO; differ+=("$i"); fi
  printf '%-14s | %-71s | %-71s | %s\n' "${names[$i]}" "${base_digests[$i]}" "${head_digests[$i]}" "$same"
done
for i in ${differ[@]+"${differ[@]}"}; do explain "${names[$i]}" "${base_digests[$i]}" "${head_digests[$i]}"; done
say "done"
[ ${#differ[@]} -eq 0 ]
