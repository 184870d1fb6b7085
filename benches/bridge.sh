#!/usr/bin/env bash
# Bridge forwarding measured against local throughput, and an MCollective-shaped ping through a
# 3-broker line. Three release brokers on loopback: A ← B ← C (B dials A, C dials B; duplex,
# network_ttl = 2). Usage: benches/bridge.sh | tee /tmp/bridge.txt
set -uo pipefail
source "$(dirname "$0")/lib.sh"

start() { # name client-port cluster-port [peer-cluster-port]
  local cfg="$dir/$1.toml"
  printf '[auth]\nanonymous = true\n[cluster]\nlisten = ["127.0.0.1:%s"]\n[store]\ndir = "%s/%s.store"\n' "$3" "$dir" "$1" >"$cfg"
  if [ -n "${4:-}" ]; then
    printf '[[bridge]]\nname = "%s-up"\nuri = "static:(tcp://127.0.0.1:%s)"\nduplex = true\nnetwork_ttl = 2\nqueue_window = %s\n' "$1" "$4" "${WINDOW:-1000}" >>"$cfg"
  fi
  $BIN broker --config "$cfg" --listen "127.0.0.1:$2" --name "$1" 2>"$dir/$1.log" &
  pids+=($!)
}
start A 17001 17101
sleep 0.5
start B 17002 17102 17101
sleep 0.5
start C 17003 17103 17102
sleep 2

bench() { timeout 600 $BIN bench --addr 127.0.0.1:17001 "$@" || echo "FAILED: $*"; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores"
bench --label local-A queue -p 1 -c 1 -s 256 -n 200000
bench --label A-to-B --remote-addr 127.0.0.1:17002 queue -p 1 -c 1 -s 256 -n 200000
bench --label A-to-C --remote-addr 127.0.0.1:17003 queue -p 1 -c 1 -s 256 -n 200000
bench --label local-A fanout --subscribers 100 -n 5000 --rate 1000
bench --label A-to-C fanout --remote-addr 127.0.0.1:17003 --subscribers 100 -n 5000 --rate 1000
bench --label local-A rpc --responders 1000 --rounds 50
bench --label A-to-C rpc --remote-addr 127.0.0.1:17003 --responders 1000 --rounds 50
