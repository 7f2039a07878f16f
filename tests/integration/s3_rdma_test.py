#!/usr/bin/python3
"""S3-over-RDMA between two processes on the UDP software NIC: `s3rdma serve --rdma udp` and
`s3rdma put/get --rdma udp`, mixed on the same server with boto3 and the aws cli over plain
HTTP. Objects written over RDMA are read back over HTTP and vice versa; bytes are compared by
SHA-256. Also: several client processes at once (each its own 127.x.y.z address), the
fallback to HTTP on a server without RDMA, usage errors.

Usage: s3_rdma_test.py S3RDMA_BINARY
"""
import concurrent.futures
import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_server import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402

BINARY = None
SEED = int(os.environ.get("S3RDMA_TEST_SEED", "20261127"))
AWS = "/usr/bin/aws"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def env_for(work):
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
               AWS_CONFIG_FILE=os.path.join(work, "none"),
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "none"))
    return env


class RdmaEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="s3rdma-rdma-it-")
        cls.env = env_for(cls.work)
        cls.server = S3Server(BINARY, memory=True, extra_args=["--rdma", "udp"]).start()
        cls.plain = S3Server(BINARY, memory=True).start()
        cls.rng = random.Random(SEED)
        cls.s3 = cls.boto(cls.server)
        cls.s3.create_bucket(Bucket="rdma")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.plain.cleanup()
        shutil.rmtree(cls.work, ignore_errors=True)

    @staticmethod
    def boto(server):
        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                     connect_timeout=10, read_timeout=60)
        return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=cfg)

    def cli(self, *args, server=None, check=True, timeout=60):
        server = server or self.server
        p = subprocess.run([BINARY, *args, "--endpoint", server.endpoint], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"s3rdma {' '.join(args)} exited {p.returncode} (seed {SEED}): "
                      f"{p.stdout}{p.stderr}")
        return p

    def file(self, name, size):
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(self.rng.randbytes(size))
        return path

    def test_put_by_rdma_read_by_boto3_and_aws_cli(self):
        for size in (1, 4096, 3 << 20, (9 << 20) + 17):
            src = self.file(f"up-{size}", size)
            out = self.cli("put", src, f"s3://rdma/up/{size}", "--rdma", "udp").stdout
            self.assertIn("via RDMA", out)
            self.assertIn(f"({size} bytes", out)
            body = self.s3.get_object(Bucket="rdma", Key=f"up/{size}")["Body"].read()
            self.assertEqual(hashlib.sha256(body).hexdigest(), sha(src), f"size {size} seed {SEED}")
        dst = os.path.join(self.work, "aws-down")
        p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, "s3", "cp",
                            f"s3://rdma/up/{(9 << 20) + 17}", dst, "--only-show-errors"],
                           env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sha(dst), sha(os.path.join(self.work, f"up-{(9 << 20) + 17}")))

    def test_put_by_http_get_by_rdma(self):
        for size in (1, 70000, 5 << 20):
            data = self.rng.randbytes(size)
            self.s3.put_object(Bucket="rdma", Key=f"down/{size}", Body=data)
            dst = os.path.join(self.work, f"down-{size}")
            out = self.cli("get", f"s3://rdma/down/{size}", dst, "--rdma", "udp").stdout
            self.assertIn("via RDMA", out)
            self.assertEqual(sha(dst), hashlib.sha256(data).hexdigest(), f"size {size} seed {SEED}")
        # An object uploaded with aws cli (multipart over HTTP) read back by RDMA.
        src = self.file("aws-up", 20 << 20)
        p = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, "s3", "cp", src,
                            "s3://rdma/aws/big", "--only-show-errors"],
                           env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        dst = os.path.join(self.work, "aws-big-down")
        self.cli("get", "s3://rdma/aws/big", dst, "--rdma", "udp")
        self.assertEqual(sha(dst), sha(src))

    def test_empty_object(self):
        src = self.file("empty", 0)
        self.cli("put", src, "s3://rdma/empty", "--rdma", "udp")
        self.assertEqual(self.s3.head_object(Bucket="rdma", Key="empty")["ContentLength"], 0)
        dst = os.path.join(self.work, "empty-down")
        self.cli("get", "s3://rdma/empty", dst, "--rdma", "udp")
        self.assertEqual(os.path.getsize(dst), 0)

    def test_get_into_a_fifo_keeps_it_a_fifo(self):
        # `get` renames a finished download over a regular file, but must write special
        # files (FIFOs, /dev/null) in place: renaming over them replaces the node.
        data = self.rng.randbytes(300000)
        self.s3.put_object(Bucket="rdma", Key="fifo", Body=data)
        for rdma in (["--rdma", "udp"], []):
            fifo = os.path.join(self.work, "fifo-" + str(len(rdma)))
            os.mkfifo(fifo)
            got = {}
            def drain():
                with open(fifo, "rb") as f:
                    got["bytes"] = f.read()
            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            self.cli("get", "s3://rdma/fifo", fifo, *rdma)
            reader.join(timeout=30)
            self.assertFalse(reader.is_alive(), f"reader never saw EOF (seed {SEED})")
            self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode), f"{rdma} replaced the FIFO")
            self.assertEqual(got.get("bytes"), data, f"{rdma} seed {SEED}")
            self.assertEqual([n for n in os.listdir(self.work) if n.endswith("-partial")], [])

    def test_several_client_processes_at_once(self):
        srcs = [self.file(f"par-{i}", 1_000_000 + i) for i in range(6)]

        def one(i):
            self.cli("put", srcs[i], f"s3://rdma/par/{i}", "--rdma", "udp")
            dst = os.path.join(self.work, f"par-{i}-down")
            self.cli("get", f"s3://rdma/par/{i}", dst, "--rdma", "udp")
            return sha(dst) == sha(srcs[i])

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            self.assertTrue(all(pool.map(one, range(6))), f"seed {SEED}")

    def test_missing_object_and_bucket(self):
        p = self.cli("get", "s3://rdma/no/such/key", os.path.join(self.work, "x"), "--rdma", "udp",
                     check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("s3rdma: error:", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.work, "x")))
        p = self.cli("put", self.file("nb", 10), "s3://nosuchbucket/k", "--rdma", "udp",
                     check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NoSuchBucket", p.stderr)

    def test_server_without_rdma(self):
        plain = self.boto(self.plain)
        plain.create_bucket(Bucket="plain")
        src = self.file("fb", 100000)
        p = self.cli("put", src, "s3://plain/k", "--rdma", "udp", server=self.plain, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("NotImplemented", p.stderr)
        with self.assertRaises(Exception):
            plain.head_object(Bucket="plain", Key="k")  # nothing stored
        out = self.cli("put", src, "s3://plain/k", "--rdma", "udp", "--rdma-fallback",
                       server=self.plain).stdout
        self.assertIn("via HTTP (fallback)", out)
        dst = os.path.join(self.work, "fb-down")
        out = self.cli("get", "s3://plain/k", dst, "--rdma", "udp", "--rdma-fallback",
                       server=self.plain).stdout
        self.assertIn("via HTTP (fallback)", out)
        self.assertEqual(sha(dst), sha(src))

    def test_bench_s3_both_transports(self):
        import json
        for transport in ("rdma", "tcp"):
            for op in ("get", "put"):
                out = self.cli("bench", "s3", "--transport", transport, "--op", op, "--size",
                               "64KiB", "--concurrency", "3", "--count", "30", "--server-pid",
                               str(self.server.proc.pid), "--json").stdout
                r = json.loads(out)
                self.assertEqual((r["transport"], r["op"], r["requests"]), (transport, op, 30))
                self.assertEqual(r["size_bytes"], 65536)
                self.assertGreater(r["gbytes_per_s"], 0)
                self.assertGreaterEqual(r["latency_p99_us"], r["latency_p50_us"])
                self.assertIn("server_cpu_s_per_gb", r)
                if transport == "rdma":
                    self.assertEqual(r["connections"], 3)
                    self.assertEqual(r["rdma_fallbacks"], 0)
        p = self.cli("bench", "s3", "--transport", "udp", check=False)
        self.assertEqual(p.returncode, 2)
        p = self.cli("bench", "s3", "--count", "5", "--duration", "1s", check=False)
        self.assertEqual(p.returncode, 2)
        # Against a server without RDMA the RDMA bench fails clearly instead of measuring HTTP.
        p = self.cli("bench", "s3", "--transport", "rdma", "--count", "5", server=self.plain,
                     check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("NotImplemented", p.stderr)

    def test_usage_errors(self):
        p = self.cli("get", "s3://rdma/k", "x", "--pcap", "/tmp/x.pcap", check=False)
        self.assertEqual(p.returncode, 2)
        p = self.cli("get", "s3://rdma/k", "x", "--rdma", "tcp", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--rdma must be udp", p.stderr)


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
