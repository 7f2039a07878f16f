#include "emu/roce_wire.h"

#include <zlib.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/check.h"

namespace s3rdma::emu {

using core::Result;
using core::Status;

namespace {

// ---- opcode table -----------------------------------------------------------------------

enum Ext : uint32_t {
  kReth = 1u << 0,
  kAeth = 1u << 1,
  kImm = 1u << 2,
  kIeth = 1u << 3,
  kAtomic = 1u << 4,
  kAtomicAck = 1u << 5,
  kPay = 1u << 6,
  kFirst = 1u << 7,
  kMiddle = 1u << 8,
  kLast = 1u << 9,
  kOnly = 1u << 10,
  kReq = 1u << 11,
};

constexpr OpcodeInfo MakeInfo(std::string_view name, uint32_t f) {
  OpcodeInfo i;
  i.name = name;
  i.valid = true;
  i.has_reth = f & kReth;
  i.has_aeth = f & kAeth;
  i.has_immdt = f & kImm;
  i.has_ieth = f & kIeth;
  i.has_atomic_eth = f & kAtomic;
  i.has_atomic_ack_eth = f & kAtomicAck;
  i.has_payload = f & kPay;
  i.is_first = f & kFirst;
  i.is_middle = f & kMiddle;
  i.is_last = f & kLast;
  i.is_only = f & kOnly;
  i.is_request = f & kReq;
  i.header_bytes = kBthBytes + (i.has_reth ? kRethBytes : 0) + (i.has_aeth ? kAethBytes : 0) +
                   (i.has_immdt ? kImmDtBytes : 0) + (i.has_ieth ? kIethBytes : 0) +
                   (i.has_atomic_eth ? kAtomicEthBytes : 0) +
                   (i.has_atomic_ack_eth ? kAtomicAckEthBytes : 0);
  return i;
}

constexpr std::array<OpcodeInfo, 256> MakeTable() {
  std::array<OpcodeInfo, 256> t{};
  t[0x00] = MakeInfo("SEND_FIRST", kPay | kFirst | kReq);
  t[0x01] = MakeInfo("SEND_MIDDLE", kPay | kMiddle | kReq);
  t[0x02] = MakeInfo("SEND_LAST", kPay | kLast | kReq);
  t[0x03] = MakeInfo("SEND_LAST_WITH_IMMEDIATE", kImm | kPay | kLast | kReq);
  t[0x04] = MakeInfo("SEND_ONLY", kPay | kOnly | kReq);
  t[0x05] = MakeInfo("SEND_ONLY_WITH_IMMEDIATE", kImm | kPay | kOnly | kReq);
  t[0x06] = MakeInfo("RDMA_WRITE_FIRST", kReth | kPay | kFirst | kReq);
  t[0x07] = MakeInfo("RDMA_WRITE_MIDDLE", kPay | kMiddle | kReq);
  t[0x08] = MakeInfo("RDMA_WRITE_LAST", kPay | kLast | kReq);
  t[0x09] = MakeInfo("RDMA_WRITE_LAST_WITH_IMMEDIATE", kImm | kPay | kLast | kReq);
  t[0x0A] = MakeInfo("RDMA_WRITE_ONLY", kReth | kPay | kOnly | kReq);
  t[0x0B] = MakeInfo("RDMA_WRITE_ONLY_WITH_IMMEDIATE", kReth | kImm | kPay | kOnly | kReq);
  t[0x0C] = MakeInfo("RDMA_READ_REQUEST", kReth | kOnly | kReq);
  t[0x0D] = MakeInfo("RDMA_READ_RESPONSE_FIRST", kAeth | kPay | kFirst);
  t[0x0E] = MakeInfo("RDMA_READ_RESPONSE_MIDDLE", kPay | kMiddle);
  t[0x0F] = MakeInfo("RDMA_READ_RESPONSE_LAST", kAeth | kPay | kLast);
  t[0x10] = MakeInfo("RDMA_READ_RESPONSE_ONLY", kAeth | kPay | kOnly);
  t[0x11] = MakeInfo("ACKNOWLEDGE", kAeth | kOnly);
  t[0x12] = MakeInfo("ATOMIC_ACKNOWLEDGE", kAeth | kAtomicAck | kOnly);
  t[0x13] = MakeInfo("COMPARE_SWAP", kAtomic | kOnly | kReq);
  t[0x14] = MakeInfo("FETCH_ADD", kAtomic | kOnly | kReq);
  t[0x16] = MakeInfo("SEND_LAST_WITH_INVALIDATE", kIeth | kPay | kLast | kReq);
  t[0x17] = MakeInfo("SEND_ONLY_WITH_INVALIDATE", kIeth | kPay | kOnly | kReq);
  return t;
}

constexpr std::array<OpcodeInfo, 256> kOpcodeTable = MakeTable();
static_assert(kOpcodeTable[0x13].header_bytes == kMaxTransportHeaderBytes);

std::string_view TransportName(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0: return "RC";
    case 1: return "UC";
    case 2: return "RD";
    case 3: return "UD";
    case 4: return "CNP";
    case 5: return "XRC";
    default: return "manufacturer-specific";
  }
}

// ---- byte helpers (big-endian) ------------------------------------------------------------

inline void Put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void Put24(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 16); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v); }
inline void Put32(uint8_t* p, uint32_t v) { Put16(p, uint16_t(v >> 16)); Put16(p + 2, uint16_t(v)); }
inline void Put64(uint8_t* p, uint64_t v) { Put32(p, uint32_t(v >> 32)); Put32(p + 4, uint32_t(v)); }
inline uint16_t Get16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t Get24(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }
inline uint32_t Get32(const uint8_t* p) { return (uint32_t{Get16(p)} << 16) | Get16(p + 2); }
inline uint64_t Get64(const uint8_t* p) { return (uint64_t{Get32(p)} << 32) | Get32(p + 4); }

constexpr size_t kMaxUdpPayloadBytes = 65535 - kIpv4HeaderBytes - kUdpHeaderBytes;
constexpr uint8_t kZeroPad[4] = {0, 0, 0, 0};

uint16_t Ipv4Checksum(const uint8_t* header) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kIpv4HeaderBytes; i += 2) sum += Get16(header + i);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(~sum);
}

// IPv4 + UDP headers exactly as EncodeFrame writes them (checksum filled in).
void WriteIpUdpHeaders(const PacketAddress& a, size_t udp_payload_bytes, uint8_t* ip) {
  const size_t udp_len = kUdpHeaderBytes + udp_payload_bytes;
  ip[0] = 0x45;  // version 4, IHL 5
  ip[1] = 0;     // DSCP/ECN
  Put16(ip + 2, uint16_t(kIpv4HeaderBytes + udp_len));
  Put16(ip + 4, 0);       // identification (DF set, so unused)
  Put16(ip + 6, 0x4000);  // flags: DF
  ip[8] = 64;             // TTL
  ip[9] = 17;             // UDP
  Put16(ip + 10, 0);
  Put32(ip + 12, a.src_ip);
  Put32(ip + 16, a.dst_ip);
  Put16(ip + 10, Ipv4Checksum(ip));
  uint8_t* udp = ip + kIpv4HeaderBytes;
  Put16(udp, a.src_port);
  Put16(udp + 2, a.dst_port);
  Put16(udp + 4, uint16_t(udp_len));
  Put16(udp + 6, 0);  // no UDP checksum, as rxe sends over IPv4
}

// CRC of 8 bytes of 0xff: stands for the masked LRH of native InfiniBand.
uLong IcrcSeed() {
  static const uLong seed = [] {
    const uint8_t ones[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    return crc32(0L, ones, sizeof ones);
  }();
  return seed;
}

uLong Crc(uLong crc, const uint8_t* p, size_t n) {
  // zlib takes uInt lengths; packets are < 64 KiB, but stay correct for any size.
  while (n > 0) {
    const uInt chunk = n > (1u << 30) ? (1u << 30) : uInt(n);
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return crc;
}

// The ICRC over actual IPv4+UDP header bytes (28), masking the variant fields, then the BTH
// (masked), the rest of the headers, payload and pad.
uint32_t IcrcWithHeaders(const uint8_t* ip_udp, std::span<const uint8_t> transport_headers,
                         std::span<const uint8_t> payload, size_t pad_bytes) {
  uint8_t pseudo[kIpv4HeaderBytes + kUdpHeaderBytes + kBthBytes];
  std::memcpy(pseudo, ip_udp, kIpv4HeaderBytes + kUdpHeaderBytes);
  pseudo[1] = 0xff;                     // TOS
  pseudo[8] = 0xff;                     // TTL
  pseudo[10] = pseudo[11] = 0xff;       // IPv4 header checksum
  pseudo[kIpv4HeaderBytes + 6] = 0xff;  // UDP checksum
  pseudo[kIpv4HeaderBytes + 7] = 0xff;
  std::memcpy(pseudo + 28, transport_headers.data(), kBthBytes);
  pseudo[28 + 4] = 0xff;  // FECN, BECN, resv6
  uLong crc = Crc(IcrcSeed(), pseudo, sizeof pseudo);
  crc = Crc(crc, transport_headers.data() + kBthBytes, transport_headers.size() - kBthBytes);
  crc = Crc(crc, payload.data(), payload.size());
  crc = Crc(crc, kZeroPad, pad_bytes);
  return uint32_t(crc);
}

// Pad bytes are part of the ICRC as received, so a decoder must cover the actual bytes.
uint32_t IcrcOfUdpPayloadWithHeaders(const uint8_t* ip_udp, std::span<const uint8_t> udp_payload) {
  uint8_t pseudo[kIpv4HeaderBytes + kUdpHeaderBytes + kBthBytes];
  std::memcpy(pseudo, ip_udp, kIpv4HeaderBytes + kUdpHeaderBytes);
  pseudo[1] = 0xff;
  pseudo[8] = 0xff;
  pseudo[10] = pseudo[11] = 0xff;
  pseudo[kIpv4HeaderBytes + 6] = 0xff;
  pseudo[kIpv4HeaderBytes + 7] = 0xff;
  std::memcpy(pseudo + 28, udp_payload.data(), kBthBytes);
  pseudo[28 + 4] = 0xff;
  uLong crc = Crc(IcrcSeed(), pseudo, sizeof pseudo);
  crc = Crc(crc, udp_payload.data() + kBthBytes, udp_payload.size() - kBthBytes - kIcrcBytes);
  return uint32_t(crc);
}

inline void PutLe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24);
}
inline uint32_t GetLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Parses BTH + extension headers of a datagram whose structure was already checked.
void ParseHeaders(const uint8_t* p, const OpcodeInfo& info, RocePacket& pkt) {
  Bth& b = pkt.bth;
  b.opcode = p[0];
  b.solicited_event = p[1] & 0x80;
  b.migration = p[1] & 0x40;
  b.pad_count = (p[1] >> 4) & 0x3;
  b.transport_version = p[1] & 0xF;
  b.pkey = Get16(p + 2);
  b.fecn = p[4] & 0x80;
  b.becn = p[4] & 0x40;
  b.reserved6 = p[4] & 0x3F;
  b.dest_qp = Get24(p + 5);
  b.ack_request = p[8] & 0x80;
  b.reserved7 = p[8] & 0x7F;
  b.psn = Get24(p + 9);
  size_t off = kBthBytes;
  if (info.has_reth) {
    pkt.reth = {Get64(p + off), Get32(p + off + 8), Get32(p + off + 12)};
    off += kRethBytes;
  }
  if (info.has_atomic_eth) {
    pkt.atomic_eth = {Get64(p + off), Get32(p + off + 8), Get64(p + off + 12), Get64(p + off + 20)};
    off += kAtomicEthBytes;
  }
  if (info.has_aeth) {
    pkt.aeth = {p[off], Get24(p + off + 1)};
    off += kAethBytes;
  }
  if (info.has_atomic_ack_eth) {
    pkt.atomic_ack = {Get64(p + off)};
    off += kAtomicAckEthBytes;
  }
  if (info.has_immdt) {
    pkt.immediate = Get32(p + off);
    off += kImmDtBytes;
  }
  if (info.has_ieth) {
    pkt.invalidate_rkey = Get32(p + off);
    off += kIethBytes;
  }
  S3_CHECK(off == info.header_bytes);
}

// Structure checks shared by both decoders; on success sets *payload_offset / *payload_size.
Status CheckStructure(std::span<const uint8_t> d, size_t* payload_offset, size_t* payload_size) {
  if (d.size() < kBthBytes + kIcrcBytes) {
    return Status::InvalidArgument("truncated RoCEv2 packet: " + std::to_string(d.size()) +
                                   " bytes, BTH + ICRC need " + std::to_string(kBthBytes + kIcrcBytes));
  }
  const uint8_t opcode = d[0];
  const OpcodeInfo& info = GetOpcodeInfo(opcode);
  if (!info.valid) {
    return Status::InvalidArgument("unsupported opcode " + Hex(opcode) + " (" +
                                   std::string(TransportName(opcode)) + " transport)");
  }
  if ((d[1] & 0xF) != 0) {
    return Status::InvalidArgument("unsupported BTH transport version " + std::to_string(d[1] & 0xF));
  }
  if (d.size() < info.header_bytes + kIcrcBytes) {
    return Status::InvalidArgument("truncated " + std::string(info.name) + ": " + std::to_string(d.size()) +
                                   " bytes, headers + ICRC need " +
                                   std::to_string(info.header_bytes + kIcrcBytes));
  }
  const size_t rest = d.size() - info.header_bytes - kIcrcBytes;
  const size_t pad = (d[1] >> 4) & 0x3;
  if (!info.has_payload) {
    if (rest != 0 || pad != 0) {
      return Status::InvalidArgument(std::string(info.name) + " carries no payload, but " +
                                     std::to_string(rest) + " bytes follow its headers (pad count " +
                                     std::to_string(pad) + ")");
    }
  } else {
    if (rest % 4 != 0) {
      return Status::InvalidArgument(std::string(info.name) + ": payload + pad of " + std::to_string(rest) +
                                     " bytes is not a multiple of 4");
    }
    if (pad > rest) {
      return Status::InvalidArgument(std::string(info.name) + ": pad count " + std::to_string(pad) +
                                     " exceeds the " + std::to_string(rest) + " payload bytes");
    }
    if ((info.is_first || info.is_middle) && pad != 0) {
      return Status::InvalidArgument(std::string(info.name) + " must not be padded (pad count " +
                                     std::to_string(pad) + ")");
    }
  }
  *payload_offset = info.header_bytes;
  *payload_size = rest - pad;
  return Status::Ok();
}

Status IcrcMismatch(uint32_t got, uint32_t want) {
  return Status::Corruption("ICRC mismatch: packet has " + Hex(got) + ", computed " + Hex(want));
}

}  // namespace

const OpcodeInfo& GetOpcodeInfo(uint8_t opcode) { return kOpcodeTable[opcode]; }

std::string OpcodeName(uint8_t opcode) {
  const OpcodeInfo& info = GetOpcodeInfo(opcode);
  if (info.valid) return std::string(info.name);
  char buf[24];
  std::snprintf(buf, sizeof buf, "UNKNOWN(0x%02x)", opcode);
  return buf;
}

int64_t RnrTimerNanoseconds(uint8_t code) {
  // IBTA vol. 1 table 45, in units of 10 ns (0.01 ms .. 655.36 ms).
  static constexpr int64_t kTable[32] = {
      65536,    1,     2,     3,     4,     6,     8,     12,    16,    24,    32,
      48,       64,    96,    128,   192,   256,   384,   512,   768,   1024,  1536,
      2048,     3072,  4096,  6144,  8192,  12288, 16384, 24576, 32768, 49152};
  return kTable[code & 0x1F] * 10'000;
}

uint16_t RoceSourcePort(uint32_t qpn) {
  // Linux hash_32(val, 14): multiply by GOLDEN_RATIO_32, keep the top 14 bits.
  const uint32_t hash = (qpn * 0x61C88647u) >> (32 - 14);
  return uint16_t(kRoceSourcePortBase + (hash & 0x3FFF));
}

std::string Ipv4ToString(uint32_t ip) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xFF, (ip >> 8) & 0xFF, ip & 0xFF);
  return buf;
}

Result<uint32_t> ParseIpv4(std::string_view text) {
  uint32_t ip = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    unsigned v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || next == p || v > 255 || next - p > 3) {
      return Status::InvalidArgument("bad IPv4 address '" + std::string(text) + "'");
    }
    ip = (ip << 8) | v;
    p = next;
    if (i < 3) {
      if (p == end || *p != '.') return Status::InvalidArgument("bad IPv4 address '" + std::string(text) + "'");
      ++p;
    }
  }
  if (p != end) return Status::InvalidArgument("bad IPv4 address '" + std::string(text) + "'");
  return ip;
}

Gid GidFromIpv4(uint32_t ip) {
  Gid g{};
  g[10] = 0xff;
  g[11] = 0xff;
  Put32(g.data() + 12, ip);
  return g;
}

Result<uint32_t> Ipv4FromGid(const Gid& gid) {
  for (int i = 0; i < 10; ++i) {
    if (gid[i] != 0) return Status::InvalidArgument("GID " + GidToString(gid) + " is not IPv4-mapped");
  }
  if (gid[10] != 0xff || gid[11] != 0xff) {
    return Status::InvalidArgument("GID " + GidToString(gid) + " is not IPv4-mapped");
  }
  return Get32(gid.data() + 12);
}

std::string GidToString(const Gid& gid) {
  bool mapped = gid[10] == 0xff && gid[11] == 0xff;
  for (int i = 0; i < 10; ++i) mapped = mapped && gid[i] == 0;
  if (mapped) return "::ffff:" + Ipv4ToString(Get32(gid.data() + 12));
  std::string s;
  char buf[8];
  for (int i = 0; i < 16; i += 2) {
    std::snprintf(buf, sizeof buf, "%s%x", i == 0 ? "" : ":", Get16(gid.data() + i));
    s += buf;
  }
  return s;
}

std::array<uint8_t, 6> MacFromIpv4(uint32_t ip) {
  return {0x02, 0x00, uint8_t(ip >> 24), uint8_t(ip >> 16), uint8_t(ip >> 8), uint8_t(ip)};
}

std::string RocePacket::ToString() const {
  const OpcodeInfo& i = info();
  std::string s = OpcodeName(bth.opcode);
  s += " " + Ipv4ToString(address.src_ip) + ":" + std::to_string(address.src_port) + "->" +
       Ipv4ToString(address.dst_ip) + ":" + std::to_string(address.dst_port);
  s += " qp=" + Hex(bth.dest_qp) + " psn=" + std::to_string(bth.psn);
  if (bth.ack_request) s += " A";
  if (bth.solicited_event) s += " SE";
  if (i.has_reth) {
    s += " reth{va=" + Hex(reth.virtual_address) + " rkey=" + Hex(reth.rkey) +
         " len=" + std::to_string(reth.dma_length) + "}";
  }
  if (i.has_atomic_eth) {
    s += " atomic{va=" + Hex(atomic_eth.virtual_address) + " rkey=" + Hex(atomic_eth.rkey) +
         " swap_add=" + Hex(atomic_eth.swap_or_add) + " cmp=" + Hex(atomic_eth.compare) + "}";
  }
  if (i.has_aeth) {
    static constexpr const char* kKinds[] = {"ACK", "RNR_NAK", "RESERVED", "NAK"};
    s += " aeth{" + std::string(kKinds[static_cast<int>(aeth.kind())]) +
         " value=" + std::to_string(aeth.value()) + " msn=" + std::to_string(aeth.msn) + "}";
  }
  if (i.has_atomic_ack_eth) s += " orig=" + Hex(atomic_ack.original_data);
  if (i.has_immdt) s += " imm=" + Hex(immediate);
  if (i.has_ieth) s += " inv_rkey=" + Hex(invalidate_rkey);
  if (i.has_payload) s += " len=" + std::to_string(payload.size());
  return s;
}

bool SamePacket(const RocePacket& a, const RocePacket& b) {
  if (!(a.address == b.address)) return false;
  Bth ba = a.bth, bb = b.bth;
  ba.pad_count = bb.pad_count = 0;
  if (!(ba == bb)) return false;
  const OpcodeInfo& i = a.info();
  if (i.has_reth && !(a.reth == b.reth)) return false;
  if (i.has_atomic_eth && !(a.atomic_eth == b.atomic_eth)) return false;
  if (i.has_aeth && !(a.aeth == b.aeth)) return false;
  if (i.has_atomic_ack_eth && !(a.atomic_ack == b.atomic_ack)) return false;
  if (i.has_immdt && a.immediate != b.immediate) return false;
  if (i.has_ieth && a.invalidate_rkey != b.invalidate_rkey) return false;
  return a.payload.size() == b.payload.size() &&
         (a.payload.empty() || std::memcmp(a.payload.data(), b.payload.data(), a.payload.size()) == 0);
}

// ---- encoding ---------------------------------------------------------------------------

Status ValidateForEncode(const RocePacket& p) {
  const OpcodeInfo& info = p.info();
  if (!info.valid) return Status::InvalidArgument("cannot encode unsupported opcode " + Hex(p.bth.opcode));
  if (p.bth.dest_qp > kQpnMask) return Status::InvalidArgument("dest QP " + Hex(p.bth.dest_qp) + " exceeds 24 bits");
  if (p.bth.psn > kPsnMask) return Status::InvalidArgument("PSN " + Hex(p.bth.psn) + " exceeds 24 bits");
  if (p.bth.transport_version > 0xF || p.bth.reserved6 > 0x3F || p.bth.reserved7 > 0x7F) {
    return Status::InvalidArgument("BTH field out of range in " + p.ToString());
  }
  if (!info.has_payload && !p.payload.empty()) {
    return Status::InvalidArgument(std::string(info.name) + " cannot carry a payload (" +
                                   std::to_string(p.payload.size()) + " bytes given)");
  }
  if ((info.is_first || info.is_middle) && p.payload.size() % 4 != 0) {
    return Status::InvalidArgument(std::string(info.name) + " payload must be a multiple of 4 bytes (got " +
                                   std::to_string(p.payload.size()) + ")");
  }
  if (info.has_aeth && p.aeth.msn > 0xFFFFFF) {
    return Status::InvalidArgument("AETH field out of range in " + p.ToString());
  }
  if (p.udp_payload_bytes() > kMaxUdpPayloadBytes) {
    return Status::InvalidArgument("packet of " + std::to_string(p.udp_payload_bytes()) +
                                   " bytes does not fit in a UDP datagram");
  }
  return Status::Ok();
}

Result<size_t> EncodeTransportHeaders(const RocePacket& pkt, std::span<uint8_t> out) {
  S3_RETURN_IF_ERROR(ValidateForEncode(pkt));
  const OpcodeInfo& info = pkt.info();
  if (out.size() < info.header_bytes) return Status::InvalidArgument("output buffer too small for headers");
  uint8_t* p = out.data();
  const Bth& b = pkt.bth;
  p[0] = b.opcode;
  p[1] = uint8_t((b.solicited_event ? 0x80 : 0) | (b.migration ? 0x40 : 0) | (pkt.pad_bytes() << 4) |
                 (b.transport_version & 0xF));
  Put16(p + 2, b.pkey);
  p[4] = uint8_t((b.fecn ? 0x80 : 0) | (b.becn ? 0x40 : 0) | (b.reserved6 & 0x3F));
  Put24(p + 5, b.dest_qp);
  p[8] = uint8_t((b.ack_request ? 0x80 : 0) | (b.reserved7 & 0x7F));
  Put24(p + 9, b.psn);
  size_t off = kBthBytes;
  if (info.has_reth) {
    Put64(p + off, pkt.reth.virtual_address);
    Put32(p + off + 8, pkt.reth.rkey);
    Put32(p + off + 12, pkt.reth.dma_length);
    off += kRethBytes;
  }
  if (info.has_atomic_eth) {
    Put64(p + off, pkt.atomic_eth.virtual_address);
    Put32(p + off + 8, pkt.atomic_eth.rkey);
    Put64(p + off + 12, pkt.atomic_eth.swap_or_add);
    Put64(p + off + 20, pkt.atomic_eth.compare);
    off += kAtomicEthBytes;
  }
  if (info.has_aeth) {
    p[off] = pkt.aeth.syndrome;
    Put24(p + off + 1, pkt.aeth.msn);
    off += kAethBytes;
  }
  if (info.has_atomic_ack_eth) {
    Put64(p + off, pkt.atomic_ack.original_data);
    off += kAtomicAckEthBytes;
  }
  if (info.has_immdt) {
    Put32(p + off, pkt.immediate);
    off += kImmDtBytes;
  }
  if (info.has_ieth) {
    Put32(p + off, pkt.invalidate_rkey);
    off += kIethBytes;
  }
  return off;
}

uint32_t ComputeIcrc(const PacketAddress& address, std::span<const uint8_t> transport_headers,
                     std::span<const uint8_t> payload, size_t pad_bytes) {
  S3_CHECK(transport_headers.size() >= kBthBytes && pad_bytes <= 3);
  uint8_t ip_udp[kIpv4HeaderBytes + kUdpHeaderBytes];
  WriteIpUdpHeaders(address, transport_headers.size() + payload.size() + pad_bytes + kIcrcBytes, ip_udp);
  return IcrcWithHeaders(ip_udp, transport_headers, payload, pad_bytes);
}

uint32_t ComputeIcrcOfUdpPayload(const PacketAddress& address, std::span<const uint8_t> udp_payload) {
  S3_CHECK(udp_payload.size() >= kBthBytes + kIcrcBytes);
  uint8_t ip_udp[kIpv4HeaderBytes + kUdpHeaderBytes];
  WriteIpUdpHeaders(address, udp_payload.size(), ip_udp);
  return IcrcOfUdpPayloadWithHeaders(ip_udp, udp_payload);
}

namespace {

// Writes BTH..ICRC at `out`, given the IPv4+UDP header bytes the ICRC covers.
Result<size_t> EncodeAfterIpUdp(const RocePacket& pkt, const uint8_t* ip_udp, std::span<uint8_t> out) {
  const size_t total = pkt.udp_payload_bytes();
  if (out.size() < total) {
    return Status::InvalidArgument("output buffer of " + std::to_string(out.size()) + " bytes, packet needs " +
                                   std::to_string(total));
  }
  S3_ASSIGN_OR_RETURN(size_t hdr, EncodeTransportHeaders(pkt, out));
  uint8_t* p = out.data() + hdr;
  if (!pkt.payload.empty()) std::memcpy(p, pkt.payload.data(), pkt.payload.size());
  p += pkt.payload.size();
  const size_t pad = pkt.pad_bytes();
  std::memset(p, 0, pad);
  p += pad;
  const uint32_t icrc = IcrcWithHeaders(ip_udp, out.first(hdr), pkt.payload.span(), pad);
  PutLe32(p, icrc);
  return total;
}

}  // namespace

Result<size_t> EncodeUdpPayload(const RocePacket& pkt, std::span<uint8_t> out) {
  S3_RETURN_IF_ERROR(ValidateForEncode(pkt));
  uint8_t ip_udp[kIpv4HeaderBytes + kUdpHeaderBytes];
  WriteIpUdpHeaders(pkt.address, pkt.udp_payload_bytes(), ip_udp);
  return EncodeAfterIpUdp(pkt, ip_udp, out);
}

Result<std::vector<uint8_t>> EncodeUdpPayload(const RocePacket& pkt) {
  S3_RETURN_IF_ERROR(ValidateForEncode(pkt));
  std::vector<uint8_t> out(pkt.udp_payload_bytes());
  S3_ASSIGN_OR_RETURN(size_t n, EncodeUdpPayload(pkt, out));
  out.resize(n);
  return out;
}

Result<size_t> EncodeFrame(const RocePacket& pkt, std::span<uint8_t> out) {
  S3_RETURN_IF_ERROR(ValidateForEncode(pkt));
  const size_t total = pkt.frame_bytes();
  if (out.size() < total) {
    return Status::InvalidArgument("output buffer of " + std::to_string(out.size()) + " bytes, frame needs " +
                                   std::to_string(total));
  }
  uint8_t* p = out.data();
  const auto dst_mac = MacFromIpv4(pkt.address.dst_ip);
  const auto src_mac = MacFromIpv4(pkt.address.src_ip);
  std::memcpy(p, dst_mac.data(), 6);
  std::memcpy(p + 6, src_mac.data(), 6);
  Put16(p + 12, 0x0800);
  uint8_t* ip = p + kEthernetHeaderBytes;
  WriteIpUdpHeaders(pkt.address, pkt.udp_payload_bytes(), ip);
  S3_ASSIGN_OR_RETURN(size_t n, EncodeAfterIpUdp(pkt, ip, out.subspan(kFrameOverheadBytes)));
  return kFrameOverheadBytes + n;
}

Result<std::vector<uint8_t>> EncodeFrame(const RocePacket& pkt) {
  S3_RETURN_IF_ERROR(ValidateForEncode(pkt));
  std::vector<uint8_t> out(pkt.frame_bytes());
  S3_ASSIGN_OR_RETURN(size_t n, EncodeFrame(pkt, out));
  out.resize(n);
  return out;
}

// ---- decoding ---------------------------------------------------------------------------

namespace {

// Decodes BTH..ICRC whose IPv4+UDP header bytes are `ip_udp`; the payload is taken from
// `block` (sharing) when given, else copied.
Result<RocePacket> DecodeWithHeaders(std::span<const uint8_t> d, const uint8_t* ip_udp, const PacketAddress& address,
                                     const DecodeOptions& options, const Payload* block) {
  size_t payload_offset = 0, payload_size = 0;
  S3_RETURN_IF_ERROR(CheckStructure(d, &payload_offset, &payload_size));
  if (options.verify_icrc) {
    const uint32_t want = IcrcOfUdpPayloadWithHeaders(ip_udp, d);
    const uint32_t got = GetLe32(d.data() + d.size() - kIcrcBytes);
    if (got != want) return IcrcMismatch(got, want);
  }
  RocePacket pkt;
  pkt.address = address;
  const OpcodeInfo& info = GetOpcodeInfo(d[0]);
  ParseHeaders(d.data(), info, pkt);
  if (payload_size > 0) {
    if (block != nullptr) {
      pkt.payload = block->Slice(payload_offset, payload_size);
    } else {
      pkt.payload = Payload::CopyOf(d.subspan(payload_offset, payload_size));
    }
  }
  return pkt;
}

}  // namespace

Result<RocePacket> DecodeUdpPayload(std::span<const uint8_t> udp_payload, const PacketAddress& address,
                                    const DecodeOptions& options) {
  uint8_t ip_udp[kIpv4HeaderBytes + kUdpHeaderBytes];
  WriteIpUdpHeaders(address, udp_payload.size(), ip_udp);
  return DecodeWithHeaders(udp_payload, ip_udp, address, options, nullptr);
}

Result<RocePacket> DecodeUdpPayload(const Payload& datagram, const PacketAddress& address,
                                    const DecodeOptions& options) {
  uint8_t ip_udp[kIpv4HeaderBytes + kUdpHeaderBytes];
  WriteIpUdpHeaders(address, datagram.size(), ip_udp);
  return DecodeWithHeaders(datagram.span(), ip_udp, address, options, &datagram);
}

Result<RocePacket> DecodeFrame(std::span<const uint8_t> frame, const DecodeOptions& options) {
  if (frame.size() < kFrameOverheadBytes) {
    return Status::InvalidArgument("truncated frame: " + std::to_string(frame.size()) +
                                   " bytes, Ethernet + IPv4 + UDP headers need " +
                                   std::to_string(kFrameOverheadBytes));
  }
  const uint16_t ethertype = Get16(frame.data() + 12);
  if (ethertype != 0x0800) return Status::InvalidArgument("not IPv4: EtherType " + Hex(ethertype));
  const uint8_t* ip = frame.data() + kEthernetHeaderBytes;
  if (ip[0] != 0x45) {
    return Status::InvalidArgument("unsupported IPv4 version/IHL byte " + Hex(ip[0]) + " (want 0x45)");
  }
  if (ip[9] != 17) return Status::InvalidArgument("not UDP: IPv4 protocol " + std::to_string(ip[9]));
  if ((Get16(ip + 6) & 0x3FFF) != 0) return Status::InvalidArgument("fragmented IPv4 packet");
  const size_t ip_total = Get16(ip + 2);
  const size_t available = frame.size() - kEthernetHeaderBytes;
  if (ip_total < kIpv4HeaderBytes + kUdpHeaderBytes || ip_total > available) {
    return Status::InvalidArgument("IPv4 total length " + std::to_string(ip_total) + " inconsistent with " +
                                   std::to_string(available) + " bytes after the Ethernet header");
  }
  if (options.verify_ipv4_checksum && Ipv4Checksum(ip) != 0) {
    return Status::Corruption("IPv4 header checksum mismatch");
  }
  const uint8_t* udp = ip + kIpv4HeaderBytes;
  const size_t udp_len = Get16(udp + 4);
  if (udp_len != ip_total - kIpv4HeaderBytes) {
    return Status::InvalidArgument("UDP length " + std::to_string(udp_len) + " disagrees with IPv4 total length " +
                                   std::to_string(ip_total));
  }
  PacketAddress address{Get32(ip + 12), Get32(ip + 16), Get16(udp), Get16(udp + 2)};
  if (options.require_roce_port && address.dst_port != kRoceUdpPort) {
    return Status::InvalidArgument("UDP destination port " + std::to_string(address.dst_port) +
                                   " is not RoCEv2 (4791)");
  }
  return DecodeWithHeaders(std::span<const uint8_t>(udp + kUdpHeaderBytes, udp_len - kUdpHeaderBytes), ip, address,
                           options, nullptr);
}

}  // namespace s3rdma::emu
