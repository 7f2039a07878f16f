#include "proto/object_store.h"

#include <cstdio>
#include <cstring>

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

core::Status ValidateBucketName(std::string_view b) {
  auto bad = [&](const char* why) {
    return S3Error(S3Err::kInvalidBucketName, "The specified bucket is not valid: " +
                                                  std::string(why));
  };
  if (b.size() < 3 || b.size() > 63) return bad("length must be 3..63");
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : b) {
    if (!alnum(c) && c != '.' && c != '-') return bad("only a-z 0-9 . - allowed");
  }
  if (!alnum(b.front()) || !alnum(b.back())) return bad("must start and end with a letter or digit");
  if (b.find("..") != std::string_view::npos) return bad("no '..'");
  int dots = 0;
  bool digits_dots = true;
  for (char c : b) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') digits_dots = false;
  }
  if (digits_dots && dots == 3) return bad("must not look like an IP address");
  return core::Status::Ok();
}

core::Status ValidateKey(std::string_view key) {
  if (key.empty()) return S3Error(S3Err::kInvalidArgument, "empty object key");
  if (key.size() > kMaxKeyBytes) return S3Error(S3Err::kKeyTooLongError);
  return core::Status::Ok();
}

core::Status ValidatePartNumber(int n) {
  if (n < 1 || n > kMaxPartNumber) {
    return S3Error(S3Err::kInvalidArgument, "Part number must be an integer between 1 and 10000");
  }
  return core::Status::Ok();
}

namespace {
std::string StripQuotes(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}
}  // namespace

core::Result<std::vector<PartInfo>> PlanCompletion(const std::vector<PartInfo>& have,
                                                   const std::vector<CompletedPart>& req,
                                                   uint64_t min_part_size) {
  if (req.empty()) {
    return S3Error(S3Err::kMalformedXML, "You must specify at least one part");
  }
  std::vector<PartInfo> out;
  out.reserve(req.size());
  int last = 0;
  for (const auto& r : req) {
    if (r.number <= last) return S3Error(S3Err::kInvalidPartOrder);
    last = r.number;
    const PartInfo* found = nullptr;
    size_t lo = 0, hi = have.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (have[mid].number < r.number) lo = mid + 1;
      else hi = mid;
    }
    if (lo < have.size() && have[lo].number == r.number) found = &have[lo];
    if (found == nullptr || StripQuotes(r.etag) != found->etag) {
      return S3Error(S3Err::kInvalidPart, "Part " + std::to_string(r.number) +
                                              " was not uploaded or its ETag does not match");
    }
    out.push_back(*found);
  }
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i].size < min_part_size) {
      return S3Error(S3Err::kEntityTooSmall,
                     "Part " + std::to_string(out[i].number) + " is " +
                         std::to_string(out[i].size) + " bytes; the minimum is " +
                         std::to_string(min_part_size));
    }
  }
  return out;
}

std::string MultipartEtag(const std::vector<PartInfo>& parts) {
  Digest d(Digest::Kind::kMd5);
  for (const auto& p : parts) {
    auto raw = HexDecode(p.etag);
    d.Update(raw ? *raw : p.etag);
  }
  return HexEncode(d.Final()) + "-" + std::to_string(parts.size());
}

std::string MakeUploadId(uint64_t a, uint64_t b) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

bool ValidUploadId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {
void PutU64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}
void PutStr(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out.append(s);
}
struct Cursor {
  std::string_view in;
  bool ok = true;
  uint64_t U64() {
    if (in.size() < 8) { ok = false; return 0; }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(8);
    return v;
  }
  std::string Str() {
    const uint64_t n = U64();
    if (!ok || n > in.size()) { ok = false; return {}; }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};
constexpr uint64_t kMetaVersion = 1;
}  // namespace

std::string EncodeMeta(const ObjectMeta& m) {
  std::string out;
  PutU64(out, kMetaVersion);
  PutStr(out, m.key);
  PutU64(out, m.size);
  PutStr(out, m.etag);
  PutU64(out, static_cast<uint64_t>(m.last_modified_unix));
  PutU64(out, m.headers.size());
  for (const auto& [k, v] : m.headers) {
    PutStr(out, k);
    PutStr(out, v);
  }
  return out;
}

core::Result<ObjectMeta> DecodeMeta(std::string_view data) {
  Cursor c{data};
  ObjectMeta m;
  if (c.U64() != kMetaVersion) return core::Status::Corruption("unknown object meta version");
  m.key = c.Str();
  m.size = c.U64();
  m.etag = c.Str();
  m.last_modified_unix = static_cast<int64_t>(c.U64());
  const uint64_t n = c.U64();
  for (uint64_t i = 0; c.ok && i < n; ++i) {
    std::string k = c.Str();
    std::string v = c.Str();
    m.headers.emplace(std::move(k), std::move(v));
  }
  if (!c.ok || !c.in.empty()) return core::Status::Corruption("truncated object meta");
  return m;
}

}  // namespace s3rdma::proto
