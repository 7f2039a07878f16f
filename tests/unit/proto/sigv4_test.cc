// SigV4 against the examples AWS publishes in the S3 API reference ("Examples of signature
// calculations", "Authenticating Requests: Using Query Parameters", "Transferring Payload in
// Multiple Chunks") and the general SigV4 test suite (get-vanilla).
#include <string>

#include <gtest/gtest.h>

#include "proto/aws_chunked.h"
#include "proto/hash.h"
#include "proto/s3_error.h"
#include "proto/sigv4.h"

namespace s3rdma::proto {
namespace {

const Credential kExampleCred{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
const int64_t k20130524 = *ParseAmzDate("20130524T000000Z");

CredentialStore Creds() {
  CredentialStore s;
  s.Add(kExampleCred);
  s.Add({"OTHERKEY", "othersecret"});
  return s;
}

HttpRequest Req(std::string method, std::string target, HeaderList headers) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}

std::string Auth(std::string_view signed_headers, std::string_view sig) {
  return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
         "SignedHeaders=" + std::string(signed_headers) + ", Signature=" + std::string(sig);
}

TEST(SigV4Test, GetVanillaFromTheGeneralSuite) {
  HeaderList h = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
  const auto headers = CanonicalHeaders(h, {"host", "x-amz-date"});
  ASSERT_TRUE(headers.has_value());
  const std::string creq = CanonicalRequest("GET", CanonicalUri("/"), "", *headers,
                                            "host;x-amz-date", kEmptySha256);
  EXPECT_EQ(HexEncode(Sha256(creq)),
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  const std::string sts =
      StringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq);
  const std::string key =
      SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service");
  EXPECT_EQ(HexEncode(HmacSha256(key, sts)),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, S3GetObjectExample) {
  auto req = Req("GET", "/test.txt",
                 {{"host", "examplebucket.s3.amazonaws.com"},
                  {"range", "bytes=0-9"},
                  {"x-amz-content-sha256", std::string(kEmptySha256)},
                  {"x-amz-date", "20130524T000000Z"},
                  {"authorization",
                   Auth("host;range;x-amz-content-sha256;x-amz-date",
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")}});
  auto r = VerifyRequest(req, Creds(), k20130524 + 60, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->access_key, "AKIAIOSFODNN7EXAMPLE");

  // Client side produces the same signature.
  auto mine = Req("GET", "/test.txt",
                  {{"host", "examplebucket.s3.amazonaws.com"}, {"range", "bytes=0-9"}});
  SignRequest(mine, kExampleCred, "us-east-1", kEmptySha256, k20130524);
  EXPECT_EQ(*mine.Header("authorization"), *req.Header("authorization"));

  // Tampering with a signed header breaks it.
  req.headers[1].second = "bytes=0-10";
  EXPECT_TRUE(IsS3Error(VerifyRequest(req, Creds(), k20130524, {}).status(),
                        S3Err::kSignatureDoesNotMatch));
}

TEST(SigV4Test, S3PutObjectExample) {
  auto req = Req("PUT", "/test%24file.text",
                 {{"host", "examplebucket.s3.amazonaws.com"},
                  {"date", "Fri, 24 May 2013 00:00:00 GMT"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256",
                   "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
                  {"authorization",
                   Auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")}});
  EXPECT_EQ(HexEncode(Sha256("Welcome to Amazon S3.")),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  auto r = VerifyRequest(req, Creds(), k20130524, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(SigV4Test, S3GetLifecycleAndListExamples) {
  auto lifecycle = Req("GET", "/?lifecycle",
                       {{"host", "examplebucket.s3.amazonaws.com"},
                        {"x-amz-date", "20130524T000000Z"},
                        {"x-amz-content-sha256", std::string(kEmptySha256)},
                        {"authorization",
                         Auth("host;x-amz-content-sha256;x-amz-date",
                              "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")}});
  EXPECT_TRUE(VerifyRequest(lifecycle, Creds(), k20130524, {}).ok());
  auto list = Req("GET", "/?max-keys=2&prefix=J",
                  {{"host", "examplebucket.s3.amazonaws.com"},
                   {"x-amz-date", "20130524T000000Z"},
                   {"x-amz-content-sha256", std::string(kEmptySha256)},
                   {"authorization",
                    Auth("host;x-amz-content-sha256;x-amz-date",
                         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")}});
  EXPECT_TRUE(VerifyRequest(list, Creds(), k20130524, {}).ok());
  EXPECT_EQ(*CanonicalQuery("prefix=J&max-keys=2", false), "max-keys=2&prefix=J");
}

TEST(SigV4Test, PresignedUrlExample) {
  const std::string target =
      "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
      "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
      "&X-Amz-SignedHeaders=host&X-Amz-Signature="
      "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
  auto req = Req("GET", target, {{"host", "examplebucket.s3.amazonaws.com"}});
  auto r = VerifyRequest(req, Creds(), k20130524 + 3600, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->payload_hash, kUnsignedPayload);
  // Expired a second after X-Amz-Expires.
  EXPECT_TRUE(IsS3Error(VerifyRequest(req, Creds(), k20130524 + 86401, {}).status(),
                        S3Err::kAccessDenied));
  // The client side builds the same URL.
  auto mine = Req("GET", "/test.txt", {{"host", "examplebucket.s3.amazonaws.com"}});
  EXPECT_EQ(PresignTarget(mine, kExampleCred, "us-east-1", k20130524, 86400), target);
}

TEST(SigV4Test, PresignReplacesPresigningParametersTheTargetCarries) {
  // Found by libFuzzer: a target that already had X-Amz-SignedHeaders produced a URL with
  // two of them, and the server read the caller's one.
  auto req = Req("GET", "/b/k?X-Amz-SignedHeaders=x&X-Amz-Signature=0&versionId=null",
                 {{"host", "localhost:9000"}});
  const std::string target = PresignTarget(req, kExampleCred, "us-east-1", 1700000000, 60);
  EXPECT_EQ(target.find("X-Amz-SignedHeaders=x"), std::string::npos) << target;
  EXPECT_NE(target.find("versionId=null"), std::string::npos) << target;
  auto presigned = Req("GET", target, {{"host", "localhost:9000"}});
  auto r = VerifyRequest(presigned, Creds(), 1700000000 + 30, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(SigV4Test, ErrorCodes) {
  auto good = Req("GET", "/b/k", {{"host", "localhost:9000"}});
  SignRequest(good, kExampleCred, "us-east-1", kUnsignedPayload, 1700000000);
  EXPECT_TRUE(VerifyRequest(good, Creds(), 1700000000, {}).ok());
  EXPECT_TRUE(IsS3Error(VerifyRequest(good, Creds(), 1700000000 + 16 * 60, {}).status(),
                        S3Err::kRequestTimeTooSkewed));
  auto unknown = Req("GET", "/b/k", {{"host", "localhost:9000"}});
  SignRequest(unknown, {"NOPE", "x"}, "us-east-1", kUnsignedPayload, 1700000000);
  EXPECT_TRUE(IsS3Error(VerifyRequest(unknown, Creds(), 1700000000, {}).status(),
                        S3Err::kInvalidAccessKeyId));
  auto wrong = Req("GET", "/b/k", {{"host", "localhost:9000"}});
  SignRequest(wrong, {"OTHERKEY", "not-the-secret"}, "us-east-1", kUnsignedPayload, 1700000000);
  EXPECT_TRUE(IsS3Error(VerifyRequest(wrong, Creds(), 1700000000, {}).status(),
                        S3Err::kSignatureDoesNotMatch));
  auto anon = Req("GET", "/b/k", {{"host", "localhost:9000"}});
  EXPECT_TRUE(IsS3Error(VerifyRequest(anon, Creds(), 1700000000, {}).status(),
                        S3Err::kAccessDenied));
  AuthPolicy open;
  open.allow_anonymous = true;
  EXPECT_TRUE(VerifyRequest(anon, Creds(), 1700000000, open)->anonymous);
  auto garbage = Req("GET", "/b/k", {{"host", "h"}, {"authorization", "AWS4-HMAC-SHA256 x"}});
  EXPECT_TRUE(IsS3Error(VerifyRequest(garbage, Creds(), 1700000000, {}).status(),
                        S3Err::kAuthorizationHeaderMalformed));
}

TEST(SigV4Test, CredentialsParse) {
  auto s = CredentialStore::Parse("# comment\nAK1:SK1\n\nAK2 SK2\r\n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 2u);
  EXPECT_EQ(s->Find("AK2")->secret_key, "SK2");
  EXPECT_FALSE(CredentialStore::Parse("justakey\n").ok());
}

// The memo must never hand out a key derived for another date, secret, region or service:
// each lookup is compared with a fresh derivation, across day changes, rotated secrets and
// evictions of a tiny cache.
TEST(SigningKeyCacheTest, NeverReturnsAStaleKey) {
  SigningKeyCache cache(/*capacity=*/3);
  const char* secrets[] = {"secret-a", "secret-b"};
  const char* dates[] = {"20240101", "20240102", "20240103"};
  const char* regions[] = {"us-east-1", "eu-west-1"};
  for (int round = 0; round < 2; ++round) {
    for (const char* secret : secrets) {
      for (const char* date : dates) {
        for (const char* region : regions) {
          for (const char* service : {"s3", "sts"}) {
            // Twice in a row: the second is a hit and must still be this tuple's key.
            for (int again = 0; again < 2; ++again) {
              EXPECT_EQ(cache.Get(secret, date, region, service),
                        SigningKey(secret, date, region, service))
                  << secret << " " << date << " " << region << " " << service;
            }
          }
        }
      }
    }
  }
  EXPECT_LE(cache.size(), 3u);
  EXPECT_GT(cache.hits(), 0u);
  // Distinct tuples whose concatenations coincide are distinct keys.
  EXPECT_EQ(cache.Get("ab", "20240101", "c", "s3"), SigningKey("ab", "20240101", "c", "s3"));
  EXPECT_EQ(cache.Get("a", "20240101", "bc", "s3"), SigningKey("a", "20240101", "bc", "s3"));
}

TEST(SigningKeyCacheTest, LeastRecentlyUsedIsReplaced) {
  SigningKeyCache cache(2);
  cache.Get("s", "20240101", "r", "s3");  // miss
  cache.Get("s", "20240102", "r", "s3");  // miss
  cache.Get("s", "20240101", "r", "s3");  // hit: 0102 is now the least recently used
  cache.Get("s", "20240103", "r", "s3");  // miss, replaces 0102
  EXPECT_EQ(cache.misses(), 3u);
  cache.Get("s", "20240101", "r", "s3");  // still cached
  EXPECT_EQ(cache.misses(), 3u);
  cache.Get("s", "20240102", "r", "s3");  // was evicted
  EXPECT_EQ(cache.misses(), 4u);
  EXPECT_EQ(cache.size(), 2u);
}

// Signing and verifying across a UTC midnight with the shared cache: the request of each day
// carries that day's signature (as computed without any cache), and verifies.
TEST(SigningKeyCacheTest, SignAndVerifyAcrossMidnight) {
  const int64_t before = *ParseAmzDate("20240101T235959Z");
  SigningKeyCache client_keys, server_keys;  // as a transport and an S3Service hold them
  for (int64_t now : {before, before + 1, before, before + 86400 + 1}) {
    auto req = Req("GET", "/bucket/key", {{"host", "localhost:9000"}});
    SignRequest(req, kExampleCred, "us-east-1", kEmptySha256, now, &client_keys);
    const std::string amz_date = FormatAmzDate(now);
    const std::string date = amz_date.substr(0, 8);
    const std::string scope = date + "/us-east-1/s3/aws4_request";
    const std::string creq = CanonicalRequest(
        "GET", "/bucket/key", "",
        "host:localhost:9000\nx-amz-content-sha256:" + std::string(kEmptySha256) +
            "\nx-amz-date:" + amz_date + "\n",
        "host;x-amz-content-sha256;x-amz-date", kEmptySha256);
    const std::string want = HexEncode(HmacSha256(
        SigningKey(kExampleCred.secret_key, date, "us-east-1", "s3"),
        StringToSign(amz_date, scope, creq)));
    const std::string* auth = req.Header("authorization");
    ASSERT_NE(auth, nullptr);
    EXPECT_NE(auth->find("Signature=" + want), std::string::npos) << *auth;
    auto r = VerifyRequest(req, Creds(), now, {}, &server_keys);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->signing_key, SigningKey(kExampleCred.secret_key, date, "us-east-1", "s3"));
    // The other day's clock is a day of skew: refused, never accepted via a cached key.
    EXPECT_FALSE(VerifyRequest(req, Creds(), now + 86400, {}, &server_keys).ok());
  }
  // Three dates, each derived once per side; the day repeated was a hit on both sides (the
  // skewed verifies are refused before a key is looked up).
  EXPECT_EQ(client_keys.misses(), 3u);
  EXPECT_EQ(client_keys.hits(), 1u);
  EXPECT_EQ(server_keys.misses(), 3u);
  EXPECT_EQ(server_keys.hits(), 1u);
}

// The chunked upload example: 66560 bytes of 'a' in chunks of 65536 and 1024.
TEST(AwsChunkedTest, SignedExampleFromTheS3Reference) {
  auto req = Req("PUT", "/examplebucket/chunkObject.txt",
                 {{"host", "s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                  {"x-amz-content-sha256", std::string(kStreamingSigned)},
                  {"content-encoding", "aws-chunked"},
                  {"x-amz-decoded-content-length", "66560"},
                  {"content-length", "66824"},
                  {"authorization",
                   Auth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-decoded-content-length;x-amz-storage-class",
                        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")}});
  auto auth = VerifyRequest(req, Creds(), k20130524, {});
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  const std::string c1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
  const std::string c2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
  const std::string c3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
  EXPECT_EQ(ChunkSignature(auth->signing_key, auth->amz_date, auth->scope, auth->seed_signature,
                           std::string(65536, 'a')),
            c1);
  const std::string body = "10000;chunk-signature=" + c1 + "\r\n" + std::string(65536, 'a') +
                           "\r\n400;chunk-signature=" + c2 + "\r\n" + std::string(1024, 'a') +
                           "\r\n0;chunk-signature=" + c3 + "\r\n\r\n";
  EXPECT_EQ(body.size(), 66824u);
  for (size_t step : {size_t{1}, size_t{7}, size_t{4096}, body.size()}) {
    AwsChunkedDecoder::Options o;
    o.signed_chunks = true;
    o.signing_key = auth->signing_key;
    o.amz_date = auth->amz_date;
    o.scope = auth->scope;
    o.seed_signature = auth->seed_signature;
    std::string out;
    AwsChunkedDecoder d(o, [&](std::string_view p) {
      out.append(p);
      return core::Status::Ok();
    });
    for (size_t off = 0; off < body.size(); off += step) {
      ASSERT_TRUE(d.Feed(std::string_view(body).substr(off, step)).ok()) << "step " << step;
    }
    EXPECT_TRUE(d.Finish().ok());
    EXPECT_EQ(out, std::string(66560, 'a'));
  }
  // A flipped payload byte fails the chunk signature.
  std::string bad = body;
  bad[200] = 'b';
  AwsChunkedDecoder::Options o;
  o.signed_chunks = true;
  o.signing_key = auth->signing_key;
  o.amz_date = auth->amz_date;
  o.scope = auth->scope;
  o.seed_signature = auth->seed_signature;
  AwsChunkedDecoder d(o, [](std::string_view) { return core::Status::Ok(); });
  EXPECT_TRUE(IsS3Error(d.Feed(bad), S3Err::kSignatureDoesNotMatch));
}

TEST(AwsChunkedTest, UnsignedTrailer) {
  AwsChunkedDecoder::Options o;
  o.trailer = true;
  std::string out;
  AwsChunkedDecoder d(o, [&](std::string_view p) {
    out.append(p);
    return core::Status::Ok();
  });
  Crc32 crc;
  crc.Update("hello world");
  const std::string body =
      "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:" + CrcToBase64(crc.Value()) +
      "\r\n\r\n";
  ASSERT_TRUE(d.Feed(body).ok());
  ASSERT_TRUE(d.Finish().ok());
  EXPECT_EQ(out, "hello world");
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0].first, "x-amz-checksum-crc32");

  for (const std::string& broken :
       {std::string("5\r\nhelloX\r\n"), std::string("zz\r\n"), std::string("5\nhello"),
        std::string("5\r\nhel")}) {
    AwsChunkedDecoder e(o, [](std::string_view) { return core::Status::Ok(); });
    const core::Status st = e.Feed(broken);
    EXPECT_TRUE(!st.ok() || !e.Finish().ok()) << broken;
  }
}

}  // namespace
}  // namespace s3rdma::proto
