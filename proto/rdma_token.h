// The text formats of the S3-over-RDMA protocol (docs/protocol.md): the x-amz-rdma-token
// header a GET/PUT/UploadPart carries, and the x-s3rdma-rc header of the connect exchange.
//
// Everything here is pure parsing/formatting: no I/O, no state. Parsers are strict (they
// face the network): lowercase hex only, exact lengths, every field range-checked; they
// never read outside the input and never abort on any input.
#ifndef S3RDMA_PROTO_RDMA_TOKEN_H_
#define S3RDMA_PROTO_RDMA_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <optional>

#include "core/status.h"
#include "emu/roce_wire.h"
#include "emu/verbs.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

// Header names (lowercase, as HttpRequest stores them).
inline constexpr std::string_view kRdmaTokenHeader = "x-amz-rdma-token";
inline constexpr std::string_view kRdmaReplyHeader = "x-amz-rdma-reply";
inline constexpr std::string_view kRdmaBytesHeader = "x-amz-rdma-bytes-transferred";
inline constexpr std::string_view kRcConnectHeader = "x-s3rdma-rc";
inline constexpr std::string_view kRcMaxRequestsHeader = "x-s3rdma-rc-max-requests";
// The service-level sub-resource of the connect exchange: POST/DELETE /?rdmaConnect.
inline constexpr std::string_view kRdmaConnectSubresource = "rdmaConnect";

// S3 error codes of the RDMA path (the aws-c-s3 draft names), with their HTTP status.
inline constexpr std::string_view kErrInvalidRdmaToken = "InvalidRDMAToken";              // 400
inline constexpr std::string_view kErrRdmaConnectionNotFound = "RDMAConnectionNotFound";  // 501
inline constexpr std::string_view kErrRdmaBufferTooSmall = "RDMABufferTooSmall";          // 400
inline constexpr std::string_view kErrRdmaTransferFailed = "RDMATransferFailed";          // 500
inline constexpr std::string_view kErrRdmaConnectionConflict = "RDMAConnectionConflict";  // 409

// A Status carrying one of the codes above ("<Code>: <message>"). REQUIRES: a code above.
core::Status RdmaError(std::string_view code, std::string_view message);
// The code, HTTP status and message of a Status made by RdmaError; nullopt for any other.
std::optional<S3ErrorInfo> RdmaErrorInfo(const core::Status& status);
// True if `status` was made by RdmaError(code, ...).
bool IsRdmaError(const core::Status& status, std::string_view code);

// Transport byte of the descriptor.
inline constexpr uint8_t kRdmaTransportRc = 1;
// Sizes of the token forms, in characters.
inline constexpr size_t kRcDescriptorBytes = 44;
inline constexpr size_t kRcDescriptorHexChars = 2 * kRcDescriptorBytes;           // 88
inline constexpr size_t kRcTokenWithSuffixChars = kRcDescriptorHexChars + 2 * 17;  // 122
inline constexpr size_t kCuObjectDcTokenChars = 81;

// The 44-byte RC buffer descriptor: where the client's registered buffer is and how to
// reach it. Encoded little-endian, fields in this order, no padding:
// transport u8 | qpn u32 | gid[16] | rkey u32 | addr u64 | length u64 | port u8 | lid u16.
struct RcDescriptor {
  uint8_t transport = kRdmaTransportRc;
  uint32_t qpn = 0;  // the CLIENT's QP number (the connection's key with gid)
  emu::Gid gid{};    // the client's GID
  uint32_t rkey = 0;
  uint64_t addr = 0;    // registered buffer start (virtual address in the client)
  uint64_t length = 0;  // registered buffer bytes
  uint8_t port = 1;
  uint16_t lid = 0;
  friend bool operator==(const RcDescriptor&, const RcDescriptor&) = default;
};

// A parsed x-amz-rdma-token: the descriptor and the buffer the request uses. Without the
// ":<addr>:<size>" suffix, addr/size are the descriptor's addr/length.
// Invariant (checked by ParseRdmaToken): [addr, addr+size) lies inside
// [desc.addr, desc.addr+desc.length), and neither end overflows.
struct RdmaToken {
  RcDescriptor desc;
  uint64_t addr = 0;
  uint64_t size = 0;
  bool has_suffix = false;
};

// Parses "<88 hex>[:<16 hex>:<16 hex>][;]". Errors:
// - InvalidArgument for anything malformed (length, upper-case or non-hex digits, separators,
//   transport != 1, suffix outside the descriptor, addr+length overflowing 64 bits);
// - Unimplemented for NVIDIA cuObject's Dynamically Connected token, which an RC-only NIC
//   cannot serve: 81 characters, "raddr:rsize:rkey:lid:dctn:has_gid:gid" as lowercase hex
//   fields of 16, 8, 8, 4, 6, 1 and 32 digits (printf "%016lx:%08x:%08x:%04x:%06x:%01x:%032x").
core::Result<RdmaToken> ParseRdmaToken(std::string_view text);

// The inverse: 88 hex chars, plus ":<addr 16 hex>:<size 16 hex>" when `with_suffix`.
// Formatting never fails (any field values are encoded as given).
std::string FormatRdmaToken(const RcDescriptor& desc, bool with_suffix, uint64_t addr,
                            uint64_t size);
// The descriptor alone as 88 lowercase hex characters.
std::string FormatRcDescriptor(const RcDescriptor& desc);

// The x-s3rdma-rc header: "v=1;qpn=<hex>;psn=<hex>;gid=<32 hex>;udp=<decimal>;mtu=<bytes>".
struct RcConnectParams {
  uint32_t qpn = 0;  // 24 bits, non-zero
  uint32_t psn = 0;  // 24 bits
  emu::Gid gid{};
  uint16_t udp_port = emu::kRoceUdpPort;  // 1..65535
  emu::Mtu mtu = emu::Mtu::k4096;
  friend bool operator==(const RcConnectParams&, const RcConnectParams&) = default;
};

// Strict: exactly the keys v, qpn, psn, gid, udp, mtu, each once, in any order, separated by
// ';' with no spaces; v must be 1; qpn 1..6 lowercase hex digits, non-zero; psn 1..6
// lowercase hex digits; gid exactly 32 lowercase hex digits; udp 1..65535 in decimal without
// leading zeros; mtu one of 256, 512, 1024, 2048, 4096. InvalidArgument otherwise.
core::Result<RcConnectParams> ParseRcConnectHeader(std::string_view text);
// Canonical form, keys in the order above, numbers without leading zeros.
std::string FormatRcConnectHeader(const RcConnectParams& params);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_RDMA_TOKEN_H_
