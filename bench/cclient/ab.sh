#!/usr/bin/env bash
# bench/cclient/ab.sh: server CPU per operation of two Sockeye builds, measured with churn.c (a client
# that is not Sockeye's), pairs interleaved so both meet the same noise. Loopback only, bounded.
#   bench/cclient/ab.sh BEFORE_DLL AFTER_DLL [PAIRS=3]
# BEFORE_DLL/AFTER_DLL: paths to Sockeye.Cli.dll (for example from `git worktree add /tmp/before REV`
# and `dotnet build /tmp/before/src/Sockeye.Cli -c Release`). Server on CPU 0, client on CPU 1;
# churn: 20 client processes, echo: 50 connections, 5 s each, 64 B.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_DLL AFTER_DLL [PAIRS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
client=$(mktemp -d)/churn
cc -O2 -o "$client" "$here/churn.c"
pairs=${3:-3}
tick=$(getconf CLK_TCK)
for ((r = 1; r <= pairs; r++)); do
  for label in before after; do
    dll=$1; [ "$label" = after ] && dll=$2
    for mode in churn echo; do
      port=$((7480 + r))
      taskset -c 0 dotnet "$dll" serve echo --port $port >/dev/null 2>&1 & pid=$!
      sleep 2.5
      t0=$(awk '{print $14+$15}' /proc/$pid/stat)
      n=20; [ $mode = echo ] && n=50
      out=$(taskset -c 1 "$client" $mode 127.0.0.1 $port $n 5)
      t1=$(awk '{print $14+$15}' /proc/$pid/stat)
      ops=$(sed 's/.*ops=\([0-9]*\).*/\1/' <<<"$out")
      echo "$r $label $mode $out server_us_per_op=$(python3 -c "print(round(($t1-$t0)*1e6/$tick/$ops,1))")"
      kill -TERM $pid; wait $pid 2>/dev/null || true
    done
  done
done
