#!/usr/bin/env python3
"""Stalled TLS handshakes: open N connections, send a real ClientHello on each, then stay silent until
the server cuts them. Bounded: every wave ends when all are closed or after --wave-timeout. Loopback only."""
import argparse, selectors, socket, ssl, sys, time

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

def wave(host, port, n, timeout, sources):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sel = selectors.DefaultSelector()
    opened = refused = 0
    live = {}
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        if sources:
            s.bind((sources[i % len(sources)], 0))
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            refused += 1; s.close(); continue
        live[s.fileno()] = [s, None]
        sel.register(s, selectors.EVENT_WRITE)
        opened += 1
    start = time.time()
    end = start + timeout
    hellos = 0
    while live and time.time() < end:
        for key, mask in sel.select(timeout=0.5):
            s, t = live[key.fd]
            if t is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    sel.unregister(s); s.close(); del live[key.fd]; refused += 1; continue
                try:
                    t = ctx.wrap_socket(s, do_handshake_on_connect=False, server_hostname="localhost")
                except OSError:
                    # The server reset at accept (a refusal at the edge, for example past the cap).
                    sel.unregister(s); s.close(); del live[key.fd]; refused += 1; continue
                live[key.fd][1] = t
                try:
                    t.do_handshake()
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except (ssl.SSLError, OSError):
                    sel.unregister(s); t.close(); del live[key.fd]; refused += 1; continue
                hellos += 1
                sel.modify(s, selectors.EVENT_READ)
            else:
                # The server answered (ServerHello...) or cut us: read and drop; never answer.
                try:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("eof")
                except BlockingIOError:
                    continue
                except OSError:
                    sel.unregister(s); t.close(); del live[key.fd]
                    if time.time() < start + 1:
                        refused += 1  # cut at once, not by the handshake timeout
    left = len(live)
    for s, t in live.values():
        (t or s).close()
    return opened, refused, hellos, left

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--connections", type=int, default=6000)
    p.add_argument("--waves", type=int, default=5)
    p.add_argument("--wave-timeout", type=float, default=30)
    p.add_argument("--settle", type=float, default=3)
    p.add_argument("--sources", default="127.0.0.1")
    a = p.parse_args()
    sources = a.sources.split(",")
    print(f"wave 0: rss {rss(a.pid)/2**20:.1f} MiB", flush=True)
    for w in range(1, a.waves + 1):
        opened, refused, hellos, left = wave("127.0.0.1", a.port, a.connections, a.wave_timeout, sources)
        time.sleep(a.settle)
        print(f"wave {w}: opened {opened}, refused {refused}, hellos {hellos}, still open at the end {left}; rss {rss(a.pid)/2**20:.1f} MiB", flush=True)

main()
