#!/bin/bash
# bench/fanout-vs-go.sh SERVER PORT SUBSCRIBERS ROOMS PUBLISHERS RATE: one `sockeye bench fanout` run (8 s
# measured after WARMUP seconds of load, default 12, 64 B messages) against `sockeye serve chat` (SERVER=sockeye) or
# bench/peers/go-chat built into /tmp/go-chat (SERVER=go); server on CPU 0, client on CPU 1. Prints the
# JSON figures that BENCHMARKS.md ("Fan-out") reports. Loopback only, bounded (about 25 s).
# The warm-up is long because the JIT is: on one core .NET's tiered compiler was still running tier-0
# code of the send path 7 s into a run, so a 2 s warm-up measured the compiler as much as the server
# (Go compiles ahead of time). Native AOT (docs/AOT.md) removes the difference; set WARMUP=2 to see it.
S=$(cd "$(dirname "$0")/.." && pwd)/src/Sockeye.Cli/bin/Release/net10.0/Sockeye.Cli.dll
server=$1; port=$2; subs=$3; rooms=$4; pubs=$5; rate=$6
if [ $server = go ]; then taskset -c 0 /tmp/go-chat -port $port >/dev/null 2>&1 & pid=$!
else taskset -c 0 dotnet $S serve chat --port $port --max-connections 30000 >/dev/null 2>&1 & pid=$!; fi
sleep 2.5
out=$(taskset -c 1 dotnet $S bench fanout --port $port --subscribers $subs --rooms $rooms --publishers $pubs --rate $rate --size 64 --duration 8s --warmup ${WARMUP:-12}s --server-pid $pid --json --quiet 2>/dev/null)
python3 - "$server" "$out" <<'PY'
import json,sys
d=json.loads(sys.argv[2]); keys=[k for k in d if any(w in k.lower() for w in ('deliver','lost','cpu','p50','p99','disconnect','max'))]
print(sys.argv[1], {k:(round(d[k],2) if isinstance(d[k],float) else d[k]) for k in keys})
PY
kill -TERM $pid; wait $pid 2>/dev/null
