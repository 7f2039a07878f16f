// Hashes and encodings used by S3: MD5 (ETag, Content-MD5), SHA-256 and HMAC-SHA256 (SigV4,
// x-amz-checksum-sha256), CRC32 (zlib) and CRC32C, hex and base64.
//
// OpenSSL does MD5/SHA/HMAC, zlib does CRC32. CRC32C is a small table implementation here
// because Debian 12 has no C/C++ library package for it.
#ifndef S3RDMA_PROTO_HASH_H_
#define S3RDMA_PROTO_HASH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace s3rdma::proto {

// Incremental digest. Kind selects the algorithm; Final() returns the raw digest bytes
// and may be called once.
class Digest {
 public:
  enum class Kind { kMd5, kSha256 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;
  void Update(std::string_view data);
  std::string Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Md5(std::string_view data);     // raw 16 bytes
std::string Sha256(std::string_view data);  // raw 32 bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes

std::string HexEncode(std::string_view raw);  // lowercase
std::optional<std::string> HexDecode(std::string_view hex);
std::string Base64Encode(std::string_view raw);
// Strict standard base64 with padding; nullopt on any invalid character or length.
std::optional<std::string> Base64Decode(std::string_view b64);

// Incremental CRC32 (IEEE, as zlib) and CRC32C (Castagnoli). Value() may be called any time.
class Crc32 {
 public:
  void Update(std::string_view data);
  uint32_t Value() const { return crc_; }

 private:
  uint32_t crc_ = 0;
};
class Crc32c {
 public:
  void Update(std::string_view data);
  uint32_t Value() const { return ~crc_; }

 private:
  uint32_t crc_ = 0xFFFFFFFFu;
};

// S3's x-amz-checksum-crc32/crc32c value: base64 of the big-endian 4 bytes.
std::string CrcToBase64(uint32_t crc);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_HASH_H_
