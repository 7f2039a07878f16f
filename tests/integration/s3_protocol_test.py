#!/usr/bin/python3
"""HTTP-level behaviour of `s3rdma serve` that S3 SDKs rarely exercise: malformed requests get
a 4xx S3 error and the server carries on, header-size and object-size limits, Expect:
100-continue (accepted and refused), keep-alive, anonymous-read buckets.

Usage: s3_protocol_test.py S3RDMA_BINARY
"""
import hashlib
import os
import socket
import sys
import unittest

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_server import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402

SERVER = None


def signed_head(method, path, body=b"", extra=None):
    host = f"127.0.0.1:{SERVER.port}"
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                     headers=dict(extra or {}))
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect():
    s = socket.create_connection(("127.0.0.1", SERVER.port), timeout=10)
    return s


def read_response(s):
    """Reads one response (status, headers, body) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length], rest[length:]


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s = connect()
        s.sendall(signed_head("PUT", "/proto-bucket"))
        assert read_response(s)[0] == 200
        s.sendall(signed_head("PUT", "/public-bucket"))
        assert read_response(s)[0] == 200
        body = b"public bytes"
        s.sendall(signed_head("PUT", "/public-bucket/obj", body) + body)
        assert read_response(s)[0] == 200
        s.close()

    def assert_alive(self):
        s = connect()
        s.sendall(signed_head("GET", "/"))
        status, _, body, _ = read_response(s)
        s.close()
        self.assertEqual(status, 200)
        self.assertIn(b"proto-bucket", body)

    def test_garbage_gets_400_and_server_carries_on(self):
        for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET\r\n\r\n", b"PUT /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"]:
            s = connect()
            s.sendall(junk)
            try:
                status, _, body, _ = read_response(s)
                self.assertGreaterEqual(status, 400, junk)
                self.assertLess(status, 500, junk)
                self.assertIn(b"<Error>", body)
            except ConnectionError:
                pass  # closing on unparseable bytes is also fine
            s.close()
        self.assert_alive()

    def test_header_limit(self):
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        status, _, body, _ = read_response(s)
        s.close()
        self.assertEqual(status, 400)
        self.assertIn(b"RequestHeaderSectionTooLarge", body)
        self.assert_alive()

    def test_object_size_limit_refused_before_body(self):
        s = connect()
        head = signed_head("PUT", "/proto-bucket/huge", b"x" * (9 << 20),
                           {"Expect": "100-continue"})
        s.sendall(head)
        status, headers, body, _ = read_response(s)  # no 100 Continue: a final answer
        s.close()
        self.assertEqual(status, 400)
        self.assertIn(b"EntityTooLarge", body)
        self.assert_alive()

    def test_expect_continue_and_keep_alive(self):
        s = connect()
        body = b"y" * 100000
        s.sendall(signed_head("PUT", "/proto-bucket/cont", body, {"Expect": "100-continue"}))
        interim = s.recv(25)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue"), interim)
        s.sendall(body)
        status, headers, _, _ = read_response(s)
        self.assertEqual(status, 200)
        self.assertEqual(headers["etag"], '"%s"' % hashlib.md5(body).hexdigest())
        # Same connection, pipelined GETs.
        s.sendall(signed_head("GET", "/proto-bucket/cont") + signed_head("HEAD", "/proto-bucket/cont"))
        status, _, got, rest = read_response(s)
        self.assertEqual((status, got), (200, body))
        self.assertTrue(rest.startswith(b"HTTP/1.1 200") or rest == b"")
        s.close()
        # Unauthorized PUT with Expect: refused without reading the body.
        s = connect()
        s.sendall(b"PUT /proto-bucket/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        status, _, body, _ = read_response(s)
        s.close()
        self.assertEqual(status, 403)
        self.assertIn(b"AccessDenied", body)

    def test_client_vanishing_mid_response(self):
        # Large bodies go out with sendfile(2): a peer that resets the connection mid-body
        # must not kill the server (SIGPIPE).
        import struct
        body = os.urandom(8 << 20)
        s = connect()
        s.sendall(signed_head("PUT", "/proto-bucket/large", body) + body)
        self.assertEqual(read_response(s)[0], 200)
        s.close()
        for i in range(10):
            s = connect()
            s.sendall(signed_head("GET", "/proto-bucket/large"))
            s.recv(100)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # FIN or RST while the server is still sending
        self.assert_alive()

    def test_bad_requests_on_one_connection(self):
        s = connect()
        for path, code in [("/proto-bucket/%ZZ", 400), ("/no-such-bucket/k", 404),
                           ("/proto-bucket/missing", 404), ("/proto-bucket?acl", 501),
                           ("/proto-bucket/cont?uploadId=00000000000000000000000000000000", 404)]:
            s.sendall(signed_head("GET", path))
            status, _, body, _ = read_response(s)
            self.assertEqual(status, code, path)
            self.assertIn(b"<Code>", body)
        s.close()

    def test_anonymous_read_bucket(self):
        s = connect()
        s.sendall(b"GET /public-bucket/obj HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, _ = read_response(s)
        self.assertEqual((status, body), (200, b"public bytes"))
        s.sendall(b"PUT /public-bucket/obj HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
        status, _, body, _ = read_response(s)
        self.assertEqual(status, 403)
        s.close()
        s = connect()
        s.sendall(b"GET /proto-bucket/cont HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(s)[0], 403)
        s.close()


def main():
    global SERVER
    with S3Server(sys.argv[1], memory=True,
                  extra_args=["--max-object-size", "8MiB", "--anonymous-read", "public-bucket"]) as srv:
        SERVER = srv
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:], exit=False)
        alive = srv.proc.poll() is None
    sys.exit(0 if prog.result.wasSuccessful() and alive else 1)


if __name__ == "__main__":
    main()
