#!/usr/bin/python3
"""Prints wrk arguments for SigV4-authenticated GETs: either the header-auth headers
(-H ...) or a presigned URL. The signature stays valid for the skew window (15 min) and
the server re-verifies it on every request, so wrk measures authenticated requests.
Usage: sign_headers.py header|presign ENDPOINT PATH
"""
import sys

from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

mode, endpoint, path = sys.argv[1:4]
creds = Credentials("AKIDBENCH", "bench-secret")
req = AWSRequest(method="GET", url=endpoint + path)
if mode == "header":
    req.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    for k in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
        print(f"-H\n{k}: {req.headers[k]}")
else:
    S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=3600).add_auth(req)
    print(req.url)
