#!/usr/bin/env bash
# bench/cclient/accept-ab.sh: short connections (churn.c: connect, 64 B echo, close) against Sockeye
# builds or serve options, variants interleaved round by round so all meet the same noise; server CPU
# per connection from /proc ticks and context switches per connection from `perf stat` on the server.
# Loopback only, bounded (SECONDS per run).
#   bench/cclient/accept-ab.sh ROUNDS SECONDS LABEL=DLL[@ARGS] ...
#   e.g. accept-ab.sh 3 5 before=/tmp/b/Sockeye.Cli.dll after=src/.../Sockeye.Cli.dll 'after2=src/.../Sockeye.Cli.dll@--acceptors 2'
# Server on CPU 0, 20 client processes on CPU 1. CLIENT=sockeye: `sockeye bench churn` (20 connections
# in flight, no warm-up) from the first variant's build instead of churn.c.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 ROUNDS SECONDS LABEL=DLL[@ARGS] ..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
client=$(mktemp -d)/churn
cc -O2 -o "$client" "$here/churn.c"
rounds=$1 seconds=$2; shift 2
tick=$(getconf CLK_TCK)
for ((r = 1; r <= rounds; r++)); do
  for variant in "$@"; do
    label=${variant%%=*}; spec=${variant#*=}
    dll=${spec%%@*}; args=""; [[ $spec == *@* ]] && args=${spec#*@}
    port=$((7580 + r))
    # shellcheck disable=SC2086
    taskset -c 0 dotnet "$dll" serve echo --port $port $args >/dev/null 2>&1 & pid=$!
    sleep 3
    perf_out=$(mktemp)
    perf stat -e context-switches -p $pid -x, -o "$perf_out" -- sleep $((seconds + 1)) & perf_pid=$!
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    if [ "${CLIENT:-c}" = sockeye ]; then
      first=${1#*=}; first=${first%%@*}
      json=$(taskset -c 1 dotnet "$first" bench churn --port $port --connections 20 --duration "${seconds}s" --warmup 0 --json -q)
      t1=$(awk '{print $14+$15}' /proc/$pid/stat)
      ops=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d.get("operations", d.get("Operations")))' "$json")
      out="sockeye-bench ops=$ops"
    else
      out=$(taskset -c 1 "$client" churn 127.0.0.1 $port 20 "$seconds")
      t1=$(awk '{print $14+$15}' /proc/$pid/stat)
      ops=$(sed 's/.*ops=\([0-9]*\).*/\1/' <<<"$out")
    fi
    wait $perf_pid || true
    cs=$(awk -F, '/context-switches/ {print $1}' "$perf_out")
    echo "$r $label $out server_us_per_conn=$(python3 -c "print(round(($t1-$t0)*1e6/$tick/$ops,1))") ctx_switches_per_conn=$(python3 -c "print(round(${cs:-0}/$ops,3))")"
    rm -f "$perf_out"
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
