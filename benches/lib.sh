# Sourced by the bridge benches: the release build, a scratch directory, and the brokers they
# start (add each PID to `pids`), all gone on exit.
cd "$(dirname "$0")/.."
cargo build --release -q
BIN=target/release/shoal
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
