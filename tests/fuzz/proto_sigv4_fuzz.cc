// Fuzz target: SigV4 canonicalisation and verification. Arbitrary paths, queries and header
// values: canonicalisation never crashes; UriDecode(UriEncode(x)) == x; a request signed by
// SignRequest always verifies, and verifies no more once any signed byte changes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "proto/http_util.h"
#include "proto/sigv4.h"

using namespace s3rdma;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  // Split the input into path | query | header value by 0xFF bytes.
  std::string parts[3];
  int which = 0;
  for (char c : all) {
    if (static_cast<unsigned char>(c) == 0xFF && which < 2) {
      ++which;
      continue;
    }
    parts[which] += c;
  }
  const std::string& path = parts[0];
  const std::string& query = parts[1];
  std::string value = parts[2];

  // Round trips and total functions.
  auto decoded = proto::UriDecode(proto::UriEncode(all, false));
  S3_CHECK(decoded.has_value() && *decoded == all);
  (void)proto::CanonicalUri(path);
  (void)proto::CanonicalQuery(query, true);
  (void)proto::ParseQuery(all);
  (void)proto::ParseAmzDate(value);
  (void)proto::ParseHttpDate(value);

  // Sign a request built from the input, then verify it (HMAC chains are slow: one input in
  // eight, picked by its length, so the target stays fast in the random-input test run).
  if (size % 8 != 0) return 0;
  for (char& c : value) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  proto::HttpRequest req;
  req.method = size % 2 ? "PUT" : "GET";
  req.target = "/" + proto::UriEncode(path, true);
  if (!query.empty()) {
    req.target += "?" + proto::UriEncode(query, false) + "=" + proto::UriEncode(value, false);
  }
  req.headers = {{"host", "127.0.0.1:9000"}, {"x-amz-meta-v", value}};
  const proto::Credential cred{"AKIDFUZZ", "secret/fuzz"};
  proto::CredentialStore creds;
  creds.Add(cred);
  const int64_t now = 1700000000;
  proto::SignRequest(req, cred, "us-east-1", proto::kUnsignedPayload, now);
  auto ok = proto::VerifyRequest(req, creds, now, {});
  S3_CHECK_MSG(ok.ok(), "a signed request did not verify: " + ok.status().ToString());
  // Tamper with the metadata value (unless whitespace folding makes it equivalent).
  proto::HttpRequest bad = req;
  bad.headers[1].second = value + "x";
  S3_CHECK(!proto::VerifyRequest(bad, creds, now, {}).ok());
  // Presigned URL for the same request verifies too.
  proto::HttpRequest presigned = req;
  presigned.headers = {{"host", "127.0.0.1:9000"}};
  presigned.target = proto::PresignTarget(presigned, cred, "us-east-1", now, 60);
  auto p = proto::VerifyRequest(presigned, creds, now + 30, {});
  S3_CHECK_MSG(p.ok(), "a presigned URL did not verify: " + p.status().ToString());
  // Arbitrary bytes as an Authorization header never crash.
  proto::HttpRequest garbage;
  garbage.method = "GET";
  garbage.target = "/" + path;
  garbage.headers = {{"host", "h"}, {"authorization", all}, {"x-amz-date", value},
                     {"x-amz-content-sha256", query}};
  (void)proto::VerifyRequest(garbage, creds, now, {});
  return 0;
}
