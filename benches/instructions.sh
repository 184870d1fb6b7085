#!/usr/bin/env bash
# Instructions per message of one broker, counted by valgrind's callgrind: a measure of the
# forwarding path's own cost that does not drift with this machine's speed (the rates and CPU
# times of bridge.sh and bridge-quota.sh vary by a third from run to run on a shared VM).
#
# Two release brokers on loopback, B dialing A (duplex). One of them runs under callgrind;
# the counters are zeroed after a warm-up and dumped after N messages of 256 B through a queue:
#   WHO=local   broker A, producer and consumer both on A (the local path)
#   WHO=sender  broker A, producer on A, consumer on B (A forwards)
#   WHO=receiver broker B, same traffic (B takes forwarded messages and delivers them)
# Usage: benches/instructions.sh [local|sender|receiver ...]   (env N=20000 BIN=…; needs valgrind)
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
# BIN: another build to measure (an older commit's, for a before/after).
[ -n "${BIN:-}" ] || { cargo build --release -q && BIN=target/release/shoal; }
N=${N:-20000}
WHOS=("$@")
[ ${#WHOS[@]} -gt 0 ] || WHOS=(local sender receiver)

one() { # who
  local who=$1 dir pids=() grind_a="" grind_b="" remote="--remote-addr 127.0.0.1:17602"
  dir=$(mktemp -d)
  case $who in
    local) grind_a=1 remote= ;;
    sender) grind_a=1 ;;
    receiver) grind_b=1 ;;
    *) echo "unknown: $who" >&2; return 1 ;;
  esac
  start() { # name client-port cluster-port peer-cluster-port grind
    local cfg="$dir/$1.toml"
    printf '[auth]\nanonymous = true\n[cluster]\nlisten = ["127.0.0.1:%s"]\n[store]\ndir = "%s/%s.store"\n' "$3" "$dir" "$1" >"$cfg"
    if [ -n "$4" ]; then
      # Long heart-beats: a broker under callgrind runs some 50 times slower.
      printf '[[bridge]]\nname = "%s-up"\nuri = "static:(tcp://127.0.0.1:%s)"\nduplex = true\nqueue_window = 10000\nheartbeat_ms = 20000\n' "$1" "$4" >>"$cfg"
    fi
    local cmd=($BIN broker --config "$cfg" --listen "127.0.0.1:$2" --name "$1")
    [ -n "$5" ] && cmd=(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "${cmd[@]}")
    "${cmd[@]}" 2>"$dir/$1.log" &
    pids+=($!)
  }
  start A 17601 17701 "" "$grind_a"
  sleep 3
  start B 17602 17702 17701 "$grind_b"
  sleep 5
  $BIN bench --addr 127.0.0.1:17601 $remote queue -p 1 -c 1 -s 256 -n 2000 --stall-secs 60 >/dev/null
  callgrind_control -z >/dev/null 2>&1
  local line
  line=$($BIN bench --addr 127.0.0.1:17601 $remote queue -p 1 -c 1 -s 256 -n "$N" --stall-secs 60 |
    grep -o "lost=[0-9]* duplicates=[0-9]*")
  callgrind_control -d >/dev/null 2>&1
  sleep 1
  local out ir
  out=$(ls -t "$dir"/callgrind.out* | head -1)
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  echo "$who instructions/msg=$(awk -v i="$ir" -v n="$N" 'BEGIN { printf "%.0f", i / n }') messages=$N $line"
  kill "${pids[@]}" 2>/dev/null
  sleep 0.5
  rm -rf "$dir"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) callgrind, $N messages of 256 B after 2000 of warm-up"
for w in "${WHOS[@]}"; do one "$w"; done
