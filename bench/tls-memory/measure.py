#!/usr/bin/env python3
"""Idle-connection memory of `sockeye serve echo` or a reference peer (plain or TLS) under `sockeye bench idle`,
split by kind of memory (GC heap, glibc heap and arenas, the rest) from /proc/PID/smaps; docs/SECURITY.md.
usage: measure.py LABEL N tls|plain [KEY=VALUE env for the server ...]
env: CLI (Sockeye.Cli.dll), CERT (dir with cert.pem, key.pem), OUT (results dir), HOLD, SETTLE (seconds),
     SERVER=sockeye|go|kestrel|plain (default sockeye; the peers from bench/peers, built into PEERS, default
     bench/results/build as bench/compare builds them: PEERS/go-echo/go-echo, PEERS/kestrel-echo/kestrel-echo, ...),
     GCDUMP=1 (dotnet-gcdump of the server while it holds), GDB=1 (glibc malloc_stats via gdb)"""
import json, os, re, socket, subprocess, sys, time
label, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
extra_env = dict(a.split('=', 1) for a in sys.argv[4:])
CLI = os.environ.get('CLI', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../src/Sockeye.Cli/bin/Release/net10.0/Sockeye.Cli.dll'))
out = os.path.join(os.environ.get('OUT', '/tmp/tlsmem'), label)
os.makedirs(out, exist_ok=True)
tls = mode == 'tls'
kind = os.environ.get('SERVER', 'sockeye')
peers = os.environ.get('PEERS', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../results/build'))
def free_port():
    # The peers print the port they were given, not the one bound, so they get a free one to bind.
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return str(s.getsockname()[1])
certs = os.environ.get('CERT', '/tmp/tlsmem')  # holds cert.pem and key.pem
if kind == 'sockeye':
    args = ['dotnet', CLI, 'serve', 'echo', '--port', '0', '--max-connections', '30000']
    tls_flags = ['--tls-cert', f'{certs}/cert.pem', '--tls-key', f'{certs}/key.pem']
elif kind == 'go':
    args = [f'{peers}/go-echo/go-echo', '-port', free_port()]
    tls_flags = ['-tls-cert', f'{certs}/cert.pem', '-tls-key', f'{certs}/key.pem']
elif kind in ('kestrel', 'plain'):
    args = [f'{peers}/{kind}-echo/{kind}-echo', free_port()]
    tls_flags = ['--tls-cert', f'{certs}/cert.pem', '--tls-key', f'{certs}/key.pem']
else:
    raise SystemExit(f'unknown SERVER {kind}')
args = ['taskset', '-c', '0'] + args + (tls_flags if tls else [])
env = dict(os.environ, **extra_env)
err = open(f'{out}/server.stderr', 'w')
server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
port = None
for line in server.stdout:
    m = re.search(r'listening on .*:(\d+)', line)
    if m:
        port = m.group(1); break
if port is None:
    raise SystemExit(f"{kind} did not say where it listens (see {out}/server.stderr)")
pid = server.pid
# the server is the process itself (taskset execs it)
def status(key):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith(key): return int(l.split()[1]) * 1024
def smaps():
    """RSS by kind: the GC heap (the run of anonymous mappings around the GC's reservation), glibc's
    main heap ([heap]), glibc's other arenas (anonymous, inside one 64 MiB-aligned block), the rest."""
    rows, cur = [], None
    for l in open(f'/proc/{pid}/smaps'):
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)', l)
        if m:
            cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3), 0]; rows.append(cur)
        elif l.startswith('Rss:'):
            cur[3] = int(l.split()[1]) * 1024
    rows.sort()
    big = max(range(len(rows)), key=lambda i: rows[i][1] - rows[i][0])
    lo = hi = big
    while lo > 0 and rows[lo - 1][1] == rows[lo][0] and rows[lo - 1][2] == '': lo -= 1
    while hi + 1 < len(rows) and rows[hi][1] == rows[hi + 1][0] and rows[hi + 1][2] == '': hi += 1
    out = dict(gc=0, brk_heap=0, malloc_arenas=0, other=0)
    for i, (start, end, name, rss) in enumerate(rows):
        if lo <= i <= hi: k = 'gc'
        elif name == '[heap]': k = 'brk_heap'
        elif name == '' and (start >> 26) == ((end - 1) >> 26) and end - start <= (1 << 26): k = 'malloc_arenas'
        else: k = 'other'
        out[k] += rss
    return out
bench = lambda *a: ['taskset', '-c', '1', 'dotnet', CLI, 'bench', *a, '--port', port, '--quiet'] + (['--tls'] if tls else [])
subprocess.run(bench('echo', '--connections', '10', '--duration', '1s', '--warmup', '0s'), stdout=subprocess.DEVNULL, check=False)
time.sleep(1)
before = dict(rss=status('VmRSS:'), smaps=smaps())
hold = int(os.environ.get('HOLD', '30'))
b = subprocess.Popen(bench('idle', '--connections', str(n), '--duration', f'{hold}s', '--server-pid', str(pid), '--json',
                           '--source-ips', '127.0.0.1-127.0.0.4'), stdout=subprocess.PIPE, text=True)
t0 = time.time()
while len(os.listdir(f'/proc/{pid}/fd')) < n and time.time() - t0 < 120:
    time.sleep(0.5)
opened = time.time() - t0
time.sleep(int(os.environ.get('SETTLE', '12')))
holding = dict(rss=status('VmRSS:'), smaps=smaps())
if os.environ.get('GCDUMP'):
    subprocess.run([os.path.expanduser('~/.dotnet/tools/dotnet-gcdump'), 'collect', '-p', str(pid), '-o', f'{out}/idle.gcdump'], stdout=subprocess.DEVNULL)
    rep = subprocess.run([os.path.expanduser('~/.dotnet/tools/dotnet-gcdump'), 'report', f'{out}/idle.gcdump'], capture_output=True, text=True).stdout
    open(f'{out}/gcdump.txt', 'w').write(rep)
if os.environ.get('GDB'):
    gdb = ['gdb', '-p', str(pid), '-batch', '-ex', 'call (void)malloc_stats()']
    if extra_env.get('DOTNET_OPENSSL_MEMORY_DEBUG') == '1':
        gdb += ['-ex', 'set $p = (long*)malloc(16)', '-ex', 'call (void)CryptoNative_GetMemoryUse($p, $p+1)', '-ex', 'printf "OPENSSL used=%ld count=%ld\\n", $p[0], $p[1]']
    r = subprocess.run(gdb, capture_output=True, text=True)
    open(f'{out}/gdb.txt', 'w').write(r.stdout + r.stderr)
bout = b.communicate()[0]; open(f'{out}/bench.out','w').write(bout or ''); res = json.loads(bout or '{}')
server.terminate(); server.wait(); err.close()
d = lambda k: (holding['smaps'][k] - before['smaps'][k]) / n
summary = dict(label=label, server=kind, n=n, tls=tls, env=extra_env, open_seconds=round(opened, 1),
               held=res.get('connectionsHeld'), alive=res.get('operations'), errors=res.get('errors'),
               bench_bytes_per_conn=res.get('serverBytesPerConnection'),
               rss_per_conn=(holding['rss'] - before['rss']) / n,
               per_conn={k: round(d(k)) for k in before['smaps']}, before=before, holding=holding)
json.dump(summary, open(f'{out}/summary.json', 'w'), indent=1)
print(json.dumps({k: summary[k] for k in ['label', 'server', 'held', 'alive', 'errors', 'bench_bytes_per_conn', 'rss_per_conn', 'per_conn', 'open_seconds']}))
