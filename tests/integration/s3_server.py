"""Starts `s3rdma serve` for a test: free port, temporary data dir, bounded time, cleanup.

Usage:
    with S3Server(s3rdma_binary, memory=True) as srv:
        srv.endpoint  # "http://127.0.0.1:PORT"
"""
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

ACCESS_KEY = "AKIDS3RDMATEST"
SECRET_KEY = "s3rdma/test+secret+key"
OTHER_ACCESS_KEY = "AKIDSECONDUSER"
OTHER_SECRET_KEY = "second-secret"


class S3Server:
    def __init__(self, binary, memory=False, data_dir=None, extra_args=(), env=None):
        self.binary = binary
        self.memory = memory
        self.own_dir = None
        if not memory and data_dir is None:
            self.own_dir = tempfile.mkdtemp(prefix="s3rdma-it-")
            data_dir = os.path.join(self.own_dir, "data")
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env["S3RDMA_CREDENTIALS"] = (
            f"{ACCESS_KEY}:{SECRET_KEY},{OTHER_ACCESS_KEY}:{OTHER_SECRET_KEY}")
        self.env.pop("AWS_ACCESS_KEY_ID", None)
        self.env.pop("AWS_SECRET_ACCESS_KEY", None)
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None

    def start(self, timeout=20):
        args = [self.binary, "serve", "--port", "0"]
        args += ["--memory"] if self.memory else ["--data-dir", self.data_dir]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=None, env=self.env)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        text = line.decode(errors="replace").strip()
        if not text.startswith("listening on "):
            self.kill()
            raise RuntimeError(f"server did not start (first line: {text!r})")
        self.port = int(text.rsplit(":", 1)[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.own_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
