#!/usr/bin/python3
"""Crash safety of the filesystem store: kill -9 `s3rdma serve` in the middle of a stream of
PUTs (with overwrites) and multipart uploads, restart it on the same data directory, and check:
every PUT that was answered 200 reads back byte-identical (or as a later version of that key
whose request was in flight at the kill), no object is torn, nothing temporary is listed or
left in the data directory. Repeated at several seeded kill points.

Usage: s3_crash_test.py S3RDMA_BINARY
"""
import hashlib
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import warnings

import boto3
import botocore
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_server import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402

SEED = int(os.environ.get("S3RDMA_TEST_SEED", "4242"))
ROUNDS = 4
THREADS = 4
BUCKET = "crash"
MIN_PART = 1024 * 1024


def client(endpoint):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                 connect_timeout=5, read_timeout=30)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=cfg)


def content(key, version, size):
    return random.Random(f"{SEED}/{key}/{version}").randbytes(size)


class Ledger:
    """What was attempted and what was acknowledged, per key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted = {}  # key -> {version: md5}
        self.acked = {}      # key -> highest acknowledged version

    def attempt(self, key, version, data):
        with self.lock:
            self.attempted.setdefault(key, {})[version] = hashlib.md5(data).hexdigest()

    def ack(self, key, version):
        with self.lock:
            self.acked[key] = max(version, self.acked.get(key, -1))


def writer(endpoint, ledger, rnd, tid, stop):
    s3 = client(endpoint)
    rng = random.Random(f"{SEED}/writer/{rnd}/{tid}")
    i = 0
    try:
        while not stop.is_set():
            i += 1
            if rng.random() < 0.15:
                key = f"r{rnd}/t{tid}/multipart-{i}"
                parts = [content(key, 0, MIN_PART)[:MIN_PART], content(key, 1, MIN_PART),
                         content(key, 2, rng.randint(1, 300000))]
                data = b"".join(parts)
                ledger.attempt(key, 0, data)
                up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
                etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=n + 1,
                                        Body=p)["ETag"] for n, p in enumerate(parts)]
                s3.complete_multipart_upload(
                    Bucket=BUCKET, Key=key, UploadId=up,
                    MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                               for n, e in enumerate(etags)]})
                ledger.ack(key, 0)
            else:
                # Overwrites of a small set of keys, one writer per key: versions are ordered.
                key = f"t{tid}/obj-{rng.randint(0, 9)}"
                with ledger.lock:
                    version = max(ledger.attempted.get(key, {-1: None})) + 1
                data = content(key, version, rng.choice([0, 1, 1000, 65536, 300000, 2000000]))
                ledger.attempt(key, version, data)
                s3.put_object(Bucket=BUCKET, Key=key, Body=data)
                ledger.ack(key, version)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        pass  # the server was killed


def verify(endpoint, ledger, data_dir):
    s3 = client(endpoint)
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            listed[o["Key"]] = o
    errors = []
    for key, obj in listed.items():
        versions = ledger.attempted.get(key)
        if versions is None:
            errors.append(f"listed key {key!r} was never written")
            continue
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        md5 = hashlib.md5(body).hexdigest()
        if md5 not in versions.values():
            errors.append(f"{key!r}: {len(body)} bytes match no version written (torn?)")
            continue
        version = [v for v, m in versions.items() if m == md5][-1]
        if version < ledger.acked.get(key, -1):
            errors.append(f"{key!r}: holds version {version}, older than acknowledged "
                          f"{ledger.acked[key]}")
        if obj["Size"] != len(body):
            errors.append(f"{key!r}: listed size {obj['Size']} != {len(body)}")
    for key, version in ledger.acked.items():
        if key not in listed:
            errors.append(f"acknowledged {key!r} (version {version}) is missing")
    leftovers = os.listdir(os.path.join(data_dir, "tmp"))
    if leftovers:
        errors.append(f"temporary files left after restart: {leftovers[:5]}")
    return errors, len(listed)


def main():
    warnings.simplefilter("ignore", ResourceWarning)
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="s3rdma-crash-")
    data_dir = os.path.join(work, "data")
    ledger = Ledger()
    rng = random.Random(SEED)
    args = ["--min-part-size", str(MIN_PART)]
    failures = []
    try:
        with S3Server(binary, data_dir=data_dir, extra_args=args) as srv:
            client(srv.endpoint).create_bucket(Bucket=BUCKET)
        for rnd in range(ROUNDS):
            srv = S3Server(binary, data_dir=data_dir, extra_args=args).start()
            errors, count = verify(srv.endpoint, ledger, data_dir)
            failures += [f"before round {rnd}: {e}" for e in errors]
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(srv.endpoint, ledger, rnd, t, stop))
                       for t in range(THREADS)]
            for t in threads:
                t.start()
            delay = rng.uniform(0.5, 2.0)
            time.sleep(delay)
            srv.kill()  # SIGKILL mid-stream
            stop.set()
            for t in threads:
                t.join(timeout=60)
            print(f"round {rnd}: killed after {delay:.2f}s; {count} objects verified at start; "
                  f"{sum(len(v) for v in ledger.attempted.values())} writes attempted so far, "
                  f"{len(ledger.acked)} keys acknowledged")
        with S3Server(binary, data_dir=data_dir, extra_args=args) as srv:
            errors, count = verify(srv.endpoint, ledger, data_dir)
            failures += [f"final: {e}" for e in errors]
            print(f"final: {count} objects verified")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    if failures:
        print(f"FAILED (seed {SEED}; rerun with S3RDMA_TEST_SEED={SEED})")
        sys.exit(1)
    print("PASS: crash safety")


if __name__ == "__main__":
    main()
