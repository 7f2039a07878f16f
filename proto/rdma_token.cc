#include "proto/rdma_token.h"

#include <array>
#include <cstring>

namespace s3rdma::proto {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// -1 unless `c` is a lowercase hex digit.
int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool AllLowerHex(std::string_view s) {
  for (char c : s) {
    if (LowerHexValue(c) < 0) return false;
  }
  return true;
}

// Decodes an even-length lowercase hex string. REQUIRES: AllLowerHex(hex), out.size()*2 == hex.size().
void DecodeHex(std::string_view hex, uint8_t* out) {
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out[i / 2] = static_cast<uint8_t>(LowerHexValue(hex[i]) << 4 | LowerHexValue(hex[i + 1]));
  }
}

// A big-endian (most significant digit first) lowercase hex number of 1..16 digits.
bool ParseHexNumber(std::string_view s, size_t max_digits, uint64_t* out) {
  if (s.empty() || s.size() > max_digits) return false;
  uint64_t v = 0;
  for (char c : s) {
    const int d = LowerHexValue(c);
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

template <typename T>
T LoadLe(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T{p[i]} << (8 * i));
  return v;
}

template <typename T>
void StoreLe(T v, uint8_t* p) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void AppendHex16(uint64_t v, std::string& out) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHexDigits[(v >> shift) & 0xf]);
}

void AppendHexMin(uint64_t v, std::string& out) {
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 0xf) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) out.push_back(kHexDigits[(v >> shift) & 0xf]);
}

// cuObject's token is printf("%016lx:%08x:%08x:%04x:%06x:%01x:%016lx%016lx", raddr, rsize,
// rkey, lid, dctn, has_gid, gid): 81 characters, seven lowercase hex fields.
bool IsCuObjectDcToken(std::string_view text) {
  if (text.size() != kCuObjectDcTokenChars) return false;
  constexpr std::array<size_t, 7> kWidths = {16, 8, 8, 4, 6, 1, 32};
  size_t pos = 0;
  for (size_t i = 0; i < kWidths.size(); ++i) {
    if (i > 0) {
      if (text[pos] != ':') return false;
      ++pos;
    }
    if (!AllLowerHex(text.substr(pos, kWidths[i]))) return false;
    pos += kWidths[i];
  }
  return pos == text.size();
}

core::Status Invalid(std::string msg) { return core::Status::InvalidArgument(std::move(msg)); }

}  // namespace

namespace {
struct RdmaErrCode {
  std::string_view name;
  int http_status;
};
constexpr RdmaErrCode kRdmaErrCodes[] = {{kErrInvalidRdmaToken, 400},
                                         {kErrRdmaConnectionNotFound, 501},
                                         {kErrRdmaBufferTooSmall, 400},
                                         {kErrRdmaTransferFailed, 500},
                                         {kErrRdmaConnectionConflict, 409}};
}  // namespace

core::Status RdmaError(std::string_view code, std::string_view message) {
  bool known = false;
  for (const auto& c : kRdmaErrCodes) known = known || c.name == code;
  S3_CHECK_MSG(known, "RdmaError: unknown code " + std::string(code));
  return core::Status::FailedPrecondition(std::string(code) + ": " + std::string(message));
}

std::optional<S3ErrorInfo> RdmaErrorInfo(const core::Status& status) {
  if (status.ok() || status.code() != core::StatusCode::kFailedPrecondition) return std::nullopt;
  const std::string& m = status.message();
  for (const auto& c : kRdmaErrCodes) {
    if (m.size() >= c.name.size() + 2 && m.compare(0, c.name.size(), c.name) == 0 &&
        m.compare(c.name.size(), 2, ": ") == 0) {
      return S3ErrorInfo{std::string(c.name), c.http_status, m.substr(c.name.size() + 2)};
    }
  }
  return std::nullopt;
}

bool IsRdmaError(const core::Status& status, std::string_view code) {
  auto info = RdmaErrorInfo(status);
  return info && info->code == code;
}

core::Result<RdmaToken> ParseRdmaToken(std::string_view text) {
  // One trailing ';' is tolerated (MinIO's and cuObject's clients terminate the token).
  if (!text.empty() && text.back() == ';') text.remove_suffix(1);
  if (IsCuObjectDcToken(text)) {
    return core::Status::Unimplemented("RDMA DC transport is not supported (RC only)");
  }
  if (text.size() != kRcDescriptorHexChars && text.size() != kRcTokenWithSuffixChars) {
    return Invalid("x-amz-rdma-token must be 88 hex characters, optionally followed by "
                   ":<addr 16 hex>:<size 16 hex> (got " + std::to_string(text.size()) +
                   " characters)");
  }
  const std::string_view desc_hex = text.substr(0, kRcDescriptorHexChars);
  if (!AllLowerHex(desc_hex)) {
    return Invalid("x-amz-rdma-token descriptor must be lowercase hex");
  }
  std::array<uint8_t, kRcDescriptorBytes> raw{};
  DecodeHex(desc_hex, raw.data());
  RdmaToken token;
  RcDescriptor& d = token.desc;
  const uint8_t* p = raw.data();
  d.transport = p[0];
  d.qpn = LoadLe<uint32_t>(p + 1);
  std::memcpy(d.gid.data(), p + 5, 16);
  d.rkey = LoadLe<uint32_t>(p + 21);
  d.addr = LoadLe<uint64_t>(p + 25);
  d.length = LoadLe<uint64_t>(p + 33);
  d.port = p[41];
  d.lid = LoadLe<uint16_t>(p + 42);
  if (d.transport != kRdmaTransportRc) {
    return Invalid("x-amz-rdma-token transport " + std::to_string(d.transport) +
                   " is not supported (1 = RC)");
  }
  if (d.qpn == 0 || d.qpn > 0xffffff) {
    return Invalid("x-amz-rdma-token qpn must be a non-zero 24-bit number");
  }
  if (d.length > UINT64_MAX - d.addr) {
    return Invalid("x-amz-rdma-token descriptor range overflows 64 bits");
  }
  token.addr = d.addr;
  token.size = d.length;
  if (text.size() == kRcTokenWithSuffixChars) {
    const std::string_view addr_hex = text.substr(kRcDescriptorHexChars + 1, 16);
    const std::string_view size_hex = text.substr(kRcDescriptorHexChars + 18, 16);
    if (text[kRcDescriptorHexChars] != ':' || text[kRcDescriptorHexChars + 17] != ':' ||
        !ParseHexNumber(addr_hex, 16, &token.addr) ||
        !ParseHexNumber(size_hex, 16, &token.size)) {
      return Invalid("x-amz-rdma-token suffix must be :<addr 16 lowercase hex>:<size 16 "
                     "lowercase hex>");
    }
    token.has_suffix = true;
    if (token.addr < d.addr || token.size > d.length ||
        token.addr - d.addr > d.length - token.size) {
      return Invalid("x-amz-rdma-token buffer lies outside the registered region of the "
                     "descriptor");
    }
  }
  return token;
}

std::string FormatRcDescriptor(const RcDescriptor& d) {
  std::array<uint8_t, kRcDescriptorBytes> raw{};
  uint8_t* p = raw.data();
  p[0] = d.transport;
  StoreLe<uint32_t>(d.qpn, p + 1);
  std::memcpy(p + 5, d.gid.data(), 16);
  StoreLe<uint32_t>(d.rkey, p + 21);
  StoreLe<uint64_t>(d.addr, p + 25);
  StoreLe<uint64_t>(d.length, p + 33);
  p[41] = d.port;
  StoreLe<uint16_t>(d.lid, p + 42);
  std::string out;
  out.reserve(kRcTokenWithSuffixChars);
  for (uint8_t b : raw) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  return out;
}

std::string FormatRdmaToken(const RcDescriptor& desc, bool with_suffix, uint64_t addr,
                            uint64_t size) {
  std::string out = FormatRcDescriptor(desc);
  if (with_suffix) {
    out.push_back(':');
    AppendHex16(addr, out);
    out.push_back(':');
    AppendHex16(size, out);
  }
  return out;
}

core::Result<RcConnectParams> ParseRcConnectHeader(std::string_view text) {
  RcConnectParams params;
  enum Key { kV, kQpn, kPsn, kGid, kUdp, kMtu, kKeys };
  constexpr std::array<std::string_view, kKeys> kNames = {"v", "qpn", "psn", "gid", "udp", "mtu"};
  std::array<bool, kKeys> seen{};
  const std::string context = "x-s3rdma-rc: ";
  size_t pos = 0;
  while (true) {
    const size_t end = std::min(text.find(';', pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Invalid(context + "expected key=value");
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    int key = -1;
    for (int k = 0; k < kKeys; ++k) {
      if (kNames[static_cast<size_t>(k)] == name) key = k;
    }
    if (key < 0) return Invalid(context + "unknown key '" + std::string(name.substr(0, 16)) + "'");
    if (seen[static_cast<size_t>(key)]) return Invalid(context + "duplicate key " + std::string(name));
    seen[static_cast<size_t>(key)] = true;
    uint64_t v = 0;
    switch (key) {
      case kV:
        if (value != "1") return Invalid(context + "unsupported version (v=1 expected)");
        break;
      case kQpn:
        if (!ParseHexNumber(value, 6, &v) || v == 0) {
          return Invalid(context + "qpn must be 1..6 lowercase hex digits, non-zero");
        }
        params.qpn = static_cast<uint32_t>(v);
        break;
      case kPsn:
        if (!ParseHexNumber(value, 6, &v)) {
          return Invalid(context + "psn must be 1..6 lowercase hex digits");
        }
        params.psn = static_cast<uint32_t>(v);
        break;
      case kGid:
        if (value.size() != 32 || !AllLowerHex(value)) {
          return Invalid(context + "gid must be 32 lowercase hex digits");
        }
        DecodeHex(value, params.gid.data());
        break;
      case kUdp: {
        bool ok = !value.empty() && value.size() <= 5 && value[0] != '0';
        for (char c : value) {
          if (c < '0' || c > '9') ok = false;
          else v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        if (!ok || v == 0 || v > 65535) return Invalid(context + "udp must be a port 1..65535");
        params.udp_port = static_cast<uint16_t>(v);
        break;
      }
      case kMtu:
        if (value == "256") params.mtu = emu::Mtu::k256;
        else if (value == "512") params.mtu = emu::Mtu::k512;
        else if (value == "1024") params.mtu = emu::Mtu::k1024;
        else if (value == "2048") params.mtu = emu::Mtu::k2048;
        else if (value == "4096") params.mtu = emu::Mtu::k4096;
        else return Invalid(context + "mtu must be 256, 512, 1024, 2048 or 4096");
        break;
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  for (int k = 0; k < kKeys; ++k) {
    if (!seen[static_cast<size_t>(k)]) {
      return Invalid(context + "missing key " + std::string(kNames[static_cast<size_t>(k)]));
    }
  }
  return params;
}

std::string FormatRcConnectHeader(const RcConnectParams& params) {
  std::string out = "v=1;qpn=";
  AppendHexMin(params.qpn, out);
  out += ";psn=";
  AppendHexMin(params.psn, out);
  out += ";gid=";
  for (uint8_t b : params.gid) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  out += ";udp=" + std::to_string(params.udp_port);
  out += ";mtu=" + std::to_string(emu::MtuBytes(params.mtu));
  return out;
}

}  // namespace s3rdma::proto
