#include "proto/hash.h"

#include <array>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zlib.h>

#include "core/check.h"

namespace s3rdma::proto {

namespace {
// OpenSSL 3 re-fetches the provider implementation behind a legacy handle (EVP_sha256()) on
// every EVP_DigestInit_ex, and HMAC() fetches both the MAC and the digest by name on every
// call (a lock and a property-query lookup each): SigV4 hashes several short strings per
// request, where those fetches cost more than the hashing. Fetch each algorithm once; the
// handles live for the process (read-only, thread-safe to share). If a provider lacks the
// algorithm (MD5 under FIPS), fall back to the legacy handle, which fails as before.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}
const EVP_MD* Md5Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);
    return fetched != nullptr ? fetched : EVP_md5();
  }();
  return md;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// One digest context per thread, re-initialised by every use (EVP_DigestInit_ex): the
// one-shot hashes below would otherwise allocate and free a context per call. Only the
// functions in this file use it, never across a call out, so uses cannot nest.
EVP_MD_CTX* ScratchCtx() {
  thread_local const MdCtx ctx(EVP_MD_CTX_new());
  S3_CHECK(ctx != nullptr);
  return ctx.get();
}

void OneShot(EVP_MD_CTX* ctx, std::string_view data, unsigned char* out, unsigned int* len) {
  S3_CHECK(EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) == 1);
  S3_CHECK(EVP_DigestUpdate(ctx, data.data(), data.size()) == 1);
  S3_CHECK(EVP_DigestFinal_ex(ctx, out, len) == 1);
}
}  // namespace

struct Digest::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Digest::Digest(Kind kind) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  S3_CHECK(impl_->ctx != nullptr);
  const EVP_MD* md = kind == Kind::kMd5 ? Md5Md() : Sha256Md();
  S3_CHECK(EVP_DigestInit_ex(impl_->ctx, md, nullptr) == 1);
}
Digest::~Digest() = default;
Digest::Digest(Digest&&) noexcept = default;
Digest& Digest::operator=(Digest&&) noexcept = default;

void Digest::Update(std::string_view data) {
  S3_CHECK(EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) == 1);
}

std::string Digest::Final() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  S3_CHECK(EVP_DigestFinal_ex(impl_->ctx, out, &len) == 1);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Md5(std::string_view data) {
  Digest d(Digest::Kind::kMd5);
  d.Update(data);
  return d.Final();
}

std::string Sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  OneShot(ScratchCtx(), data, out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

namespace {
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// OpenSSL's HMAC with SHA-256, fetched and configured once per thread: EVP_MAC_init with a
// new key and no parameters re-keys the context and keeps its digest, so a call costs the
// hashing only (HMAC() would fetch the MAC and the digest by name every time).
EVP_MAC_CTX* HmacSha256Ctx() {
  thread_local const MacCtx ctx = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    S3_CHECK(mac != nullptr);
    MacCtx c(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac);  // the context holds its own reference
    S3_CHECK(c != nullptr);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    S3_CHECK(EVP_MAC_CTX_set_params(c.get(), params) == 1);
    return c;
  }();
  return ctx.get();
}
}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  EVP_MAC_CTX* ctx = HmacSha256Ctx();
  // HMAC keys may be empty; OpenSSL wants a non-null pointer even then.
  static const unsigned char kNoKey = 0;
  const auto* k = key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  S3_CHECK(EVP_MAC_init(ctx, k, key.size(), nullptr) == 1);
  S3_CHECK(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  S3_CHECK(EVP_MAC_final(ctx, out, &len, sizeof out) == 1);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string HexEncode(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(raw.size() * 2);
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    out[2 * i] = kDigits[c >> 4];
    out[2 * i + 1] = kDigits[c & 15];
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base64Encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view b64) {
  if (b64.size() % 4 != 0) return std::nullopt;
  for (size_t i = 0; i < b64.size(); ++i) {
    const char c = b64[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || (c == '=' && i + 2 >= b64.size());
    if (!ok) return std::nullopt;
  }
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=' && b64.back() != '=') return std::nullopt;
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!b64.empty() && b64.back() == '=') ++pad;
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

void Crc32::Update(std::string_view data) {
  // zlib takes uInt lengths: feed in bounded pieces.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc_ = static_cast<uint32_t>(
        crc32(crc_, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n)));
    data.remove_prefix(n);
  }
}

namespace {
// Slicing-by-8 tables for CRC32C (reflected polynomial 0x82F63B78).
struct Crc32cTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
const Crc32cTables& Tables() {
  static const Crc32cTables tables;
  return tables;
}
}  // namespace

void Crc32c::Update(std::string_view data) {
  const auto& t = Tables().t;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t c = crc_;
  while (n >= 8) {
    const uint32_t lo = c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
                             uint32_t(p[3]) << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  crc_ = c;
}

std::string CrcToBase64(uint32_t crc) {
  const char be[4] = {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16),
                      static_cast<char>(crc >> 8), static_cast<char>(crc)};
  return Base64Encode(std::string_view(be, 4));
}

}  // namespace s3rdma::proto
