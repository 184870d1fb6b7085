#!/usr/bin/env bash
# Bridge forwarding against local throughput with each broker on a CPU budget of its own, as
# if each ran on its own machine (as bridged brokers do: one per datacenter). On one shared
# box the plain comparison (bridge.sh) also charges the second broker's CPU to the bridge:
# local = bench + 1 broker, forwarded = bench + 2 brokers, all on the same cores.
#
# Each broker runs in its own cgroup limited to QUOTA cores (default 0.5); the bench client is
# not limited. Needs root and the cgroup cpu controller (v1 or v2).
# Usage: benches/bridge-quota.sh [runs]   (env QUOTA=0.5 N=400000 WINDOW=1000, LIMITS='toml
# lines for [limits]')
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
BIN=target/release/shoal
RUNS=${1:-5}
QUOTA=${QUOTA:-0.5}
N=${N:-400000}
dir=$(mktemp -d)
pids=()
groups=()

# cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us); prints the group directory.
make_group() {
  local name="shoal-bench-$1-$$" period=10000 quota
  quota=$(awk -v q="$QUOTA" 'BEGIN { printf "%d", q * 10000 }')
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p "/sys/fs/cgroup/$name" && echo "$quota $period" >"/sys/fs/cgroup/$name/cpu.max" &&
      echo "/sys/fs/cgroup/$name"
  elif [ -d /sys/fs/cgroup/cpu ]; then
    mkdir -p "/sys/fs/cgroup/cpu/$name" &&
      echo "$period" >"/sys/fs/cgroup/cpu/$name/cpu.cfs_period_us" &&
      echo "$quota" >"/sys/fs/cgroup/cpu/$name/cpu.cfs_quota_us" &&
      echo "/sys/fs/cgroup/cpu/$name"
  else
    return 1
  fi
}
cleanup() {
  kill "${pids[@]}" 2>/dev/null
  sleep 0.3
  for g in "${groups[@]}"; do rmdir "$g" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

start() { # name client-port cluster-port [peer-cluster-port]
  local cfg="$dir/$1.toml" g
  printf '[auth]\nanonymous = true\n[cluster]\nlisten = ["127.0.0.1:%s"]\n[store]\ndir = "%s/%s.store"\n' "$3" "$dir" "$1" >"$cfg"
  [ -n "${LIMITS:-}" ] && printf '[limits]\n%s\n' "$LIMITS" >>"$cfg"
  if [ -n "${4:-}" ]; then
    printf '[[bridge]]\nname = "%s-up"\nuri = "static:(tcp://127.0.0.1:%s)"\nduplex = true\nqueue_window = %s\n' "$1" "$4" "${WINDOW:-1000}" >>"$cfg"
  fi
  g=$(make_group "$1") || { echo "no cgroup cpu controller here (root needed): cannot run" >&2; exit 2; }
  groups+=("$g")
  env ${BROKER_ENV:-} $BIN broker --config "$cfg" --listen "127.0.0.1:$2" --name "$1" 2>"$dir/$1.log" &
  pids+=($!)
  echo $! >"$g/cgroup.procs"
}
start A 17201 17301
sleep 0.5
start B 17202 17302 17301
sleep 2

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, each broker limited to $QUOTA cores, $N messages of 256 B, $RUNS runs each"
rate() { timeout 300 $BIN bench --addr 127.0.0.1:17201 "$@" queue -p 1 -c 1 -s 256 -n "$N" ${PRODUCER_WINDOW:+--window $PRODUCER_WINDOW} |
  sed -n 's/.*rate=\([0-9]*\).*lost=\([0-9]*\) duplicates=\([0-9]*\).*/\1 \2 \3/p'; }
# CPU time (clock ticks) a broker has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Microseconds of CPU per message a broker spent between two tick readings.
per_msg() { awk -v t="$1" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }'; }
local_rates=() fwd_rates=() ratios=()
for i in $(seq "$RUNS"); do
  a0=$(ticks "${pids[0]}")
  read -r l lost dup < <(rate --label local-A)
  a1=$(ticks "${pids[0]}") b1=$(ticks "${pids[1]}")
  [ "$lost$dup" = "00" ] || echo "run $i local: lost=$lost duplicates=$dup"
  read -r f lost dup < <(rate --label A-to-B --remote-addr 127.0.0.1:17202)
  a2=$(ticks "${pids[0]}") b2=$(ticks "${pids[1]}")
  [ "$lost$dup" = "00" ] || echo "run $i forwarded: lost=$lost duplicates=$dup"
  echo "run $i local-A=$l A-to-B=$f ratio=$(awk -v a="$f" -v b="$l" 'BEGIN { printf "%.0f%%", 100 * a / b }')" \
    "cpu/msg: local A $(per_msg $((a1 - a0))) µs; forwarding A $(per_msg $((a2 - a1))) µs, B $(per_msg $((b2 - b1))) µs"
  local_rates+=("$l")
  fwd_rates+=("$f")
  ratios+=("$(awk -v a="$f" -v b="$l" 'BEGIN { printf "%.1f", 100 * a / b }')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ml=$(median "${local_rates[@]}")
mf=$(median "${fwd_rates[@]}")
echo "median local-A=$ml msg/s A-to-B=$mf msg/s ratio=$(awk -v a="$mf" -v b="$ml" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
# Each run's ratio pairs two measurements taken seconds apart; their median is the steadier
# figure on a machine whose speed drifts between runs.
echo "median of the per-run ratios: $(median "${ratios[@]}")%"
