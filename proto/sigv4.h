// AWS Signature Version 4 for S3: signing (client) and verification (server), in the
// Authorization header and in presigned URLs, plus the chunk signatures of aws-chunked bodies.
// Pure functions of the request and a time in Unix seconds: no clock, no I/O.
#ifndef S3RDMA_PROTO_SIGV4_H_
#define S3RDMA_PROTO_SIGV4_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "proto/http_util.h"

namespace s3rdma::proto {

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedTrailer =
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Credential {
  std::string access_key;
  std::string secret_key;
};

// The access keys a server accepts.
class CredentialStore {
 public:
  void Add(Credential c);
  void AddAll(const CredentialStore& other);
  const Credential* Find(std::string_view access_key) const;
  size_t size() const { return by_key_.size(); }
  // Lines "ACCESS_KEY:SECRET_KEY" (or "ACCESS_KEY SECRET_KEY"); '#' comments, blank lines.
  static core::Result<CredentialStore> Parse(std::string_view text);
  // S3RDMA_CREDENTIALS ("AK:SK,AK2:SK2") and AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY.
  static core::Result<CredentialStore> FromEnvironment();

 private:
  std::map<std::string, Credential, std::less<>> by_key_;
};

// The parts of a canonical request (exposed for tests and fuzzing).
std::string CanonicalUri(std::string_view raw_path);
// nullopt if the query has a malformed escape. `skip_signature` drops X-Amz-Signature.
std::optional<std::string> CanonicalQuery(std::string_view raw_query, bool skip_signature);
// Header names must be lowercase and sorted as in SignedHeaders (';'-separated).
// nullopt if a signed header is missing.
std::optional<std::string> CanonicalHeaders(const HeaderList& headers,
                                            const std::vector<std::string>& signed_names);
std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view canonical_headers,
                             std::string_view signed_headers, std::string_view payload_hash);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
// Raw 32-byte key for "<date>/<region>/<service>/aws4_request".
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

// A bounded memo of SigningKey(). The key's four chained HMACs depend only on (secret, date,
// region, service), which change once a day per credential, while every request needs the key
// (client to sign, server to verify); S3 servers and SDKs cache it (the AWS SDK for Java's
// AWS4Signer keeps a static LRU of signing keys). The full tuple is the cache key, so a new
// date, secret, region or service is a miss and derives a fresh key: never a stale one.
// At most `capacity` keys; the least recently used is replaced. Thread-safe. Its owner (an
// S3Service, a client transport) passes it to VerifyRequest/SignRequest/PresignTarget; it
// affects speed only: every request is still signed and verified in full.
class SigningKeyCache {
 public:
  explicit SigningKeyCache(size_t capacity = 64);
  std::string Get(std::string_view secret, std::string_view date, std::string_view region,
                  std::string_view service);
  size_t size() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Entry {
    std::string secret, date, region, service, key;
    uint64_t last_use = 0;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // guarded by mu_
  uint64_t clock_ = 0;          // guarded by mu_
  uint64_t hits_ = 0, misses_ = 0;
};

// Signature of one aws-chunked chunk (hex), chained from `previous_signature`.
std::string ChunkSignature(std::string_view signing_key, std::string_view amz_date,
                           std::string_view scope, std::string_view previous_signature,
                           std::string_view chunk_data);
// Signature of the trailing headers of STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.
std::string TrailerSignature(std::string_view signing_key, std::string_view amz_date,
                             std::string_view scope, std::string_view previous_signature,
                             std::string_view canonical_trailers);

// --- Server side ---
struct AuthPolicy {
  bool allow_anonymous = false;
  int64_t max_skew_seconds = 15 * 60;
};

struct AuthResult {
  bool anonymous = false;
  std::string access_key;
  std::string payload_hash;  // x-amz-content-sha256 (or UNSIGNED-PAYLOAD for presigned URLs)
  // For aws-chunked bodies: what chunk signatures chain from.
  std::string signing_key;
  std::string amz_date;
  std::string scope;
  std::string seed_signature;
};

// Verifies SigV4 in the Authorization header or the query string. A request with neither
// is anonymous: allowed (anonymous = true) only if policy.allow_anonymous, else AccessDenied.
// Errors: AccessDenied (also: expired presigned URL), InvalidAccessKeyId,
// SignatureDoesNotMatch, RequestTimeTooSkewed, AuthorizationHeaderMalformed,
// AuthorizationQueryParametersError.
// `keys` (optional) memoizes signing keys; without it each call derives its key.
core::Result<AuthResult> VerifyRequest(const HttpRequest& req, const CredentialStore& creds,
                                       int64_t now_unix, const AuthPolicy& policy,
                                       SigningKeyCache* keys = nullptr);

// --- Client side ---
// Adds x-amz-date, x-amz-content-sha256 and Authorization to `req` (which must already carry
// Host). Signs every header present.
void SignRequest(HttpRequest& req, const Credential& cred, std::string_view region,
                 std::string_view payload_hash, int64_t now_unix, SigningKeyCache* keys = nullptr);
// Returns `req.target` with the X-Amz-* presigning parameters appended (signed: host only);
// presigning parameters the target already carries are replaced, not duplicated.
std::string PresignTarget(const HttpRequest& req, const Credential& cred, std::string_view region,
                          int64_t now_unix, int64_t expires_seconds, SigningKeyCache* keys = nullptr);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_SIGV4_H_
