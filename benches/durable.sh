#!/usr/bin/env bash
# Durable queue throughput, shoal vs RabbitMQ (durable queue, persistent messages) vs ActiveMQ
# (KahaDB), in one run, with the same load generator. Every SEND is persistent and asks a
# RECEIPT; each producer keeps at most WINDOW unconfirmed, so a receipt — and the count — means
# the broker said the message is safe. shoal runs with its store (fsync on) in a fresh dir.
#
#   benches/durable.sh                  # all brokers (starts the peers via peers.sh)
#   BROKERS=shoal benches/durable.sh
set -uo pipefail
cd "$(dirname "$0")/.."

BROKERS=${BROKERS:-"shoal rabbitmq activemq"}
SHOAL_PORT=${SHOAL_PORT:-16164}
N=${N:-100000}
WINDOW=${WINDOW:-1000}

cargo build --release -q
BIN=target/release/shoal

if [[ " $BROKERS " == *" rabbitmq "* || " $BROKERS " == *" activemq "* ]]; then
  benches/peers.sh start
fi

dir=$(mktemp -d)
printf '[auth]\nanonymous = true\n[store]\ndir = "%s/store"\nfsync = true\n' "$dir" >"$dir/durable.toml"
$BIN broker --config "$dir/durable.toml" --listen 127.0.0.1:$SHOAL_PORT --name bench 2>"$dir/shoal.log" &
SHOAL_PID=$!
trap 'kill $SHOAL_PID 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1

args_for() {
  case $1 in
    shoal) echo "--addr 127.0.0.1:$SHOAL_PORT --label shoal" ;;
    rabbitmq) echo "--addr 127.0.0.1:61613 --login guest --passcode guest --vhost / --label rabbitmq" ;;
    activemq) echo "--addr 127.0.0.1:61614 --label activemq" ;;
  esac
}

run() {
  timeout 900 $BIN bench $(args_for "$1") "${@:2}" --persistent --window "$WINDOW" || echo "FAILED: $1 ${*:2}"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r), durable queues, window $WINDOW"
for b in $BROKERS; do
  run "$b" queue -p 1 -c 1 -s 256 -n "$N"
  run "$b" queue -p 4 -c 4 -s 256 -n "$N"
  run "$b" queue -p 1 -c 1 -s 4096 -n $((N / 4))
  run "$b" queue -p 4 -c 4 -s 4096 -n $((N / 4))
done
