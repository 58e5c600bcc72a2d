#!/bin/bash
# tier.sh SERVER CONNS DUR WARM : perf record the bench client during its window; report tier of sampled JIT code
B=/work/wt-p99/bench/results/build
S=$1; N=$2; D=$3; W=$4; PORT=$(( 20000 + RANDOM % 20000 ))
case $S in sockeye) CMD="$B/sockeye/sockeye serve echo --port $PORT --max-connections 30000";; go) CMD="$B/go-echo/go-echo -port $PORT";; esac
DOTNET_TC_CallCountingDelayMs=0 taskset -c 0 $CMD > /tmp/p99/server.out 2>&1 &
SP=$!
for i in $(seq 100); do grep -q "listening on" /tmp/p99/server.out && break; sleep 0.1; done
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 $CLIENT_ENV taskset -c 1 $B/sockeye/sockeye bench echo --port $PORT --connections $N --server-pid $SP --json --quiet --size 64 --duration ${D}s --warmup ${W}s > /tmp/p99/client.json &
CP=$!
sleep $((W+1))
perf record -F 999 -g -p $CP -o /tmp/p99/cli.data -- sleep 3 2>/dev/null >/dev/null
wait $CP; kill $SP; wait $SP 2>/dev/null
python3 /tmp/p99/summ.py 1 "$S+bench(tier)" 2>/dev/null | head -1
perf report -i /tmp/p99/cli.data --no-children --sort dso,sym --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -40 > /tmp/p99/cli.report
grep -c . /tmp/p99/cli.report
