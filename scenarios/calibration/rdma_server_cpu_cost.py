#!/usr/bin/python3
"""Server CPU of an S3-over-RDMA GET versus an S3 GET over TCP, measured on this machine.

Starts `s3rdma serve --memory --rdma udp` (the real RdmaServer on the UDP software NIC) and
loads it with `s3rdma bench s3 --server-pid` (SigV4-signed requests; server CPU from
/proc/PID/stat) over both transports at several object sizes, REPS runs each (median).
Per transport and per end (server, client) it fits   CPU per request = a + b x size:
b from the two largest sizes (where bytes dominate), a from the two smallest extrapolated
to size 0 (a least-squares fit over all sizes would let a 1% error on the 8 MiB point move
a by 60 us). It prints a (per request) and b (per byte, as core-s per GB):
- over RDMA, b is the software NIC's work (segmentation, ICRC, UDP copies): what a hardware
  NIC does, so the model does not charge it to the CPU; a is the server's per-request CPU:
  HTTP control path (SigV4, metadata) + token, work requests, completions;
- over TCP, a is the HTTP request cost and b the server's TCP send cost (sendfile);
- a(RDMA) - a(TCP) is the RDMA-specific per-request CPU beyond the HTTP handling, the
  model's rdma.cpu_per_request on the server side.
Usage: rdma_server_cpu_cost.py S3RDMA_BINARY [--seconds S] [--reps R]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

KEY = ("AKIDCALIB", "calib-secret")
SIZES = [("4KiB", 4096, 8), ("64KiB", 65536, 8), ("1MiB", 1 << 20, 4), ("8MiB", 8 << 20, 4)]


def fit(points):
    """(a, b) of y = a + b x: b from the two largest x, a from the two smallest at x = 0."""
    p = sorted(points)
    (x0, y0), (x1, y1) = p[0], p[1]
    (x2, y2), (x3, y3) = p[-2], p[-1]
    b = (y3 - y2) / (x3 - x2)
    a = y0 - (y1 - y0) / (x1 - x0) * x0
    return a, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("s3rdma")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    o = ap.parse_args()
    work = tempfile.mkdtemp(prefix="s3rdma-rdma-calib-")
    env = dict(os.environ, S3RDMA_CREDENTIALS=f"{KEY[0]}:{KEY[1]}", AWS_ACCESS_KEY_ID=KEY[0],
               AWS_SECRET_ACCESS_KEY=KEY[1])
    srv = subprocess.Popen([o.s3rdma, "serve", "--port", "0", "--memory", "--rdma", "udp"],
                           stdout=subprocess.PIPE, stderr=open(f"{work}/serve.err", "w"), env=env, text=True)
    try:
        line = srv.stdout.readline()
        if not line.startswith("listening on"):
            raise RuntimeError(f"serve did not start: {line!r}")
        ep = "http://" + line.split()[-1]
        la = os.getloadavg()
        print(f"# load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; {o.reps} reps x {o.seconds} s; median")
        print("| transport | size | concurrency | server us/req | client us/req | server s/GB | GB/s | req/s | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        fits = {}
        for transport in ("rdma", "tcp"):
            points, cpoints = [], []
            for name, size, conc in SIZES:
                runs = []
                for _ in range(o.reps):
                    load = os.getloadavg()[0]
                    out = subprocess.run(
                        [o.s3rdma, "bench", "s3", "--endpoint", ep, "--transport", transport, "--op", "get",
                         "--size", name, "--concurrency", str(conc), "--duration", f"{o.seconds}s",
                         "--server-pid", str(srv.pid), "--json"],
                        env=env, capture_output=True, text=True, timeout=120)
                    if out.returncode != 0:
                        raise RuntimeError(f"bench failed: {out.stdout}{out.stderr}")
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    if r["requests"] == 0 or r.get("rdma_fallbacks", 0):
                        raise RuntimeError(f"no requests or HTTP fallbacks: {r}")
                    r["load"] = load
                    runs.append(r)
                med = lambda f: statistics.median(f(r) for r in runs)
                us = med(lambda r: r["server_cpu_s"] / r["requests"] * 1e6)
                cus = med(lambda r: r["client_cpu_s"] / r["requests"] * 1e6)
                points.append((size, us))
                cpoints.append((size, cus))
                print(f"| {transport} | {name} | {conc} | {us:.1f} | {cus:.1f} | {med(lambda r: r['server_cpu_s_per_gb']):.3f} | "
                      f"{med(lambda r: r['gbytes_per_s']):.3f} | {med(lambda r: r['requests_per_s']):.0f} | "
                      f"{med(lambda r: r['load']):.1f} |", flush=True)
            fits[(transport, "server")] = fit(points)
            fits[(transport, "client")] = fit(cpoints)
        print()
        for (t, who), (a, b) in fits.items():
            # b is microseconds per byte: x 1e9 bytes x 1e-6 s/us = core-seconds per GB.
            print(f"{t} {who}: per request {a:.1f} us, per byte {b * 1e3:.3f} core-s/GB")
        for who in ("server", "client"):
            d = fits[("rdma", who)][0] - fits[("tcp", who)][0]
            print(f"rdma.cpu_per_request ({who}, beyond the HTTP request) = {d:.1f} us")
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
