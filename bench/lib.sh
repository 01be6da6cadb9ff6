# Shared by the benchmark scripts: fixture projects and hyperfine reporting.
# Expects $work (a scratch directory) to be set by the sourcing script.

# Builds this tool in release and puts it first on PATH, so `cargo containerize` is it.
# Expects $root (the repository) too.
use_this_build() {
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  local bin_dir
  bin_dir=$(mktemp -d "$work/bin.XXXX")
  ln -s "$root/target/release/cargo-containerize" "$bin_dir/cargo-containerize"
  export PATH="$bin_dir:$PATH"
}

# A project whose binary is about SIZE_MB: real machine code from this system's
# libraries embedded with include_bytes!, so it compresses like a real binary.
make_project() {
  local name=$1 size_mb=$2 dir="$work/$1"
  mkdir -p "$dir/src"
  find /usr/lib/x86_64-linux-gnu /usr/bin -maxdepth 1 -type f -size +100k -print0 2>/dev/null \
    | sort -z | xargs -0 cat 2>/dev/null | head -c $((size_mb * 1000 * 1000)) > "$dir/blob.bin"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.1.0"
edition = "2021"

[workspace]
TOML
  cat > "$dir/src/main.rs" <<'RS'
static BLOB: &[u8] = include_bytes!("../blob.bin");
fn main() {
    println!("bench fixture: {} bytes", std::hint::black_box(BLOB).len());
}
RS
  (cd "$dir" && cargo build --quiet --release --target x86_64-unknown-linux-musl)
  echo "$dir"
}

# Starts a CNCF distribution on a free loopback port, storing under $work/registry/data.
# Sets reg (its directory), reg_pid and R (HOST:PORT); the caller stops it.
start_registry() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  reg="$work/registry"
  mkdir -p "$reg"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$reg" "$port" > "$reg/config.yml"
  docker-registry serve "$reg/config.yml" > "$reg/log" 2>&1 &
  reg_pid=$!
  R="127.0.0.1:$port"
  until curl -sf "http://$R/v2/" >/dev/null; do
    kill -0 "$reg_pid" 2>/dev/null || { cat "$reg/log" >&2; return 1; }
    sleep 0.1
  done
}

median() { # hyperfine JSON -> "median_ms"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"]*1000) for x in r))' "$1"
}

report() { # name, json, labels...
  local name=$1 json=$2; shift 2
  read -r -a ms <<<"$(median "$json")"
  printf '\n## %s\n' "$name"
  local i=0
  for label in "$@"; do
    printf '  %-58s %9s ms   %5.2fx\n' "$label" "${ms[$i]}" "$(python3 -c "print(${ms[$i]}/${ms[0]})")"
    i=$((i + 1))
  done
}

