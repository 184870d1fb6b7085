#!/usr/bin/env bash
# A duplex bridge loaded both ways at once, and how fast a bridge comes back after its peer
# does. Two release brokers on loopback, A dialing B (duplex). Each direction is one
# `shoal bench queue` (producers on one broker, consumers on the other), both running at the
# same time; then the same alone, for comparison. Recovery: B (the peer A dials) is killed,
# restarted on its ports after RECOVER_DOWN seconds — A backing off meanwhile — and the time
# from B's restart to A's bridge reporting "connected" again is printed.
# Usage: benches/bridge-duplex.sh | tee /tmp/duplex.txt
#   N_SMALL (default 200000) messages of 256 B, N_LARGE (default 200) of 1 MiB per direction.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
N_SMALL=${N_SMALL:-200000}
N_LARGE=${N_LARGE:-200}
RECOVER_DOWN=${RECOVER_DOWN:-5}

cfg() { # name cluster-port [peer-cluster-port]
  local f="$dir/$1.toml"
  printf '[auth]\nanonymous = true\n[cluster]\nlisten = ["127.0.0.1:%s"]\n[store]\nenabled = false\n' "$2" >"$f"
  if [ -n "${3:-}" ]; then
    printf '[[bridge]]\nname = "%s-up"\nuri = "static:(tcp://127.0.0.1:%s)"\nduplex = true\nqueue_window = 10000\n' "$1" "$3" >>"$f"
  fi
  echo "$f"
}
start() { # name client-port cfg; sets LAST_PID
  $BIN broker --config "$3" --listen "127.0.0.1:$2" --name "$1" >/dev/null 2>>"$dir/$1.log" &
  LAST_PID=$!
  pids+=("$LAST_PID")
}
B_CFG=$(cfg B 17202)
A_CFG=$(cfg A 17201 17202)
start B 17212 "$B_CFG"
B_PID=$LAST_PID
sleep 0.5
start A 17211 "$A_CFG"
sleep 2

bench() { timeout 600 $BIN bench "$@" || echo "FAILED: $*"; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores"
for size in 256 1048576; do
  n=$N_SMALL
  [ "$size" -gt 4096 ] && n=$N_LARGE
  echo "## $size B, one direction alone"
  bench --addr 127.0.0.1:17211 --label A-to-B-alone --remote-addr 127.0.0.1:17212 queue -s "$size" -n "$n"
  echo "## $size B, both directions at once"
  bench --addr 127.0.0.1:17211 --label A-to-B --remote-addr 127.0.0.1:17212 queue -s "$size" -n "$n" &
  one=$!
  bench --addr 127.0.0.1:17212 --label B-to-A --remote-addr 127.0.0.1:17211 queue -s "$size" -n "$n"
  wait $one
done

echo "## recovery: B down for ${RECOVER_DOWN} s, then back on its ports"
kill -9 "$B_PID"
sleep "$RECOVER_DOWN"
before=$(grep -c "bridge connected" "$dir/A.log")
t0=$(date +%s.%N)
start B 17212 "$B_CFG"
for _ in $(seq 1 600); do
  [ "$(grep -c "bridge connected" "$dir/A.log")" -gt "$before" ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
echo "bridge connected again $(echo "$t1 - $t0" | bc) s after B was restarted"
