#!/usr/bin/python3
"""CPU cost of a TCP object-storage server and its client, measured on this machine.

Loads `s3rdma serve` (memory store and --data-dir filesystem store) and nginx (one worker,
sendfile: the lower bound of a TCP server) with wrk over loopback and prints, per case:
  server s/GB     server CPU (utime+stime from /proc/PID/stat, summed over the process and
                  its children) per 10^9 payload bytes
  client s/GB     wrk's CPU (getrusage of the child) per 10^9 payload bytes
  server us/req   server CPU per completed request (meaningful for 0-byte and 4 KiB GETs)
  client us/req   wrk's CPU per request
Payload bytes: the server's wchar delta (/proc/PID/io): for GETs its sendfile bytes, for PUTs
the bytes it writes into its store (recvmsg is not counted in rchar), so partially served
requests at the end of a run count.
Every case runs REPS times; the summary prints the median and the load average.
A separate run measures memcpy (the GPU server's bounce copy into a pinned staging buffer).

On loopback the kernel's receive processing of a segment runs in the softirq raised by the
sender's transmit, so it is charged to the *sending* process: the server's GET cost includes
part of the client's receive work and vice versa. The sum (server + client) is exact.

Usage: s3_server_cpu_cost.py S3RDMA_BINARY [--seconds S] [--reps R] [--quick]
Needs wrk, nginx, /usr/bin/python3 with botocore (for SigV4 headers), g++ (memcpy probe).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))
KEY = ("AKIDBENCH", "bench-secret")  # the key bench/s3http/sign_headers.py signs with


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def proc_cpu(pid):
    """utime + stime of pid and its children (seconds); rchar, wchar of the same set."""
    cpu, rchar, wchar = 0.0, 0, 0
    for p in [pid] + children(pid):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / HZ  # utime, stime (fields 14, 15)
        with open(f"/proc/{p}/io") as f:
            io = dict(line.split(": ") for line in f.read().splitlines())
        rchar += int(io["rchar"])
        wchar += int(io["wchar"])
    return cpu, rchar, wchar


def run_wrk(args):
    """Runs wrk, returns (stdout, client CPU seconds)."""
    p = subprocess.Popen(["wrk"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError("wrk failed: " + out)
    return out, ru.ru_utime + ru.ru_stime


def measure(server_pid, url, size, put, conns, seconds, script=None, headers=()):
    args = ["-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "60s"]
    if script:
        args += ["-s", script]
    for h in headers:
        args += ["-H", h]
    args.append(url)
    c0, r0, w0 = proc_cpu(server_pid)
    out, client_cpu = run_wrk(args)
    time.sleep(0.2)  # let the server finish the last responses it was writing
    c1, r1, w1 = proc_cpu(server_pid)
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise RuntimeError("cannot parse wrk output: " + out)
    reqs = int(m.group(1))
    if "Non-2xx" in out or "Socket errors" in out and re.search(r"(read|write|timeout) [1-9]", out):
        raise RuntimeError("wrk saw errors: " + out)
    # GET: the server's sendfile bytes; PUT: the bytes it writes into its store (recvmsg is
    # not counted in rchar). Either counts requests cut off at the end of the run.
    payload = w1 - w0
    if size == 0:
        payload = 0
    return {"server_cpu": c1 - c0, "client_cpu": client_cpu, "reqs": reqs, "bytes": payload}


def start(cmd, env=None, wait_line=None, port=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE if wait_line else subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, text=True)
    if wait_line:
        line = p.stdout.readline()
        if not line.startswith(wait_line):
            raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
        return p, int(line.strip().rsplit(":", 1)[1])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{cmd[0]} did not listen on {port}")


def curl(*args):
    subprocess.run(["curl", "-sf", "-o", "/dev/null"] + list(args), check=True)


def child_cpu(cmd, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"{cmd} failed: {err}")
    return ru.ru_utime + ru.ru_stime


def client_probe(label, make_cmd, size, reps, env=None):
    """CPU per GB of one client process transferring a `size`-byte object, minus the same
    client transferring a 0-byte object (start-up, signing, connection): median of reps."""
    vals = []
    for _ in range(reps):
        full = child_cpu(make_cmd(True), env)
        empty = child_cpu(make_cmd(False), env)
        vals.append((full - empty) / (size / 1e9))
    return statistics.median(vals)


def md5_cost():
    """Core-seconds per GB of MD5 (the ETag every S3 PUT computes), OpenSSL via hashlib."""
    import hashlib
    buf = os.urandom(1 << 20)
    h = hashlib.md5()
    t0 = time.process_time()
    for _ in range(1024):
        h.update(buf)
    return (time.process_time() - t0) / ((1 << 30) / 1e9)


def memcpy_cost(work):
    src = os.path.join(HERE, "memcpy_cost.cc")
    exe = os.path.join(work, "memcpy_cost")
    subprocess.run(["g++", "-O2", "-std=c++20", "-o", exe, src], check=True)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([\d.]+) s/GB", out).group(1)), out.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("s3rdma")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one size per kind, one rep (smoke test)")
    ap.add_argument("--only", default="", help="regex over 'server op size': run only matching cases")
    ap.add_argument("--no-clients", action="store_true", help="skip the real-client probes")
    o = ap.parse_args()
    work = tempfile.mkdtemp(prefix="s3rdma-calib-")
    procs = []
    try:
        sizes = {"64MiB": 64 << 20, "8MiB": 8 << 20, "1MiB": 1 << 20, "4KiB": 4096, "0B": 0}
        os.makedirs(f"{work}/www/calib")
        os.makedirs(f"{work}/nginx")
        for name, n in sizes.items():
            with open(f"{work}/www/calib/{name}", "wb") as f:
                f.write(os.urandom(n))
        os.chmod(work, 0o755)
        for root, dirs, files in os.walk(f"{work}/www"):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for fn in files:
                os.chmod(os.path.join(root, fn), 0o644)
        env = dict(os.environ, S3RDMA_CREDENTIALS=f"{KEY[0]}:{KEY[1]}")
        servers = {}
        for label, store in (("s3rdma-memory", ["--memory"]), ("s3rdma-fs", ["--data-dir", f"{work}/data"])):
            p, port = start([o.s3rdma, "serve", "--port", "0", "--anonymous"] + store, env=env,
                            wait_line="listening on")
            procs.append(p)
            ep = f"http://127.0.0.1:{port}"
            curl("-X", "PUT", f"{ep}/calib")
            for name in sizes:
                curl("-X", "PUT", "--data-binary", f"@{work}/www/calib/{name}", f"{ep}/calib/{name}")
            servers[label] = (p.pid, ep)
        nport = free_port()
        with open(f"{work}/nginx/nginx.conf", "w") as f:
            # PUT through the WebDAV module (nginx-light has it): the body goes to a temporary
            # file, then is renamed into place: a TCP server's receive path without S3 work.
            f.write(f"""user root; worker_processes 1; daemon off; error_log {work}/nginx/error.log warn;
pid {work}/nginx/nginx.pid; events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path {work}/nginx/body; client_max_body_size 0;
  server {{ listen 127.0.0.1:{nport}; root {work}/www; location /put/ {{ dav_methods PUT; }} }} }}
""")
        os.makedirs(f"{work}/www/put")
        p, _ = start(["/usr/sbin/nginx", "-p", f"{work}/nginx", "-c", f"{work}/nginx/nginx.conf"], port=nport)
        procs.append(p)
        servers["nginx"] = (p.pid, f"http://127.0.0.1:{nport}")
        for label, (_, ep) in servers.items():  # same bytes everywhere
            for name in sizes:
                got = subprocess.run(["curl", "-sf", f"{ep}/calib/{name}"], capture_output=True, check=True).stdout
                with open(f"{work}/www/calib/{name}", "rb") as f:
                    if got != f.read():
                        raise RuntimeError(f"{label} serves wrong bytes for {name}")

        # PUT scripts: one body per size, built once by wrk.
        put_scripts = {}
        for name in ("64MiB", "8MiB", "1MiB"):
            s = f"{work}/put_{name}.lua"
            with open(s, "w") as f:
                f.write(f'wrk.method = "PUT"\nwrk.body = string.rep("x", {sizes[name]})\n')
            put_scripts[name] = s
        sign = os.path.join(HERE, "..", "..", "bench", "s3http", "sign_headers.py")

        cases = []  # (label, server, op, size name, conns, script, headers)
        large = ["64MiB", "8MiB", "1MiB"] if not o.quick else ["8MiB"]
        small = ["4KiB", "0B"] if not o.quick else ["0B"]
        for srv in ("s3rdma-memory", "s3rdma-fs", "nginx"):
            for name in large:
                cases.append((srv, "GET", name, 4, None, ()))
            for name in small:
                cases.append((srv, "GET", name, 32, None, ()))
        for name in large:
            cases.append(("nginx", "PUT", name, 4, put_scripts[name], ()))
        for srv in ("s3rdma-memory", "s3rdma-fs"):
            for name in large:
                cases.append((srv, "PUT", name, 4, put_scripts[name], ()))
            ep = servers[srv][1]
            hdr = subprocess.run(["/usr/bin/python3", sign, "header", ep, "/calib/0B"],
                                 capture_output=True, text=True, check=True).stdout.split("\n")
            hdr = [h for h in hdr if h and h != "-H"]
            cases.append((srv, "GET-SigV4", "0B", 32, None, tuple(hdr)))

        cases = [c for c in cases if re.search(o.only, f"{c[0]} {c[1]} {c[2]}")]
        la = os.getloadavg()
        print(f"# load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; {o.reps} reps x {o.seconds} s; "
              f"wrk -t1; median of reps", flush=True)
        print("| server | op | size | conns | server s/GB | client s/GB | server us/req | client us/req | GB/s | req/s | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        results = {}
        for srv, op, name, conns, script, headers in cases:
            pid, ep = servers[srv]
            runs = []
            for _ in range(o.reps):
                la1 = os.getloadavg()[0]
                path = "put" if (srv == "nginx" and op == "PUT") else "calib"
                r = measure(pid, f"{ep}/{path}/{name}", sizes[name], op == "PUT", conns, o.seconds, script, headers)
                r["load"] = la1
                runs.append(r)
            med = lambda k: statistics.median(k(r) for r in runs)
            # Objects served per run: completed requests for small objects; for large ones the
            # payload bytes / size, which counts a request cut off at the end of the run (a
            # 64 MiB PUT to a slow server may not complete within a short run at all).
            objs = lambda r: r["reqs"] if sizes[name] <= 4096 else r["bytes"] / sizes[name]
            gb = lambda r: r["bytes"] / 1e9
            row = {
                "server_s_per_gb": med(lambda r: r["server_cpu"] / gb(r)) if sizes[name] else None,
                "client_s_per_gb": med(lambda r: r["client_cpu"] / gb(r)) if sizes[name] else None,
                "server_us_per_req": med(lambda r: r["server_cpu"] / objs(r) * 1e6),
                "client_us_per_req": med(lambda r: r["client_cpu"] / objs(r) * 1e6),
                "gbps": med(lambda r: gb(r) / o.seconds),
                "rps": med(lambda r: objs(r) / o.seconds),
                "load": med(lambda r: r["load"]),
            }
            results[(srv, op, name)] = row
            f = lambda v, fmt: "-" if v is None else fmt % v
            print(f"| {srv} | {op} | {name} | {conns} | {f(row['server_s_per_gb'], '%.3f')} | "
                  f"{f(row['client_s_per_gb'], '%.3f')} | {row['server_us_per_req']:.1f} | "
                  f"{row['client_us_per_req']:.1f} | {row['gbps']:.2f} | {row['rps']:.0f} | {row['load']:.1f} |",
                  flush=True)
        mc, mc_out = memcpy_cost(work)
        print(f"# memcpy probe: {mc_out}")
        md5 = md5_cost()
        print(f"# md5 probe (hashlib/OpenSSL, 1 GiB in 1 MiB updates): {md5:.3f} s/GB")

        # Real S3 clients, one process per object, against the filesystem store (signed).
        ep = servers["s3rdma-fs"][1]
        big_n = sizes["64MiB"]
        cenv = dict(os.environ, AWS_ACCESS_KEY_ID=KEY[0], AWS_SECRET_ACCESS_KEY=KEY[1],
                    AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        obj = lambda full: "64MiB" if full else "0B"
        probes = [
            # Downloads go to stdout (opened on /dev/null). Never name /dev/null as the output
            # file: `s3rdma get` writes FILE.s3rdma-partial and renames it over FILE.
            ("s3rdma get (C++ client, to stdout)", "GET",
             lambda full: [o.s3rdma, "get", f"s3://calib/{obj(full)}", "-", "--endpoint", ep]),
            ("s3rdma put (C++ client, SigV4 payload hash)", "PUT",
             lambda full: [o.s3rdma, "put", f"{work}/www/calib/{obj(full)}", f"s3://calib/probe-{obj(full)}",
                           "--endpoint", ep]),
            ("curl GET (anonymous, to stdout)", "GET",
             lambda full: ["curl", "-sf", f"{ep}/calib/{obj(full)}"]),
        ]
        if os.path.exists("/usr/bin/aws") and not o.quick:
            probes.append(("aws s3 cp GET (Debian aws cli v2, to stdout)", "GET",
                           lambda full: ["/usr/bin/aws", "--endpoint-url", ep, "s3", "cp",
                                         f"s3://calib/{obj(full)}", "-", "--quiet"]))
        client = {}
        if o.no_clients:
            probes = []
        print("\n| client | op | client s/GB (64 MiB minus 0 B) |\n|---|---|---|")
        for label, op, mk in probes:
            v = client_probe(label, mk, big_n, o.reps, cenv)
            client[label] = v
            print(f"| {label} | {op} | {v:.3f} |", flush=True)

        # The constants docs/models.md takes. Per byte: for each large size, CPU per GB minus
        # the 0-byte GET's CPU per request spread over the size, then the median over the sizes
        # (the loopback split between the two processes varies with size; see the docstring).
        def per_byte(srv, op, who):
            zero = results.get((srv, "GET", "0B"))
            vals = []
            for name in large:
                r = results.get((srv, op, name))
                if r is None:
                    continue
                base = zero[f"{who}_us_per_req"] if zero else 0.0
                vals.append(r[f"{who}_s_per_gb"] - base * 1e-6 / (sizes[name] / 1e9))
            return statistics.median(vals) if vals else None

        def net(srv, op, name, who):
            """One size's s/GB net of its server's 0-byte GET cost spread over the size."""
            r = results.get((srv, op, name))
            if r is None or r[f"{who}_s_per_gb"] is None:
                return None
            zero = results.get((srv, "GET", "0B"))
            base = zero[f"{who}_us_per_req"] if zero else 0.0
            return r[f"{who}_s_per_gb"] - base * 1e-6 / (sizes[name] / 1e9)

        def get(srv, op, name, key):
            r = results.get((srv, op, name))
            return None if r is None else r[key]

        def show(label, v, unit):
            print(f"{label}: {'-' if v is None else '%.3f' % v} {unit}")

        print("\n# constants (per byte: median over sizes, net of the 0-byte request cost)")
        show("tcp.server_send_cpu_per_gb = s3rdma-fs GET server", per_byte("s3rdma-fs", "GET", "server"), "s/GB")
        show("tcp.client_recv_cpu_per_gb = s3rdma-fs GET client (wrk)", per_byte("s3rdma-fs", "GET", "client"), "s/GB")
        # The storage server's receive cost is what s3rdma serve spends on a durable PUT
        # (receive, MD5, write, fsync, rename), at the claims scenarios' 8 MiB objects.
        show("tcp.server_recv_cpu_per_gb = s3rdma-fs PUT server, 8 MiB", net("s3rdma-fs", "PUT", "8MiB", "server"), "s/GB")
        show("s3rdma-fs PUT server, 64 MiB", net("s3rdma-fs", "PUT", "64MiB", "server"), "s/GB")
        show("s3rdma-fs PUT server, median over sizes", per_byte("s3rdma-fs", "PUT", "server"), "s/GB")
        show("s3rdma-memory PUT server (no write, no fsync), median over sizes",
             per_byte("s3rdma-memory", "PUT", "server"), "s/GB")
        nginx_put = per_byte("nginx", "PUT", "server")
        show("nginx PUT server (receive to a file, no S3 work)", nginx_put, "s/GB")
        show("comparison: nginx PUT server + MD5", None if nginx_put is None else nginx_put + md5, "s/GB")
        show("tcp.client_send_cpu_per_gb = nginx PUT client (wrk)", per_byte("nginx", "PUT", "client"), "s/GB")
        show("s3rdma-memory GET server", per_byte("s3rdma-memory", "GET", "server"), "s/GB")
        show("nginx GET server (sendfile, lower bound)", per_byte("nginx", "GET", "server"), "s/GB")
        show("http.server_cpu_per_request = s3rdma-fs SigV4 0-byte GET", get("s3rdma-fs", "GET-SigV4", "0B", "server_us_per_req"), "us")
        show("s3rdma-memory SigV4 0-byte GET", get("s3rdma-memory", "GET-SigV4", "0B", "server_us_per_req"), "us")
        show("http.client_cpu_per_request = wrk 0-byte GET (s3rdma-fs)", get("s3rdma-fs", "GET", "0B", "client_us_per_req"), "us")
        show("nginx 0-byte GET server", get("nginx", "GET", "0B", "server_us_per_req"), "us")
        show("tcp.copy_cpu_per_gb = memcpy", mc, "s/GB")
        show("MD5 (S3 PUT ETag)", md5, "s/GB")
        for label, v in client.items():
            show(f"client probe: {label}", v, "s/GB")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
