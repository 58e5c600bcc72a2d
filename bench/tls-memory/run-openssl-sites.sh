#!/bin/bash
# usage: run-openssl-sites.sh N [env...]: live OpenSSL bytes per idle TLS connection by allocation site,
# in a Sockeye TLS echo server (OpenSslSites) driven by `sockeye bench idle --tls`. SIZE: bytes of the
# proving round trip (64). CERT: directory with cert.pem and key.pem. Build first:
#   dotnet build -c Release bench/tls-memory/OpenSslSites && dotnet build -c Release src/Sockeye.Cli
N=$1; shift
DIR=$(cd "$(dirname "$0")" && pwd)
CLI=${CLI:-$DIR/../../src/Sockeye.Cli/bin/Release/net10.0/Sockeye.Cli.dll}
export CERT=${CERT:-/tmp/tlsmem}
mkfifo /tmp/opensslsites.in.$$ 2>/dev/null
exec 3<>/tmp/opensslsites.in.$$
env DOTNET_OPENSSL_MEMORY_DEBUG=1 "$@" taskset -c 0 dotnet "$DIR/OpenSslSites/bin/Release/net10.0/OpenSslSites.dll" $N <&3 > /tmp/opensslsites.out.$$ 2>&1 &
SP=$!
for i in $(seq 50); do grep -q listening /tmp/opensslsites.out.$$ && break; sleep 0.2; done
PORT=$(grep -o 'listening on [0-9.]*:[0-9]*' /tmp/opensslsites.out.$$ | sed 's/.*://')
taskset -c 1 dotnet $CLI bench echo --tls --port $PORT --connections 10 --duration 1s --warmup 0s --quiet > /dev/null
echo go >&3
taskset -c 1 dotnet $CLI bench idle --tls --port $PORT --connections $N --size ${SIZE:-64} --duration 25s --quiet --source-ips 127.0.0.1-127.0.0.4 > /tmp/opensslsites.bench.$$ &
BP=$!
for i in $(seq 200); do grep -q done /tmp/opensslsites.out.$$ && break; sleep 0.5; done
echo quit >&3
wait $BP; wait $SP
cat /tmp/opensslsites.out.$$; tail -3 /tmp/opensslsites.bench.$$
rm -f /tmp/opensslsites.in.$$
