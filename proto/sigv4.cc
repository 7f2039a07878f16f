#include "proto/sigv4.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <openssl/crypto.h>

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

void CredentialStore::Add(Credential c) {
  std::string key = c.access_key;
  by_key_[std::move(key)] = std::move(c);
}

void CredentialStore::AddAll(const CredentialStore& other) {
  for (const auto& [k, c] : other.by_key_) by_key_[k] = c;
}

const Credential* CredentialStore::Find(std::string_view access_key) const {
  auto it = by_key_.find(access_key);
  return it == by_key_.end() ? nullptr : &it->second;
}

core::Result<CredentialStore> CredentialStore::Parse(std::string_view text) {
  CredentialStore store;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    size_t sep = line.find(':');
    if (sep == std::string_view::npos) sep = line.find(' ');
    if (sep == std::string_view::npos || sep == 0 || sep + 1 >= line.size()) {
      return core::Status::InvalidArgument("credentials line " + std::to_string(line_no) +
                                           ": expected ACCESS_KEY:SECRET_KEY");
    }
    store.Add({std::string(Trim(line.substr(0, sep))), std::string(Trim(line.substr(sep + 1)))});
  }
  return store;
}

core::Result<CredentialStore> CredentialStore::FromEnvironment() {
  CredentialStore store;
  if (const char* list = std::getenv("S3RDMA_CREDENTIALS"); list != nullptr && *list != '\0') {
    std::string text(list);
    std::replace(text.begin(), text.end(), ',', '\n');
    auto parsed = Parse(text);
    if (!parsed.ok()) return parsed.status().WithContext("S3RDMA_CREDENTIALS");
    store = std::move(*parsed);
  }
  const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
  const char* sk = std::getenv("AWS_SECRET_ACCESS_KEY");
  if (ak != nullptr && sk != nullptr && *ak != '\0' && *sk != '\0') store.Add({ak, sk});
  return store;
}

std::string CanonicalUri(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  auto decoded = UriDecode(raw_path);
  return UriEncode(decoded ? *decoded : std::string(raw_path), /*keep_slash=*/true);
}

std::optional<std::string> CanonicalQuery(std::string_view raw_query, bool skip_signature) {
  auto params = ParseQuery(raw_query);
  if (!params) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> enc;
  for (const auto& [k, v] : *params) {
    if (skip_signature && k == "X-Amz-Signature") continue;
    enc.emplace_back(UriEncode(k, false), UriEncode(v, false));
  }
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

namespace {
// Appends `v` trimmed, with each inner run of spaces and tabs collapsed to one space (the
// canonical header value). Most values have no blank at all: appended in one piece.
void AppendCollapsed(std::string& out, std::string_view v) {
  v = Trim(v);
  if (std::memchr(v.data(), ' ', v.size()) == nullptr &&
      std::memchr(v.data(), '\t', v.size()) == nullptr) {
    out.append(v);
    return;
  }
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out += ' ';  // never leading: Trim removed those
    space = false;
    out += c;
  }
}

template <typename Names>
std::optional<std::string> CanonicalHeadersOf(const HeaderList& headers, const Names& names) {
  std::string out;
  out.reserve(256);
  for (const auto& name : names) {
    bool found = false;
    for (const auto& [k, v] : headers) {
      if (k != name) continue;
      if (!found) {
        out.append(name);
        out += ':';
      } else {
        out += ',';
      }
      AppendCollapsed(out, v);
      found = true;
    }
    if (!found) return std::nullopt;
    out += '\n';
  }
  return out;
}

// Views into `s`, which must outlive them.
std::vector<std::string_view> SplitViews(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  out.reserve(8);  // SignedHeaders, Authorization fields, credential scope: a handful
  while (true) {
    const size_t p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s = s.substr(p + 1);
  }
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  const std::vector<std::string_view> parts = SplitViews(s, sep);
  return std::vector<std::string>(parts.begin(), parts.end());
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ValidPayloadHash(std::string_view h) {
  if (h == kUnsignedPayload || h == kStreamingSigned || h == kStreamingSignedTrailer ||
      h == kStreamingUnsignedTrailer) {
    return true;
  }
  return h.size() == 64 && HexDecode(h).has_value();
}

struct Scope {
  std::string access_key, date, region, service;
};

std::optional<Scope> ParseCredential(std::string_view c) {
  const auto parts = SplitViews(c, '/');
  if (parts.size() != 5 || parts[4] != "aws4_request" || parts[0].empty() ||
      parts[1].size() != 8 || parts[2].empty() || parts[3].empty()) {
    return std::nullopt;
  }
  return Scope{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
               std::string(parts[3])};
}
}  // namespace

std::optional<std::string> CanonicalHeaders(const HeaderList& headers,
                                            const std::vector<std::string>& signed_names) {
  return CanonicalHeadersOf(headers, signed_names);
}

std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view canonical_headers,
                             std::string_view signed_headers, std::string_view payload_hash) {
  std::string r;
  r.reserve(256 + canonical_headers.size());
  r.append(method).append("\n");
  r.append(canonical_uri).append("\n");
  r.append(canonical_query).append("\n");
  r.append(canonical_headers).append("\n");
  r.append(signed_headers).append("\n");
  r.append(payload_hash);
  return r;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string s = "AWS4-HMAC-SHA256\n";
  s.append(amz_date).append("\n").append(scope).append("\n");
  s += HexEncode(Sha256(canonical_request));
  return s;
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  const std::string k_date = HmacSha256("AWS4" + std::string(secret), date);
  const std::string k_region = HmacSha256(k_date, region);
  const std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, "aws4_request");
}

// Entries grow as keys are derived (a client transport holds one credential's key; a
// simulated cluster holds tens of thousands of transports).
SigningKeyCache::SigningKeyCache(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

std::string SigningKeyCache::Get(std::string_view secret, std::string_view date,
                                 std::string_view region, std::string_view service) {
  std::lock_guard<std::mutex> lock(mu_);
  ++clock_;
  for (Entry& e : entries_) {
    if (e.date == date && e.region == region && e.service == service && e.secret == secret) {
      e.last_use = clock_;
      ++hits_;
      return e.key;
    }
  }
  ++misses_;
  Entry fresh{std::string(secret), std::string(date), std::string(region), std::string(service),
              SigningKey(secret, date, region, service), clock_};
  if (entries_.size() < capacity_) {
    entries_.push_back(std::move(fresh));
    return entries_.back().key;
  }
  auto lru = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.last_use < b.last_use;
  });
  OPENSSL_cleanse(lru->secret.data(), lru->secret.size());
  OPENSSL_cleanse(lru->key.data(), lru->key.size());
  *lru = std::move(fresh);
  return lru->key;
}

size_t SigningKeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}
uint64_t SigningKeyCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
uint64_t SigningKeyCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

namespace {
std::string KeyFor(SigningKeyCache* keys, std::string_view secret, std::string_view date,
                   std::string_view region, std::string_view service) {
  return keys != nullptr ? keys->Get(secret, date, region, service) : SigningKey(secret, date, region, service);
}
}  // namespace

std::string ChunkSignature(std::string_view signing_key, std::string_view amz_date,
                           std::string_view scope, std::string_view previous_signature,
                           std::string_view chunk_data) {
  std::string s = "AWS4-HMAC-SHA256-PAYLOAD\n";
  s.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  s.append("\n").append(kEmptySha256).append("\n");
  s += HexEncode(Sha256(chunk_data));
  return HexEncode(HmacSha256(signing_key, s));
}

std::string TrailerSignature(std::string_view signing_key, std::string_view amz_date,
                             std::string_view scope, std::string_view previous_signature,
                             std::string_view canonical_trailers) {
  std::string s = "AWS4-HMAC-SHA256-TRAILER\n";
  s.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  s.append("\n");
  s += HexEncode(Sha256(canonical_trailers));
  return HexEncode(HmacSha256(signing_key, s));
}

namespace {

struct SigInputs {
  Scope scope;
  std::string amz_date;
  std::vector<std::string> signed_names;
  std::string signed_headers;
  std::string signature;
  std::string payload_hash;
  bool presigned = false;
};

core::Result<AuthResult> Check(const HttpRequest& req, const CredentialStore& creds,
                               const SigInputs& in, int64_t now_unix,
                               const AuthPolicy& policy, SigningKeyCache* keys) {
  const Credential* cred = creds.Find(in.scope.access_key);
  if (cred == nullptr) return S3Error(S3Err::kInvalidAccessKeyId);
  auto req_time = ParseAmzDate(in.amz_date);
  if (!req_time) {
    return S3Error(in.presigned ? S3Err::kAuthorizationQueryParametersError : S3Err::kAccessDenied,
                   "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  if (in.amz_date.compare(0, 8, in.scope.date) != 0) {
    return S3Error(S3Err::kSignatureDoesNotMatch, "credential scope date does not match X-Amz-Date");
  }
  if (!in.presigned && std::llabs(*req_time - now_unix) > policy.max_skew_seconds) {
    return S3Error(S3Err::kRequestTimeTooSkewed);
  }
  if (std::find(in.signed_names.begin(), in.signed_names.end(), "host") ==
      in.signed_names.end()) {
    return S3Error(in.presigned ? S3Err::kAuthorizationQueryParametersError
                                : S3Err::kAuthorizationHeaderMalformed,
                   "SignedHeaders must include host");
  }
  if (!std::is_sorted(in.signed_names.begin(), in.signed_names.end())) {
    return S3Error(S3Err::kSignatureDoesNotMatch, "SignedHeaders must be sorted");
  }
  auto query = CanonicalQuery(req.RawQuery(), in.presigned);
  if (!query) return S3Error(S3Err::kInvalidArgument, "malformed query string");
  auto headers = CanonicalHeaders(req.headers, in.signed_names);
  if (!headers) {
    return S3Error(S3Err::kSignatureDoesNotMatch, "a signed header is missing from the request");
  }
  const std::string scope =
      in.scope.date + "/" + in.scope.region + "/" + in.scope.service + "/aws4_request";
  const std::string canonical = CanonicalRequest(req.method, CanonicalUri(req.RawPath()), *query,
                                                 *headers, in.signed_headers, in.payload_hash);
  const std::string key = KeyFor(keys, cred->secret_key, in.scope.date, in.scope.region, in.scope.service);
  const std::string expected = HexEncode(HmacSha256(key, StringToSign(in.amz_date, scope,
                                                                      canonical)));
  if (!ConstantTimeEqual(expected, in.signature)) return S3Error(S3Err::kSignatureDoesNotMatch);
  AuthResult r;
  r.access_key = cred->access_key;
  r.payload_hash = in.payload_hash;
  r.signing_key = key;
  r.amz_date = in.amz_date;
  r.scope = scope;
  r.seed_signature = expected;
  return r;
}

}  // namespace

core::Result<AuthResult> VerifyRequest(const HttpRequest& req, const CredentialStore& creds,
                                       int64_t now_unix, const AuthPolicy& policy, SigningKeyCache* keys) {
  const std::string* auth = req.Header("authorization");
  auto params = ParseQuery(req.RawQuery());
  if (!params) return S3Error(S3Err::kInvalidArgument, "malformed query string");
  auto param = [&](std::string_view name) -> const std::string* {
    for (const auto& [k, v] : *params) {
      if (k == name) return &v;
    }
    return nullptr;
  };
  const std::string* content_sha = req.Header("x-amz-content-sha256");
  if (content_sha != nullptr && !ValidPayloadHash(*content_sha)) {
    return S3Error(S3Err::kInvalidArgument,
                   "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a valid "
                   "sha256 value");
  }
  SigInputs in;
  if (auth != nullptr) {
    std::string_view a = *auth;
    constexpr std::string_view kAlg = "AWS4-HMAC-SHA256 ";
    if (a.substr(0, kAlg.size()) != kAlg) {
      if (a.substr(0, 4) == "AWS ") {
        return S3Error(S3Err::kInvalidRequest, "Signature Version 2 is not supported; use SigV4");
      }
      return S3Error(S3Err::kAuthorizationHeaderMalformed, "unsupported authorization type");
    }
    a.remove_prefix(kAlg.size());
    std::string credential;
    bool have_sig = false, have_signed = false;
    for (std::string_view part : SplitViews(a, ',')) {
      std::string_view p = Trim(part);
      const size_t eq = p.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view k = p.substr(0, eq), v = p.substr(eq + 1);
      if (k == "Credential") credential = std::string(v);
      else if (k == "SignedHeaders") { in.signed_headers = std::string(v); have_signed = true; }
      else if (k == "Signature") { in.signature = std::string(v); have_sig = true; }
    }
    auto scope = ParseCredential(credential);
    if (!scope || !have_sig || !have_signed || in.signed_headers.empty()) {
      return S3Error(S3Err::kAuthorizationHeaderMalformed);
    }
    in.scope = *scope;
    in.signed_names = Split(in.signed_headers, ';');
    if (const std::string* d = req.Header("x-amz-date")) {
      in.amz_date = *d;
    } else if (const std::string* hd = req.Header("date")) {
      auto t = ParseHttpDate(*hd);
      if (!t) return S3Error(S3Err::kAccessDenied, "unparseable Date header");
      in.amz_date = FormatAmzDate(*t);
    } else {
      return S3Error(S3Err::kAccessDenied,
                     "AWS authentication requires a valid Date or x-amz-date header");
    }
    if (content_sha == nullptr) {
      return S3Error(S3Err::kInvalidRequest,
                     "Missing required header for this request: x-amz-content-sha256");
    }
    in.payload_hash = *content_sha;
    return Check(req, creds, in, now_unix, policy, keys);
  }
  if (param("X-Amz-Signature") != nullptr || param("X-Amz-Credential") != nullptr ||
      param("X-Amz-Algorithm") != nullptr) {
    in.presigned = true;
    const std::string* alg = param("X-Amz-Algorithm");
    const std::string* cred = param("X-Amz-Credential");
    const std::string* date = param("X-Amz-Date");
    const std::string* expires = param("X-Amz-Expires");
    const std::string* signed_h = param("X-Amz-SignedHeaders");
    const std::string* sig = param("X-Amz-Signature");
    if (alg == nullptr || *alg != "AWS4-HMAC-SHA256" || cred == nullptr || date == nullptr ||
        expires == nullptr || signed_h == nullptr || sig == nullptr) {
      return S3Error(S3Err::kAuthorizationQueryParametersError,
                     "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                     "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                     "X-Amz-Expires parameters.");
    }
    auto scope = ParseCredential(*cred);
    auto exp = ParseDecimal(*expires, 604800);
    if (!scope) return S3Error(S3Err::kAuthorizationQueryParametersError);
    if (!exp || *exp < 1) {
      return S3Error(S3Err::kAuthorizationQueryParametersError,
                     "X-Amz-Expires must be between 1 and 604800 seconds");
    }
    in.scope = *scope;
    in.amz_date = *date;
    in.signed_headers = *signed_h;
    in.signed_names = Split(*signed_h, ';');
    in.signature = *sig;
    in.payload_hash = content_sha != nullptr ? *content_sha : std::string(kUnsignedPayload);
    S3_ASSIGN_OR_RETURN(AuthResult r, Check(req, creds, in, now_unix, policy, keys));
    const int64_t t = *ParseAmzDate(in.amz_date);
    if (now_unix > t + static_cast<int64_t>(*exp)) {
      return S3Error(S3Err::kAccessDenied, "Request has expired");
    }
    if (t > now_unix + policy.max_skew_seconds) {
      return S3Error(S3Err::kAccessDenied, "Request is not valid yet");
    }
    return r;
  }
  if (!policy.allow_anonymous) return S3Error(S3Err::kAccessDenied);
  AuthResult r;
  r.anonymous = true;
  r.payload_hash = content_sha != nullptr ? *content_sha : std::string(kUnsignedPayload);
  return r;
}

void SignRequest(HttpRequest& req, const Credential& cred, std::string_view region,
                 std::string_view payload_hash, int64_t now_unix, SigningKeyCache* keys) {
  auto set = [&](std::string_view name, std::string value) {
    for (auto& [k, v] : req.headers) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    req.headers.emplace_back(std::string(name), std::move(value));
  };
  const std::string amz_date = FormatAmzDate(now_unix);
  set("x-amz-date", amz_date);
  set("x-amz-content-sha256", std::string(payload_hash));
  // Views into req.headers: valid until "authorization" is set below.
  std::vector<std::string_view> names;
  names.reserve(req.headers.size());
  for (const auto& [k, v] : req.headers) {
    if (k != "authorization" && std::find(names.begin(), names.end(), k) == names.end()) {
      names.push_back(k);
    }
  }
  std::sort(names.begin(), names.end());
  std::string signed_headers;
  for (const auto& n : names) {
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers.append(n);
  }
  const std::string date = amz_date.substr(0, 8);
  std::string scope = date;
  scope.append("/").append(region).append("/s3/aws4_request");
  const std::string canonical = CanonicalRequest(
      req.method, CanonicalUri(req.RawPath()), CanonicalQuery(req.RawQuery(), false).value_or(""),
      CanonicalHeadersOf(req.headers, names).value_or(""), signed_headers, payload_hash);
  const std::string key = KeyFor(keys, cred.secret_key, date, region, "s3");
  const std::string sig = HexEncode(HmacSha256(key, StringToSign(amz_date, scope, canonical)));
  std::string authorization;
  authorization.reserve(64 + cred.access_key.size() + scope.size() + signed_headers.size() +
                        sig.size());
  authorization.append("AWS4-HMAC-SHA256 Credential=").append(cred.access_key).append("/");
  authorization.append(scope).append(", SignedHeaders=").append(signed_headers);
  authorization.append(", Signature=").append(sig);
  set("authorization", std::move(authorization));
}

std::string PresignTarget(const HttpRequest& req, const Credential& cred, std::string_view region,
                          int64_t now_unix, int64_t expires_seconds, SigningKeyCache* keys) {
  const std::string amz_date = FormatAmzDate(now_unix);
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + std::string(region) + "/s3/aws4_request";
  // Keep the caller's parameters but not presigning parameters it may already carry: the
  // ones added below are the only ones the server must see (a duplicate would shadow them).
  static constexpr std::string_view kAuthParams[] = {
      "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
      "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
  std::string query;
  std::string_view rest = req.RawQuery();
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const std::optional<std::string> name = UriDecode(part.substr(0, part.find('=')));
    if (name && std::find(std::begin(kAuthParams), std::end(kAuthParams), *name) !=
                    std::end(kAuthParams)) {
      continue;
    }
    if (!query.empty()) query += '&';
    query += part;
  }
  auto add = [&](std::string_view k, std::string_view v) {
    if (!query.empty()) query += '&';
    query += UriEncode(k, false) + "=" + UriEncode(v, false);
  };
  add("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  add("X-Amz-Credential", cred.access_key + "/" + scope);
  add("X-Amz-Date", amz_date);
  add("X-Amz-Expires", std::to_string(expires_seconds));
  add("X-Amz-SignedHeaders", "host");
  const std::string canonical =
      CanonicalRequest(req.method, CanonicalUri(req.RawPath()),
                       CanonicalQuery(query, false).value_or(""),
                       CanonicalHeaders(req.headers, {"host"}).value_or(""), "host",
                       kUnsignedPayload);
  const std::string key = KeyFor(keys, cred.secret_key, date, region, "s3");
  add("X-Amz-Signature", HexEncode(HmacSha256(key, StringToSign(amz_date, scope, canonical))));
  return std::string(req.RawPath()) + "?" + query;
}

}  // namespace s3rdma::proto
