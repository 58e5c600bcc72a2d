#!/usr/bin/env bash
# bench/cclient/ab.sh: server CPU per operation of two Sockeye builds, measured with
# bench/peers/c-echo/client.c (a client that is not Sockeye's: one thread, one epoll loop), pairs
# interleaved so both meet the same noise. Loopback only, bounded.
#   bench/cclient/ab.sh BEFORE_DLL AFTER_DLL [PAIRS=3]
# BEFORE_DLL/AFTER_DLL: paths to Sockeye.Cli.dll (for example from `git worktree add /tmp/before REV`
# and `dotnet build /tmp/before/src/Sockeye.Cli -c Release`). Server on CPU 0, client on CPU 1;
# churn: 20 connections in flight, echo: 50 connections, 5 s each after 1 s of warm-up, 64 B.
# (Until 2026-12-07 this used bench/cclient/churn.c, blocking sockets and one process per connection.)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_DLL AFTER_DLL [PAIRS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
client=$(mktemp -d)/c-client
gcc -O2 -o "$client" "$here/../peers/c-echo/client.c"
pairs=${3:-3}
for ((r = 1; r <= pairs; r++)); do
  for label in before after; do
    dll=$1; [ "$label" = after ] && dll=$2
    for mode in churn echo; do
      port=$((7480 + r))
      taskset -c 0 dotnet "$dll" serve echo --port $port >/dev/null 2>&1 & pid=$!
      sleep 2.5
      n=20; [ $mode = echo ] && n=50
      out=$(taskset -c 1 "$client" $mode 127.0.0.1 $port $n 5 1 64 $pid)
      echo "$r $label $mode $(python3 -c 'import json, sys
r = json.loads(sys.argv[1])
print("ops=%d errors=%d per_second=%.0f server_us_per_op=%.1f" % (r["operations"], r["errors"], r["operations"] / r["seconds"], r["serverCpuSeconds"] * 1e6 / max(1, r["operations"])))' "$out")"
      kill -TERM $pid; wait $pid 2>/dev/null || true
    done
  done
done
