#!/bin/bash
# Idle TLS and plain memory of Sockeye and the reference peers (bench/peers: Go, Kestrel, plain .NET)
# at N connections, RUNS runs each, servers interleaved within each run; docs/SECURITY.md,
# "Against the reference servers". Every run goes through measure.py (server on core 0,
# `sockeye bench idle` on core 1, every connection proved alive before and after the hold).
#
# usage: bench/tls-memory/against-peers.sh [N=5000] [RUNS=2]
# env:   SERVERS (default "sockeye go kestrel plain"), MODES (default "tls plain"), HOLD (25), SETTLE (8),
#        BUILD (default bench/results/build, the layout bench/compare uses), OUT (default /tmp/tlspeers),
#        CERT (dir with cert.pem and key.pem; an ECDSA P-256 pair is made there when missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-5000}
runs=${2:-2}
servers=${SERVERS:-sockeye go kestrel plain}
modes=${MODES:-tls plain}
export BUILD=${BUILD:-$root/bench/results/build} OUT=${OUT:-/tmp/tlspeers} CERT=${CERT:-/tmp/tlspeers/cert}
export HOLD=${HOLD:-25} SETTLE=${SETTLE:-8} PEERS=$BUILD CLI=$BUILD/sockeye/Sockeye.Cli.dll

mkdir -p "$CERT" "$OUT"
if [ ! -f "$CERT/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=bench.test \
    -days 30 -keyout "$CERT/key.pem" -out "$CERT/cert.pem" 2>/dev/null
fi

if [ -z "${NO_BUILD:-}" ]; then
  dotnet publish "$root/src/Sockeye.Cli" -c Release -o "$BUILD/sockeye" --nologo -v quiet
  dotnet publish "$root/bench/peers/kestrel-echo" -c Release -o "$BUILD/kestrel-echo" --nologo -v quiet
  dotnet publish "$root/bench/peers/plain-echo" -c Release -o "$BUILD/plain-echo" --nologo -v quiet
  command -v go >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go; }
  (cd "$root/bench/peers/go-echo" && go build -o "$BUILD/go-echo/go-echo" .)
fi

for run in $(seq 1 "$runs"); do
  for mode in $modes; do
    for server in $servers; do
      SERVER=$server "$here/measure.py" "$server-$mode-$run" "$n" "$mode" | tail -1
    done
  done
done | tee "$OUT/runs.jsonl"

# One row per server and mode: RSS growth per connection of each run, and whether every connection lived.
python3 - "$OUT/runs.jsonl" "$n" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault((r['server'], 'tls' if '-tls-' in r['label'] else 'plain'), []).append(r)
print(f"\n| server | mode | bytes per idle connection (runs) | held / alive / errors |")
print("|---|---|---:|---:|")
for (server, mode), rs in rows.items():
    ok = all(r['held'] == int(sys.argv[2]) and r['alive'] == int(sys.argv[2]) and not r['errors'] for r in rs)
    per_conn = " / ".join(format(r["rss_per_conn"], ",.0f") for r in rs)
    alive = " ".join("%s/%s/%s" % (r["held"], r["alive"], r["errors"]) for r in rs)
    print(f"| {server} | {mode} | {per_conn} | {alive}{'' if ok else ' **not all alive**'} |")
EOF
