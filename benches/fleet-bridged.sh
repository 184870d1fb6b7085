#!/usr/bin/env bash
# A fleet spread over bridged brokers: N `shoal node`s on each of A, B and C (B and C dial A,
# duplex, network_ttl 2), pings sent on A; prints each round's reply count and the time of
# its last reply, and every process's CPU over the measured rounds.
#   N=10000 benches/fleet-bridged.sh | tee /tmp/fleet-bridged.txt
set -uo pipefail
source "$(dirname "$0")/lib.sh"
N=${N:-10000}
ROUNDS=${ROUNDS:-5}

start() { # name client-port cluster-port [peer-cluster-port]
  local cfg="$dir/$1.toml"
  printf '[auth]\nanonymous = true\n[cluster]\nlisten = ["127.0.0.1:%s"]\n[store]\ndir = "%s/%s.store"\n[limits]\nmax_connections_per_address = 100000\n' "$3" "$dir" "$1" >"$cfg"
  if [ -n "${4:-}" ]; then
    printf '[[bridge]]\nname = "%s-up"\nuri = "static:(tcp://127.0.0.1:%s)"\nduplex = true\nnetwork_ttl = 2\n' "$1" "$4" >>"$cfg"
  fi
  $BIN broker --config "$cfg" --listen "127.0.0.1:$2" --name "$1" 2>"$dir/$1.log" &
  pids+=($!)
  until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do sleep 0.05; done
}
start A 17401 17501
start B 17402 17502 17501
start C 17403 17503 17501
echo psk >"$dir/psk"
for b in A:17401 B:17402 C:17403; do
  $BIN node --simulate "$N" -i "${b%%:*}" -T mcollective -b "127.0.0.1:${b##*:}" --psk-file "$dir/psk" 2>/dev/null &
  pids+=($!)
done
ping() { $BIN ping -T mcollective -b 127.0.0.1:17401 --psk-file "$dir/psk" -t "$1" --json 2>/dev/null; }
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)["replies"]))' 2>/dev/null || echo 0; }
cpu() { for p in "${pids[@]}"; do awk '{printf "%.2f ", ($14+$15)/100}' "/proc/$p/stat"; done; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $N nodes on each of A, B, C"
t0=$(date +%s)
until [ "$(ping 3 | count)" -ge $((3 * N)) ]; do
  [ $(($(date +%s) - t0)) -gt 240 ] && { echo "FAILED: not every node answers after 240 s"; exit 1; }
done
echo "all $((3 * N)) answering after $(($(date +%s) - t0)) s"
before=$(cpu)
for _ in $(seq "$ROUNDS"); do
  ping 5 | python3 -c 'import json,sys; r=json.load(sys.stdin)["replies"]; print("bridged-ping replies=%d last_reply_ms=%.0f" % (len(r), max(x["rtt_ms"] for x in r)))'
done
echo "cpu seconds (brokers A B C, nodes on A B C): before $before after $(cpu)"
