#!/usr/bin/env bash
# The TUI's cost when nobody touches it: CPU over 30 s and bytes written to the terminal per
# second, for `shoal tui` hosting an idle broker and for `shoal demo` (3 brokers, 60 nodes,
# traffic), each in a real terminal (tmux 80x24; the pane's output is piped to a file).
# Usage: benches/tui.sh [SECONDS]   (needs tmux and a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bin=$PWD/target/release/shoal
work=$(mktemp -d)
trap 'tmux kill-session -t shoal-bench-tui 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'listen = ["127.0.0.1:0"]\n[auth]\nanonymous = true\n[store]\ndir = "%s/store"\n' "$work" >"$work/broker.toml"

measure() {
  local label=$1; shift
  tmux kill-session -t shoal-bench-tui 2>/dev/null || true
  tmux new-session -d -s shoal-bench-tui -x 80 -y 24 -e LANG=C.UTF-8 -e HOME="$work" -e XDG_STATE_HOME="$work" -- "$@"
  tmux pipe-pane -o -t shoal-bench-tui "cat > $work/out"
  sleep 5 # start-up and first frames are not "idle"
  local pid; pid=$(tmux list-panes -t shoal-bench-tui -F '#{pane_pid}')
  local hz; hz=$(getconf CLK_TCK)
  local t0 b0; t0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); b0=$(stat -c %s "$work/out")
  sleep "$secs"
  local t1 b1; t1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); b1=$(stat -c %s "$work/out")
  awk -v l="$label" -v t="$((t1 - t0))" -v hz="$hz" -v s="$secs" -v b="$((b1 - b0))" \
    'BEGIN { printf "%-28s cpu %.2f%% of one core (%.2f s in %d s)   terminal output %.0f bytes/s\n", l, 100 * t / hz / s, t / hz, s, b / s }'
  tmux send-keys -t shoal-bench-tui q
  sleep 1
}

measure "tui, idle hosted broker" "$bin" tui -c "$work/broker.toml"
measure "demo (3 brokers, 60 nodes)" "$bin" demo
