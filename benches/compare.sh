#!/usr/bin/env bash
# Measures shoal, RabbitMQ and ActiveMQ side by side, in one run, with the same load generator
# (`shoal bench`), on loopback. Prints one result line per scenario and broker; BENCHMARKS.md
# quotes the output. Every scenario checks its counts: a lost or duplicated message fails it.
#
#   benches/compare.sh            # all brokers (installs and starts the peers via peers.sh)
#   BROKERS=shoal benches/compare.sh
#   benches/compare.sh durable    # durable queues: every SEND persistent with a RECEIPT, each
#                                 # producer keeping at most WINDOW unconfirmed; shoal with its
#                                 # store (fsync on) in a fresh directory
set -uo pipefail
cd "$(dirname "$0")/.."

SUITE=${1:-messaging}
N_DURABLE=${N_DURABLE:-100000}
WINDOW=${WINDOW:-1000}
BROKERS=${BROKERS:-"shoal rabbitmq activemq"}
SHOAL_PORT=${SHOAL_PORT:-16163}
N_QUEUE=${N_QUEUE:-200000}

cargo build --release -q
BIN=target/release/shoal

if [[ " $BROKERS " == *" rabbitmq "* || " $BROKERS " == *" activemq "* ]]; then
  benches/peers.sh start
fi

dir=$(mktemp -d)
printf '[auth]\nanonymous = true\n[store]\ndir = "%s/store"\n' "$dir" >"$dir/open.toml"
$BIN broker --config "$dir/open.toml" --listen 127.0.0.1:$SHOAL_PORT --name bench 2>"$dir/shoal.log" &
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

pid_of() {
  case $1 in
    shoal) echo $SHOAL_PID ;;
    rabbitmq) pgrep -f "beam.smp.*-home /tmp/shoal-peers/rabbitmq" | head -1 ;;
    activemq) cat /tmp/shoal-peers/activemq/pid ;;
  esac
}

run() {
  # A failed count check prints its line too and exits 1; keep going, but say so.
  timeout 600 $BIN bench $(args_for "$1") "${@:2}" || echo "FAILED: $1 ${*:2}"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r), $SUITE"
if [ "$SUITE" = durable ]; then
  for b in $BROKERS; do
    for scenario in "-p 1 -c 1 -s 256 -n $N_DURABLE" "-p 4 -c 4 -s 256 -n $N_DURABLE" \
      "-p 1 -c 1 -s 4096 -n $((N_DURABLE / 4))" "-p 4 -c 4 -s 4096 -n $((N_DURABLE / 4))"; do
      run "$b" queue $scenario --persistent --window "$WINDOW"
    done
  done
  exit 0
fi
for b in $BROKERS; do
  run "$b" queue -p 1 -c 1 -s 256 -n "$N_QUEUE"
  run "$b" queue -p 4 -c 4 -s 256 -n "$N_QUEUE"
  run "$b" queue -p 1 -c 1 -s 4096 -n $((N_QUEUE / 4))
  run "$b" fanout --subscribers 100 -n 5000 --rate 1000 -s 256
  run "$b" rpc --responders 100 --rounds 200
  run "$b" idle --connections 2000 --hold 3 --pid "$(pid_of "$b")"
done
