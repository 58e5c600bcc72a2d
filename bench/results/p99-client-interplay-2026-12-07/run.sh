#!/bin/bash
# usage: run.sh SERVER CLIENT CONNS DURATION WARMUP   (no lock; caller holds it)
B=/work/wt-p99/bench/results/build
S=$1; C=$2; N=$3; D=${4:-5}; W=${5:-5}
PORT=$(( 10000 + RANDOM % 10000 ))
case $S in
  sockeye) CMD="$B/sockeye/sockeye serve echo --port $PORT --max-connections 30000 $SERVER_EXTRA";;
  base) CMD="$B/sockeye-base/sockeye serve echo --port $PORT --max-connections 30000 $SERVER_EXTRA";;
  go) CMD="$B/go-echo/go-echo -port $PORT";;
  c) CMD="$B/c-echo/c-echo $PORT 1";;
esac
CLI=${CLIENT_BUILD:-$B/sockeye}
export DOTNET_TC_CallCountingDelayMs=0
taskset -c 0 $CMD > /tmp/p99/server.out 2>&1 &
SP=$!; sleep 0.01
for i in $(seq 100); do grep -q "listening on" /tmp/p99/server.out && break; sleep 0.1; done
unset DOTNET_TC_CallCountingDelayMs
if [ "$C" = bench ]; then
  env $CLIENT_ENV taskset -c 1 $CLI/sockeye bench echo --port $PORT --connections $N --server-pid $SP --json --quiet --size 64 --duration ${D}s --warmup ${W}s $BENCH_EXTRA > /tmp/p99/client.json &
else
  taskset -c 1 $B/c-echo/c-client echo 127.0.0.1 $PORT $N $D $W 64 $SP > /tmp/p99/client.json &
fi
CP=$!
sleep $((W+1))
T=$((D-2)); [ -f /tmp/p99/t_override ] && T=$(cat /tmp/p99/t_override)
/tmp/p99/probe.sh $SP $CP $T
wait $CP
kill -TERM $SP; wait $SP 2>/dev/null
python3 /tmp/p99/summ.py $T "$S+$C/$N"
