#!/usr/bin/env bash
# A fleet on one broker: nodes connecting at once, churn, ping rounds beside a minimal relay
# (the machine's ceiling with this load generator), and a restart storm. One release broker
# on loopback (anonymous, per-address connection limit lifted: every node comes from
# 127.0.0.1). Usage: benches/fleet.sh | tee /tmp/fleet.txt
#   NODES=10000 CHURN=5000 CYCLES=10 benches/fleet.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"
NODES=${NODES:-10000}
CHURN=${CHURN:-5000}
CYCLES=${CYCLES:-10}
PORT=17263
RELAY=17299

cfg="$dir/fleet.toml"
printf '[auth]\nanonymous = true\n[store]\ndir = "%s/store"\n[limits]\nmax_connections_per_address = 100000\nmax_connections = 100000\n' "$dir" >"$cfg"
broker() {
  $BIN broker --config "$cfg" --listen "127.0.0.1:$PORT" --name fleet 2>>"$dir/broker.log" &
  BROKER=$!
  pids+=($BROKER)
  until (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do sleep 0.05; done
}
broker
$BIN bench relay --listen 127.0.0.1:$RELAY 2>/dev/null &
pids+=($!)
until (exec 3<>/dev/tcp/127.0.0.1/$RELAY) 2>/dev/null; do sleep 0.05; done

run() { timeout 900 $BIN bench "$@" || echo "FAILED: $*"; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"
run --addr 127.0.0.1:$PORT --label shoal fleet --nodes "$NODES" --cycles 1 --pid $BROKER
run --addr 127.0.0.1:$PORT --label shoal fleet --nodes "$CHURN" --cycles "$CYCLES" --pid $BROKER
for n in 1000 "$NODES"; do
  run --addr 127.0.0.1:$PORT --label shoal rpc --responders $n --rounds 30
  run --addr 127.0.0.1:$RELAY --label relay rpc --responders $n --rounds 30
  run --addr 127.0.0.1:$PORT --label shoal ping --nodes $n --rounds 10 2>/dev/null
  run --addr 127.0.0.1:$RELAY --label relay ping --nodes $n --rounds 10 2>/dev/null
done

# Restart storm: NODES real shoal nodes (one process), the broker killed -9 under them and
# started again; the time until a ping gets every node's answer again.
echo "storm-psk" >"$dir/psk"
$BIN node --simulate "$NODES" -i storm -T mcollective -b 127.0.0.1:$PORT --psk-file "$dir/psk" 2>/dev/null &
pids+=($!)
answered() {
  $BIN ping -T mcollective -b 127.0.0.1:$PORT --psk-file "$dir/psk" -t 2 --json 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["replies"]))' 2>/dev/null || echo 0
}
until [ "$(answered)" -ge "$NODES" ]; do sleep 0.5; done
kill -9 $BROKER
wait $BROKER 2>/dev/null
start=$(date +%s.%N)
broker
until [ "$(answered)" -ge "$NODES" ]; do :; done
echo "restart-storm label=shoal nodes=$NODES all_answering_s=$(echo "$(date +%s.%N) - $start" | bc)"
