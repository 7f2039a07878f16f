#!/usr/bin/python3
"""boto3 (Debian python3-boto3) against `s3rdma serve`: every supported operation, the error
codes, paginators over more than 1000 keys with delimiters and url encoding.

Usage: s3_boto3_test.py S3RDMA_BINARY [--store memory|fs]
"""
import base64
import concurrent.futures
import datetime
import hashlib
import http.client
import os
import random
import sys
import threading
import time
import unittest
import warnings
import urllib.error
import urllib.parse
import urllib.request
import zlib
from unittest import mock

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s3_server import (ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY,  # noqa: E402
                       S3Server)

BINARY = None
STORE = "memory"
SEED = int(os.environ.get("S3RDMA_TEST_SEED", "20261127"))
SERVER = None


def client(access=ACCESS_KEY, secret=SECRET_KEY, style="path", unsigned=False):
    cfg = Config(s3={"addressing_style": style}, retries={"max_attempts": 1},
                 signature_version=botocore.UNSIGNED if unsigned else "s3v4",
                 connect_timeout=10, read_timeout=60)
    return boto3.client("s3", endpoint_url=SERVER.endpoint, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1", config=cfg)


def error_code(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def raw_request(method, path, headers=None, body=b"", host=None, sign=True, when=None,
                payload_hash=None):
    """Sends one request with http.client, SigV4-signed by botocore's signer."""
    host = host or f"127.0.0.1:{SERVER.port}"
    headers = dict(headers or {})
    if sign:
        req = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=headers)
        req.headers["X-Amz-Content-SHA256"] = payload_hash or hashlib.sha256(body).hexdigest()
        creds = Credentials(ACCESS_KEY, SECRET_KEY)
        if when is not None:
            with mock.patch("botocore.auth.datetime") as dt:
                dt.datetime.utcnow.return_value = when
                SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
        else:
            SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    for k, v in headers.items():
        if k.lower() != "host":
            conn.putheader(k, v)
    if body or method in ("PUT", "POST"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body:
        conn.send(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def b64_crc(v):
    return base64.b64encode(v.to_bytes(4, "big")).decode()


class S3Boto3Test(unittest.TestCase):
    def setUp(self):
        self.s3 = client()
        self.rng = random.Random(SEED)

    def make_bucket(self, name):
        self.s3.create_bucket(Bucket=name)
        self.addCleanup(self.empty_and_delete, name)
        return name

    def empty_and_delete(self, name):
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            for u in self.s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
                self.s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
            self.s3.delete_bucket(Bucket=name)
        except ClientError:
            pass

    def test_buckets(self):
        self.make_bucket("bkt-ops")
        self.s3.head_bucket(Bucket="bkt-ops")
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn("bkt-ops", names)
        self.assertEqual(error_code(self.s3.create_bucket, Bucket="bkt-ops"),
                         "BucketAlreadyOwnedByYou")
        self.assertEqual(error_code(self.s3.create_bucket, Bucket="Bad_Name"), "InvalidBucketName")
        self.assertEqual(error_code(self.s3.head_bucket, Bucket="no-such-bucket"), "404")
        self.assertEqual(error_code(self.s3.delete_bucket, Bucket="no-such-bucket"), "NoSuchBucket")
        self.s3.put_object(Bucket="bkt-ops", Key="k", Body=b"x")
        self.assertEqual(error_code(self.s3.delete_bucket, Bucket="bkt-ops"), "BucketNotEmpty")
        self.s3.delete_object(Bucket="bkt-ops", Key="k")
        self.s3.delete_bucket(Bucket="bkt-ops")
        self.assertEqual(error_code(self.s3.head_bucket, Bucket="bkt-ops"), "404")
        loc = self.s3.get_bucket_location(Bucket=self.make_bucket("bkt-loc"))
        self.assertIsNone(loc.get("LocationConstraint"))

    def test_put_get_head_delete_with_metadata(self):
        b = self.make_bucket("bkt-objects")
        body = self.rng.randbytes(100_000)
        r = self.s3.put_object(Bucket=b, Key="dir/obj.bin", Body=body, ContentType="image/png",
                               Metadata={"color": "blue", "n": "1"}, CacheControl="no-cache",
                               ContentDisposition="attachment")
        self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        g = self.s3.get_object(Bucket=b, Key="dir/obj.bin")
        self.assertEqual(g["Body"].read(), body)
        self.assertEqual(g["ContentType"], "image/png")
        self.assertEqual(g["Metadata"], {"color": "blue", "n": "1"})
        self.assertEqual(g["CacheControl"], "no-cache")
        self.assertEqual(g["ContentDisposition"], "attachment")
        h = self.s3.head_object(Bucket=b, Key="dir/obj.bin")
        self.assertEqual(h["ContentLength"], len(body))
        self.assertEqual(h["ETag"], r["ETag"])
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="missing"), "NoSuchKey")
        self.assertEqual(error_code(self.s3.head_object, Bucket=b, Key="missing"), "404")
        self.assertEqual(error_code(self.s3.get_object, Bucket="no-such-bkt", Key="k"),
                         "NoSuchBucket")
        # Overwrite: last writer wins.
        self.s3.put_object(Bucket=b, Key="dir/obj.bin", Body=b"new")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="dir/obj.bin")["Body"].read(), b"new")
        self.s3.delete_object(Bucket=b, Key="dir/obj.bin")
        self.s3.delete_object(Bucket=b, Key="dir/obj.bin")  # deleting a missing key is fine
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="dir/obj.bin"), "NoSuchKey")
        # Empty object, odd keys.
        for key in ["empty", "a b/c+d=e&f?g#h", "ünïcødé/ключ", "x" * 1024]:
            self.s3.put_object(Bucket=b, Key=key, Body=b"" if key == "empty" else key.encode())
            got = self.s3.get_object(Bucket=b, Key=key)["Body"].read()
            self.assertEqual(got, b"" if key == "empty" else key.encode(), key)
        self.assertEqual(error_code(self.s3.put_object, Bucket=b, Key="x" * 1025, Body=b"x"),
                         "KeyTooLongError")

    def test_content_md5_and_checksums(self):
        b = self.make_bucket("bkt-digest")
        body = b"checksummed payload" * 100
        good_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.s3.put_object(Bucket=b, Key="ok", Body=body, ContentMD5=good_md5)
        bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        self.assertEqual(error_code(self.s3.put_object, Bucket=b, Key="bad", Body=body,
                                    ContentMD5=bad_md5), "BadDigest")
        self.assertEqual(error_code(self.s3.put_object, Bucket=b, Key="bad", Body=body,
                                    ContentMD5="notbase64!"), "InvalidDigest")
        self.assertEqual(error_code(self.s3.head_object, Bucket=b, Key="bad"), "404")
        for algo in ["CRC32", "SHA256"]:
            r = self.s3.put_object(Bucket=b, Key="ck-" + algo, Body=body, ChecksumAlgorithm=algo)
            g = self.s3.get_object(Bucket=b, Key="ck-" + algo, ChecksumMode="ENABLED")
            self.assertEqual(g["Body"].read(), body)  # botocore validates the checksum too
            self.assertEqual(g["Checksum" + algo], r["Checksum" + algo])
        self.assertEqual(r["ChecksumSHA256"], base64.b64encode(hashlib.sha256(body).digest()).decode())
        # CRC32C (botocore needs awscrt for it, so sign by hand) and wrong values.
        st, hdrs, _ = raw_request("PUT", f"/{b}/crc32c", {"x-amz-checksum-crc32c": b64_crc(crc32c(body))},
                                  body)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["x-amz-checksum-crc32c"], b64_crc(crc32c(body)))
        st, _, data = raw_request("PUT", f"/{b}/crc32-bad",
                                  {"x-amz-checksum-crc32": b64_crc(zlib.crc32(body) ^ 1)}, body)
        self.assertEqual(st, 400)
        self.assertIn(b"<Code>BadDigest</Code>", data)
        # A body that does not match its signed x-amz-content-sha256.
        st, _, data = raw_request("PUT", f"/{b}/sha-bad", {}, body,
                                  payload_hash=hashlib.sha256(b"not the body").hexdigest())
        self.assertEqual(st, 400)
        self.assertIn(b"XAmzContentSHA256Mismatch", data)

    def test_ranges_and_conditionals(self):
        b = self.make_bucket("bkt-range")
        body = bytes(range(256)) * 40
        etag = self.s3.put_object(Bucket=b, Key="r", Body=body)["ETag"]
        for rng, want in [("bytes=0-9", body[0:10]), ("bytes=10-", body[10:]),
                          ("bytes=-5", body[-5:]), ("bytes=100-99999", body[100:])]:
            g = self.s3.get_object(Bucket=b, Key="r", Range=rng)
            self.assertEqual(g["Body"].read(), want, rng)
            self.assertEqual(g["ResponseMetadata"]["HTTPStatusCode"], 206)
        g = self.s3.get_object(Bucket=b, Key="r", Range="bytes=0-9")
        self.assertEqual(g["ContentRange"], "bytes 0-9/%d" % len(body))
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="r",
                                    Range="bytes=%d-" % len(body)), "InvalidRange")
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="r", IfMatch='"nope"'),
                         "PreconditionFailed")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="r", IfMatch=etag)["Body"].read(), body)
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="r", IfNoneMatch=etag), "304")
        future = datetime.datetime.utcnow() + datetime.timedelta(days=1)
        past = datetime.datetime(2000, 1, 1)
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="r",
                                    IfModifiedSince=future), "304")
        self.assertEqual(error_code(self.s3.get_object, Bucket=b, Key="r",
                                    IfUnmodifiedSince=past), "PreconditionFailed")
        self.assertEqual(self.s3.get_object(Bucket=b, Key="r", IfModifiedSince=past)["Body"].read(),
                         body)
        self.assertEqual(error_code(self.s3.head_object, Bucket=b, Key="r", IfMatch='"x"'), "412")

    def test_copy_object(self):
        b = self.make_bucket("bkt-copy")
        self.s3.put_object(Bucket=b, Key="src", Body=b"copy me", ContentType="text/plain",
                           Metadata={"a": "1"})
        r = self.s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
        self.assertEqual(r["CopyObjectResult"]["ETag"], '"%s"' % hashlib.md5(b"copy me").hexdigest())
        g = self.s3.get_object(Bucket=b, Key="dst")
        self.assertEqual((g["Body"].read(), g["Metadata"], g["ContentType"]),
                         (b"copy me", {"a": "1"}, "text/plain"))
        self.s3.copy_object(Bucket=b, Key="dst2", CopySource=f"{b}/src", MetadataDirective="REPLACE",
                            Metadata={"b": "2"}, ContentType="application/json")
        h = self.s3.head_object(Bucket=b, Key="dst2")
        self.assertEqual((h["Metadata"], h["ContentType"]), ({"b": "2"}, "application/json"))
        self.assertEqual(error_code(self.s3.copy_object, Bucket=b, Key="src",
                                    CopySource={"Bucket": b, "Key": "src"}), "InvalidRequest")
        self.assertEqual(error_code(self.s3.copy_object, Bucket=b, Key="x",
                                    CopySource={"Bucket": b, "Key": "missing"}), "NoSuchKey")

    def test_delete_objects(self):
        b = self.make_bucket("bkt-batch")
        for i in range(10):
            self.s3.put_object(Bucket=b, Key=f"k{i}", Body=b"x")
        r = self.s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": f"k{i}"} for i in range(5)]
                                                     + [{"Key": "never-existed"}]})
        self.assertEqual(sorted(d["Key"] for d in r["Deleted"]),
                         sorted([f"k{i}" for i in range(5)] + ["never-existed"]))
        r = self.s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": f"k{i}"} for i in range(5, 10)],
                                                     "Quiet": True})
        self.assertNotIn("Deleted", r)
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)["KeyCount"], 0)

    def test_listing_paginators(self):
        b = self.make_bucket("bkt-list")
        keys = []
        for d in range(3):
            for i in range(420):
                keys.append(f"dir{d}/sub {i % 3}/file+{i:04d}&ü.txt")
        keys += [f"top-{i}" for i in range(200)]
        local = threading.local()

        def put(k):
            if not hasattr(local, "c"):
                local.c = client()
            local.c.put_object(Bucket=b, Key=k, Body=k.encode())
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(put, keys))
        self.assertGreater(len(keys), 1000)
        # Flat listing, v2 and v1, url-encoded, small pages.
        for op, kwargs in [("list_objects_v2", {"EncodingType": "url", "FetchOwner": True}),
                           ("list_objects", {}),
                           ("list_objects_v2", {})]:
            got = []
            for page in self.s3.get_paginator(op).paginate(Bucket=b, PaginationConfig={"PageSize": 333},
                                                           **kwargs):
                got += [o["Key"] for o in page.get("Contents", [])]
            if "EncodingType" in kwargs:  # botocore decodes only when it chose the encoding
                self.assertTrue(all("%" in k for k in got if " " in urllib.parse.unquote(k)))
                got = [urllib.parse.unquote(k) for k in got]
            self.assertEqual(got, sorted(keys, key=lambda k: k.encode()), op)
        # Delimiter: common prefixes at each level.
        pages = list(self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=b, Delimiter="/", EncodingType="url", PaginationConfig={"PageSize": 2}))
        prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        top = [o["Key"] for page in pages for o in page.get("Contents", [])]
        self.assertEqual(prefixes, ["dir0/", "dir1/", "dir2/"])
        self.assertEqual(top, sorted(k for k in keys if k.startswith("top-")))
        pages = list(self.s3.get_paginator("list_objects").paginate(
            Bucket=b, Prefix="dir1/", Delimiter="/", PaginationConfig={"PageSize": 1}))
        prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        self.assertEqual(prefixes, ["dir1/sub 0/", "dir1/sub 1/", "dir1/sub 2/"])
        r = self.s3.list_objects_v2(Bucket=b, Prefix="dir2/sub 1/", StartAfter="dir2/sub 1/file+0100",
                                    MaxKeys=5)
        self.assertTrue(r["IsTruncated"])
        self.assertEqual([o["Key"] for o in r["Contents"]],
                         sorted(k for k in keys if k.startswith("dir2/sub 1/")
                                and k > "dir2/sub 1/file+0100")[:5])
        versions = []
        for page in self.s3.get_paginator("list_object_versions").paginate(
                Bucket=b, Prefix="dir0/", PaginationConfig={"PageSize": 100}):
            versions += page.get("Versions", [])
        self.assertEqual(len(versions), 420)
        self.assertTrue(all(v["VersionId"] == "null" and v["IsLatest"] for v in versions))

    def test_multipart(self):
        b = self.make_bucket("bkt-mpu")
        part = 5 * 1024 * 1024
        data = self.rng.randbytes(3 * part + 12345)
        chunks = [data[i:i + part] for i in range(0, len(data), part)]
        up = self.s3.create_multipart_upload(Bucket=b, Key="big", ContentType="video/mp4",
                                             Metadata={"m": "v"})
        uid = up["UploadId"]
        uploads = self.s3.list_multipart_uploads(Bucket=b)["Uploads"]
        self.assertEqual([(u["Key"], u["UploadId"]) for u in uploads], [("big", uid)])

        def put(n):
            c = client()
            return n, c.upload_part(Bucket=b, Key="big", UploadId=uid, PartNumber=n,
                                    Body=chunks[n - 1])["ETag"]
        order = list(range(1, len(chunks) + 1))
        self.rng.shuffle(order)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            etags = dict(pool.map(put, order))
        parts = self.s3.list_parts(Bucket=b, Key="big", UploadId=uid)["Parts"]
        self.assertEqual([p["PartNumber"] for p in parts], sorted(etags))
        listed = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        self.assertEqual(error_code(self.s3.complete_multipart_upload, Bucket=b, Key="big",
                                    UploadId=uid, MultipartUpload={"Parts": listed[::-1]}),
                         "InvalidPartOrder")
        wrong = [dict(p) for p in listed]
        wrong[0]["ETag"] = '"0123456789abcdef0123456789abcdef"'
        self.assertEqual(error_code(self.s3.complete_multipart_upload, Bucket=b, Key="big",
                                    UploadId=uid, MultipartUpload={"Parts": wrong}), "InvalidPart")
        r = self.s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=uid,
                                              MultipartUpload={"Parts": listed})
        md5s = b"".join(hashlib.md5(c).digest() for c in chunks)
        expect = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(chunks))
        self.assertEqual(r["ETag"], expect)
        g = self.s3.get_object(Bucket=b, Key="big")
        self.assertEqual(g["Body"].read(), data)
        self.assertEqual((g["ETag"], g["ContentType"], g["Metadata"]), (expect, "video/mp4", {"m": "v"}))
        self.assertEqual(error_code(self.s3.list_parts, Bucket=b, Key="big", UploadId=uid),
                         "NoSuchUpload")
        # EntityTooSmall, abort, NoSuchUpload.
        up2 = self.s3.create_multipart_upload(Bucket=b, Key="small")["UploadId"]
        e1 = self.s3.upload_part(Bucket=b, Key="small", UploadId=up2, PartNumber=1, Body=b"a" * 1024)["ETag"]
        e2 = self.s3.upload_part(Bucket=b, Key="small", UploadId=up2, PartNumber=2, Body=b"b")["ETag"]
        self.assertEqual(error_code(self.s3.complete_multipart_upload, Bucket=b, Key="small",
                                    UploadId=up2, MultipartUpload={"Parts": [
                                        {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}),
                         "EntityTooSmall")
        self.s3.abort_multipart_upload(Bucket=b, Key="small", UploadId=up2)
        self.assertEqual(error_code(self.s3.abort_multipart_upload, Bucket=b, Key="small",
                                    UploadId=up2), "NoSuchUpload")
        self.assertEqual(error_code(self.s3.upload_part, Bucket=b, Key="small", UploadId=up2,
                                    PartNumber=1, Body=b"x"), "NoSuchUpload")
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [])

    def test_auth_errors(self):
        b = self.make_bucket("bkt-auth")
        self.s3.put_object(Bucket=b, Key="k", Body=b"secret")
        self.assertEqual(error_code(client(secret="wrong").list_buckets), "SignatureDoesNotMatch")
        self.assertEqual(error_code(client(access="AKIDUNKNOWN").list_buckets), "InvalidAccessKeyId")
        self.assertEqual(error_code(client(unsigned=True).get_object, Bucket=b, Key="k"),
                         "AccessDenied")
        # A second credential from S3RDMA_CREDENTIALS works.
        other = client(access=OTHER_ACCESS_KEY, secret=OTHER_SECRET_KEY)
        self.assertEqual(other.get_object(Bucket=b, Key="k")["Body"].read(), b"secret")
        old = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
        st, _, data = raw_request("GET", f"/{b}/k", when=old)
        self.assertEqual(st, 403)
        self.assertIn(b"RequestTimeTooSkewed", data)
        # Presigned URLs: valid, then expired.
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"},
                                             ExpiresIn=60)
        self.assertEqual(urllib.request.urlopen(url, timeout=10).read(), b"secret")
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"},
                                             ExpiresIn=1)
        time.sleep(3.2)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(url, timeout=10)
        self.assertEqual(ctx.exception.code, 403)
        self.assertIn(b"AccessDenied", ctx.exception.read())
        put_url = self.s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "up"},
                                                 ExpiresIn=60)
        req = urllib.request.Request(put_url, data=b"presigned put", method="PUT")
        urllib.request.urlopen(req, timeout=10).read()
        self.assertEqual(self.s3.get_object(Bucket=b, Key="up")["Body"].read(), b"presigned put")

    def test_virtual_host_addressing(self):
        b = self.make_bucket("bkt-vhost")
        st, _, _ = raw_request("PUT", "/obj", body=b"via vhost", host=f"{b}.localhost:{SERVER.port}")
        self.assertEqual(st, 200)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="obj")["Body"].read(), b"via vhost")
        st, _, data = raw_request("GET", "/?list-type=2", host=f"{b}.localhost:{SERVER.port}")
        self.assertEqual(st, 200)
        self.assertIn(b"<Key>obj</Key>", data)

    def test_aws_chunked_uploads(self):
        b = self.make_bucket("bkt-chunked")
        data = self.rng.randbytes(200_000)
        # STREAMING-UNSIGNED-PAYLOAD-TRAILER with a trailing CRC32.
        body = b""
        for i in range(0, len(data), 65536):
            c = data[i:i + 65536]
            body += b"%x\r\n" % len(c) + c + b"\r\n"
        good = body + b"0\r\nx-amz-checksum-crc32:" + b64_crc(zlib.crc32(data)).encode() + b"\r\n\r\n"
        hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": "x-amz-checksum-crc32"}
        st, rh, resp = raw_request("PUT", f"/{b}/unsigned-trailer", hdrs, good,
                                   payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        self.assertEqual(st, 200, resp)
        self.assertEqual(rh["etag"], '"%s"' % hashlib.md5(data).hexdigest())
        self.assertEqual(self.s3.get_object(Bucket=b, Key="unsigned-trailer")["Body"].read(), data)
        bad = body + b"0\r\nx-amz-checksum-crc32:" + b64_crc(zlib.crc32(data) ^ 1).encode() + b"\r\n\r\n"
        st, _, resp = raw_request("PUT", f"/{b}/bad-trailer", hdrs, bad,
                                  payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        self.assertEqual(st, 400)
        self.assertIn(b"BadDigest", resp)
        self.assertEqual(error_code(self.s3.head_object, Bucket=b, Key="bad-trailer"), "404")
        # STREAMING-AWS4-HMAC-SHA256-PAYLOAD with chained chunk signatures.
        for tamper in (False, True):
            st, resp = signed_chunked_put(f"/{b}/signed", data, tamper)
            if tamper:
                self.assertEqual(st, 403)
                self.assertIn(b"SignatureDoesNotMatch", resp)
            else:
                self.assertEqual(st, 200, resp)
        self.assertEqual(self.s3.get_object(Bucket=b, Key="signed")["Body"].read(), data)


def signed_chunked_put(path, data, tamper):
    import hmac
    now = datetime.datetime.utcnow()
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    chunk = 65536
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    sig_len = len(";chunk-signature=") + 64
    total = sum(len(b"%x" % len(p)) + sig_len + 4 + len(p) for p in pieces)
    host = f"127.0.0.1:{SERVER.port}"
    req = AWSRequest(method="PUT", url=f"http://{host}{path}", headers={
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
        "Content-Length": str(total), "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = now
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    seed = req.headers["Authorization"].rsplit("Signature=", 1)[1]

    def h(key, msg):
        return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()
    key = h(h(h(h(("AWS4" + SECRET_KEY).encode(), date), "us-east-1"), "s3"), "aws4_request")
    scope = f"{date}/us-east-1/s3/aws4_request"
    prev = seed
    body = b""
    for p in pieces:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(p).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        payload = p
        if tamper and p:
            payload = bytes([p[0] ^ 1]) + p[1:]
        body += b"%x;chunk-signature=%s\r\n" % (len(p), sig.encode()) + payload + b"\r\n"
        prev = sig
    assert len(body) == total
    conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=30)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for k, v in req.headers.items():
        conn.putheader(k, v)
    conn.putheader("Host", host)
    conn.endheaders()
    conn.send(body)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def main():
    global BINARY, STORE, SERVER
    BINARY = sys.argv[1]
    if len(sys.argv) > 3 and sys.argv[2] == "--store":
        STORE = sys.argv[3]
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, store={STORE}, seed={SEED}")
    warnings.simplefilter("ignore", ResourceWarning)
    with S3Server(BINARY, memory=(STORE == "memory")) as srv:
        SERVER = srv
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[4:], exit=False,
                             warnings="ignore")
        ok = prog.result.wasSuccessful()
    if not ok:
        print(f"FAILED (seed {SEED}; rerun with S3RDMA_TEST_SEED={SEED})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
