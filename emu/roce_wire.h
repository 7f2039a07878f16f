// RoCEv2 packets: the in-memory model and the byte-exact codec (IBTA vol. 1 ch. 9, Annex A17).
//
// A RoCEv2 packet on the wire is Ethernet / IPv4 / UDP (dst port 4791) / BTH / extension
// headers / payload / pad (0..3 bytes to a multiple of 4) / ICRC (4 bytes). The "UDP payload"
// in this file means BTH..ICRC; a "frame" is the whole Ethernet frame (without FCS).
//
// Multi-byte header fields are big-endian on the wire; the ICRC is stored as Linux rxe stores
// it: the 32-bit value in little-endian byte order (see ComputeIcrc).
//
// RocePacket keeps headers as plain fields and the payload as a shared Payload, so moving a
// packet through a fabric costs no byte copy. Which extension headers a packet carries is
// decided by its opcode only (OpcodeInfo); fields of headers the opcode does not carry are
// ignored by Encode and zeroed by Decode.
//
// Decode never reads outside its input and reports every malformed input as a Status
// (InvalidArgument: truncated, bad version/port/length/pad, unknown or unsupported opcode,
// trailing payload on an opcode without one; Corruption: ICRC mismatch, IPv4 checksum).
#ifndef S3RDMA_EMU_ROCE_WIRE_H_
#define S3RDMA_EMU_ROCE_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "emu/payload.h"

namespace s3rdma::emu {

inline constexpr uint16_t kRoceUdpPort = 4791;        // IANA "roce" (RoCEv2)
inline constexpr uint16_t kRoceSourcePortBase = 0xC000;
inline constexpr uint16_t kDefaultPkey = 0xFFFF;       // default partition, full member
inline constexpr uint32_t kQpnMask = 0x00FF'FFFF;      // QPNs and PSNs are 24-bit
inline constexpr uint32_t kPsnMask = 0x00FF'FFFF;

// Header sizes in bytes.
inline constexpr size_t kBthBytes = 12;
inline constexpr size_t kRethBytes = 16;
inline constexpr size_t kAethBytes = 4;
inline constexpr size_t kImmDtBytes = 4;
inline constexpr size_t kIethBytes = 4;
inline constexpr size_t kAtomicEthBytes = 28;
inline constexpr size_t kAtomicAckEthBytes = 8;
inline constexpr size_t kIcrcBytes = 4;
inline constexpr size_t kEthernetHeaderBytes = 14;
inline constexpr size_t kIpv4HeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;
inline constexpr size_t kFrameOverheadBytes = kEthernetHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes;
// Largest BTH + extension headers of any supported opcode (COMPARE_SWAP: BTH + AtomicETH).
inline constexpr size_t kMaxTransportHeaderBytes = kBthBytes + kAtomicEthBytes;

// RC opcodes (IBTA table 38; transport bits 7..5 = 000). Values are the wire opcodes.
enum class Opcode : uint8_t {
  kSendFirst = 0x00,
  kSendMiddle = 0x01,
  kSendLast = 0x02,
  kSendLastWithImmediate = 0x03,
  kSendOnly = 0x04,
  kSendOnlyWithImmediate = 0x05,
  kRdmaWriteFirst = 0x06,
  kRdmaWriteMiddle = 0x07,
  kRdmaWriteLast = 0x08,
  kRdmaWriteLastWithImmediate = 0x09,
  kRdmaWriteOnly = 0x0A,
  kRdmaWriteOnlyWithImmediate = 0x0B,
  kRdmaReadRequest = 0x0C,
  kRdmaReadResponseFirst = 0x0D,
  kRdmaReadResponseMiddle = 0x0E,
  kRdmaReadResponseLast = 0x0F,
  kRdmaReadResponseOnly = 0x10,
  kAcknowledge = 0x11,
  kAtomicAcknowledge = 0x12,
  kCompareSwap = 0x13,
  kFetchAdd = 0x14,
  kSendLastWithInvalidate = 0x16,
  kSendOnlyWithInvalidate = 0x17,
};

// What an opcode carries, in wire order: BTH, RETH, AtomicETH, AETH, AtomicAckETH, ImmDt/IETH,
// payload. (IBTA orders RETH before ImmDt; AETH before AtomicAckETH.)
struct OpcodeInfo {
  std::string_view name;    // IBTA name, e.g. "RDMA_WRITE_FIRST"
  bool valid = false;       // false for every byte that is not a supported RC opcode
  bool has_reth = false;
  bool has_aeth = false;
  bool has_immdt = false;
  bool has_ieth = false;
  bool has_atomic_eth = false;
  bool has_atomic_ack_eth = false;
  bool has_payload = false;  // may carry payload bytes (possibly zero of them)
  bool is_first = false;     // FIRST packet of a multi-packet message
  bool is_middle = false;
  bool is_last = false;      // LAST of a multi-packet message
  bool is_only = false;      // the whole message in one packet
  bool is_request = false;   // sent by the requester (false: responder's ACK/response)
  size_t header_bytes = 0;   // BTH + extension headers
};
// Info for any byte; `.valid` is false for unsupported opcodes (UC/RD/UD/CNP/...).
const OpcodeInfo& GetOpcodeInfo(uint8_t opcode);
inline const OpcodeInfo& GetOpcodeInfo(Opcode opcode) { return GetOpcodeInfo(static_cast<uint8_t>(opcode)); }
// "RDMA_WRITE_FIRST", or "UNKNOWN(0x64)".
std::string OpcodeName(uint8_t opcode);

// Base Transport Header (12 bytes).
struct Bth {
  uint8_t opcode = 0;
  bool solicited_event = false;  // SE
  bool migration = false;        // M (MigReq)
  uint8_t pad_count = 0;         // 2 bits; Encode derives it from the payload size
  uint8_t transport_version = 0; // 4 bits; must be 0
  uint16_t pkey = kDefaultPkey;
  bool fecn = false;             // RoCEv2 uses the reserved byte for FECN/BECN
  bool becn = false;
  uint8_t reserved6 = 0;         // 6 bits, sent as given (0), excluded from the ICRC
  uint32_t dest_qp = 0;          // 24 bits
  bool ack_request = false;      // A
  uint8_t reserved7 = 0;         // 7 bits, sent as given (0)
  uint32_t psn = 0;              // 24 bits
  friend bool operator==(const Bth&, const Bth&) = default;
};

// RDMA Extended Transport Header (16 bytes): WRITE FIRST/ONLY and READ REQUEST.
struct Reth {
  uint64_t virtual_address = 0;
  uint32_t rkey = 0;
  uint32_t dma_length = 0;  // the whole message length in bytes
  friend bool operator==(const Reth&, const Reth&) = default;
};

// ACK Extended Transport Header (4 bytes). Syndrome bits 6..5 select the kind; bits 4..0
// are the credit count (ACK), the RNR timer code (RNR NAK) or the NAK code (NAK).
enum class AckKind : uint8_t { kAck = 0, kRnrNak = 1, kReserved = 2, kNak = 3 };
enum class NakCode : uint8_t {
  kPsnSequenceError = 0,
  kInvalidRequest = 1,
  kRemoteAccessError = 2,
  kRemoteOperationalError = 3,
  kInvalidRdRequest = 4,
};
inline constexpr uint8_t kAethCreditInvalid = 0x1F;  // "credit count not provided"
struct Aeth {
  uint8_t syndrome = 0;  // bit 7 reserved: sent as 0 by the factories, carried as given
  uint32_t msn = 0;      // 24 bits: message sequence number
  friend bool operator==(const Aeth&, const Aeth&) = default;

  AckKind kind() const { return static_cast<AckKind>((syndrome >> 5) & 0x3); }
  uint8_t value() const { return syndrome & 0x1F; }  // credit / RNR timer / NAK code
  static Aeth Ack(uint32_t msn, uint8_t credit = kAethCreditInvalid) {
    return {static_cast<uint8_t>(credit & 0x1F), msn & 0xFFFFFF};
  }
  static Aeth RnrNak(uint32_t msn, uint8_t rnr_timer_code) {
    return {static_cast<uint8_t>(0x20 | (rnr_timer_code & 0x1F)), msn & 0xFFFFFF};
  }
  static Aeth Nak(uint32_t msn, NakCode code) {
    return {static_cast<uint8_t>(0x60 | static_cast<uint8_t>(code)), msn & 0xFFFFFF};
  }
};
// The IBTA RNR NAK timer table (vol. 1 table 45): code 0..31 -> minimum delay, in
// nanoseconds: code 1 -> 10'000 (0.01 ms), 14 -> 1'280'000, 31 -> 491'520'000, 0 -> 655'360'000.
int64_t RnrTimerNanoseconds(uint8_t code);

// Atomic Extended Transport Header (28 bytes): COMPARE_SWAP and FETCH_ADD.
struct AtomicEth {
  uint64_t virtual_address = 0;
  uint32_t rkey = 0;
  uint64_t swap_or_add = 0;  // swap value (CMP_SWAP) or addend (FETCH_ADD)
  uint64_t compare = 0;      // compare value (CMP_SWAP); 0 for FETCH_ADD
  friend bool operator==(const AtomicEth&, const AtomicEth&) = default;
};

// Atomic ACK Extended Transport Header (8 bytes): the original remote value.
struct AtomicAckEth {
  uint64_t original_data = 0;
  friend bool operator==(const AtomicAckEth&, const AtomicAckEth&) = default;
};

// Where a packet travels: the IPv4/UDP addressing of its frame (host byte order).
struct PacketAddress {
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = kRoceSourcePortBase;  // see RoceSourcePort()
  uint16_t dst_port = kRoceUdpPort;
  friend bool operator==(const PacketAddress&, const PacketAddress&) = default;
};

// One RoCEv2 packet. Cheap to move; copying shares the payload bytes.
struct RocePacket {
  PacketAddress address;
  Bth bth;
  Reth reth;                 // when GetOpcodeInfo(opcode).has_reth
  AtomicEth atomic_eth;      // has_atomic_eth
  Aeth aeth;                 // has_aeth
  AtomicAckEth atomic_ack;   // has_atomic_ack_eth
  uint32_t immediate = 0;    // ImmDt (has_immdt), big-endian on the wire, host order here
  uint32_t invalidate_rkey = 0;  // IETH (has_ieth)
  Payload payload;           // without pad and ICRC

  Opcode opcode() const { return static_cast<Opcode>(bth.opcode); }
  const OpcodeInfo& info() const { return GetOpcodeInfo(bth.opcode); }
  // Bytes of pad after the payload (0..3) so that payload + pad is a multiple of 4.
  size_t pad_bytes() const { return (4 - payload.size() % 4) % 4; }
  // BTH..ICRC, as it is carried in the UDP datagram.
  size_t udp_payload_bytes() const { return info().header_bytes + payload.size() + pad_bytes() + kIcrcBytes; }
  size_t frame_bytes() const { return kFrameOverheadBytes + udp_payload_bytes(); }
  // One line for logs and test failures: "RDMA_WRITE_FIRST qp=0x11 psn=5 len=4096 ...".
  std::string ToString() const;
};

// Header fields compared, payload compared by content (not by block identity).
bool SamePacket(const RocePacket& a, const RocePacket& b);

// The UDP source port Linux rxe uses for a QP: 0xC000 + (hash_32(qpn, 14) & 0x3fff),
// hash_32 being the kernel's multiplicative hash (GOLDEN_RATIO_32). Source ports spread
// flows over ECMP paths; receivers ignore them.
uint16_t RoceSourcePort(uint32_t qpn);

// IPv4 helpers (host byte order).
constexpr uint32_t Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}
std::string Ipv4ToString(uint32_t ip);
core::Result<uint32_t> ParseIpv4(std::string_view text);

// A RoCEv2 GID: the IPv4-mapped IPv6 address ::ffff:a.b.c.d, as rxe derives it.
using Gid = std::array<uint8_t, 16>;
Gid GidFromIpv4(uint32_t ip);
// The IPv4 address inside an IPv4-mapped GID; InvalidArgument for any other GID.
core::Result<uint32_t> Ipv4FromGid(const Gid& gid);
std::string GidToString(const Gid& gid);  // "::ffff:10.0.0.1"
// The locally administered MAC frames use for an IPv4 address: 02:00:a:b:c:d.
std::array<uint8_t, 6> MacFromIpv4(uint32_t ip);

// ---- Encoding ---------------------------------------------------------------------------
// Every encoder validates the packet first: supported opcode, 24-bit qpn/psn, payload only on
// opcodes that carry one, FIRST/MIDDLE payload a multiple of 4, datagram <= 65507 bytes.
core::Status ValidateForEncode(const RocePacket& packet);

// Writes BTH + extension headers (GetOpcodeInfo(op).header_bytes) into `out`; returns the
// byte count. The BTH pad count is derived from the payload. REQUIRES: out large enough.
core::Result<size_t> EncodeTransportHeaders(const RocePacket& packet, std::span<uint8_t> out);
// BTH..ICRC into `out` (at least packet.udp_payload_bytes()); returns bytes written.
core::Result<size_t> EncodeUdpPayload(const RocePacket& packet, std::span<uint8_t> out);
core::Result<std::vector<uint8_t>> EncodeUdpPayload(const RocePacket& packet);
// Ethernet/IPv4/UDP/BTH..ICRC (no FCS) into `out` (at least packet.frame_bytes()).
// MACs from MacFromIpv4, IPv4 with DF, ID 0, TTL 64, TOS 0, valid header checksum; UDP
// checksum 0 (allowed for IPv4, as rxe sends).
core::Result<size_t> EncodeFrame(const RocePacket& packet, std::span<uint8_t> out);
core::Result<std::vector<uint8_t>> EncodeFrame(const RocePacket& packet);

// ---- ICRC ------------------------------------------------------------------------------
// The ICRC of a packet as Linux rxe computes it: zlib crc32 over 8 bytes of 0xff, the IPv4
// header with TOS, TTL and header checksum set to all ones, the UDP header with checksum
// 0xffff, the BTH with its FECN/BECN/resv6 byte set to 0xff, the extension headers, payload
// and pad. The IPv4/UDP headers are the ones EncodeFrame writes (lengths from the packet).
// Returned as a number; it goes on the wire little-endian.
uint32_t ComputeIcrc(const PacketAddress& address, std::span<const uint8_t> transport_headers,
                     std::span<const uint8_t> payload, size_t pad_bytes);
// Same, over an encoded UDP payload (BTH..ICRC); the trailing 4 ICRC bytes are not covered.
// REQUIRES: udp_payload.size() >= kBthBytes + kIcrcBytes.
uint32_t ComputeIcrcOfUdpPayload(const PacketAddress& address, std::span<const uint8_t> udp_payload);

// ---- Decoding --------------------------------------------------------------------------
struct DecodeOptions {
  bool verify_icrc = true;
  bool verify_ipv4_checksum = true;  // frames only
  bool require_roce_port = true;     // frames only: UDP destination port must be 4791
};
// Parses BTH..ICRC received with `address` (the datagram's IPv4/UDP addressing). The
// payload is copied into a new Payload.
core::Result<RocePacket> DecodeUdpPayload(std::span<const uint8_t> udp_payload,
                                          const PacketAddress& address,
                                          const DecodeOptions& options = {});
// Same, but the packet's payload shares `datagram`'s block (no copy): for receive paths
// that read datagrams into pooled Payload blocks.
core::Result<RocePacket> DecodeUdpPayload(const Payload& datagram, const PacketAddress& address,
                                          const DecodeOptions& options = {});
// Parses a whole Ethernet/IPv4/UDP frame (an optional trailing FCS-less Ethernet padding
// beyond the IPv4 total length is ignored). Checks EtherType 0x0800, IPv4 version/IHL,
// protocol 17, no fragmentation, lengths, UDP dst port 4791 (unless !require_roce_port), IPv4
// checksum (Corruption), ICRC (Corruption).
core::Result<RocePacket> DecodeFrame(std::span<const uint8_t> frame, const DecodeOptions& options = {});

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_ROCE_WIRE_H_
