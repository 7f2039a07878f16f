// Fuzz target: the RoCEv2 decoder on arbitrary bytes, and encode/decode round trips.
//
// The first input byte picks a mode:
//   0: bytes as a UDP payload (BTH..ICRC), ICRC checked and not checked
//   1: bytes as an Ethernet frame
//   2: bytes describe a valid packet (opcode, fields, payload); it is encoded, must decode to
//      itself, then is truncated / bit-flipped as the input says and decoded again
//   3: bytes as a pooled datagram decoded without a copy
// Every successful decode must re-encode and decode to the same packet. A broken invariant
// aborts (S3_CHECK), which the fuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "emu/payload.h"
#include "emu/roce_wire.h"

namespace {

using namespace s3rdma::emu;

const uint8_t kOpcodes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
                            0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17};

const PacketAddress kAddress{Ipv4(10, 0, 0, 1), Ipv4(10, 0, 0, 2), 0xC001, kRoceUdpPort};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Take(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | (pos_ < size_ ? data_[pos_++] : 0);
    return v;
  }
  const uint8_t* rest() const { return data_ + pos_; }
  size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void CheckRoundTrip(const RocePacket& packet) {
  auto bytes = EncodeUdpPayload(packet);
  S3_CHECK_MSG(bytes.ok(), "a decoded packet failed to encode: " + bytes.status().ToString());
  S3_CHECK(bytes->size() == packet.udp_payload_bytes());
  auto again = DecodeUdpPayload(std::span<const uint8_t>(*bytes), packet.address);
  S3_CHECK_MSG(again.ok(), "re-encoded packet failed to decode: " + again.status().ToString());
  S3_CHECK_MSG(SamePacket(packet, *again), "round trip changed " + packet.ToString());
  if (packet.address.dst_port == kRoceUdpPort) {
    auto frame = EncodeFrame(packet);
    S3_CHECK(frame.ok());
    auto from_frame = DecodeFrame(*frame);
    S3_CHECK_MSG(from_frame.ok(), from_frame.status().ToString());
    S3_CHECK(SamePacket(packet, *from_frame));
  }
}

void DecodeRaw(std::span<const uint8_t> bytes) {
  // Copy into an exactly sized buffer so out-of-bounds reads hit the sanitizer.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  for (bool verify : {true, false}) {
    DecodeOptions options;
    options.verify_icrc = verify;
    auto p = DecodeUdpPayload(std::span<const uint8_t>(exact), kAddress, options);
    if (p.ok()) {
      (void)p->ToString();
      CheckRoundTrip(*p);
    }
  }
}

void DecodeAsFrame(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  for (bool verify : {true, false}) {
    DecodeOptions options;
    options.verify_icrc = verify;
    options.verify_ipv4_checksum = verify;
    options.require_roce_port = verify;
    auto p = DecodeFrame(std::span<const uint8_t>(exact), options);
    if (p.ok()) CheckRoundTrip(*p);
  }
}

void BuildMutateDecode(Reader& in) {
  RocePacket p;
  p.address = kAddress;
  p.bth.opcode = kOpcodes[in.Take(1) % sizeof kOpcodes];
  const uint64_t flags = in.Take(1);
  p.bth.solicited_event = flags & 1;
  p.bth.migration = flags & 2;
  p.bth.fecn = flags & 4;
  p.bth.becn = flags & 8;
  p.bth.ack_request = flags & 16;
  p.bth.pkey = uint16_t(in.Take(2));
  p.bth.dest_qp = uint32_t(in.Take(3));
  p.bth.psn = uint32_t(in.Take(3));
  p.reth = {in.Take(8), uint32_t(in.Take(4)), uint32_t(in.Take(4))};
  p.atomic_eth = {in.Take(8), uint32_t(in.Take(4)), in.Take(8), in.Take(8)};
  p.aeth = {uint8_t(in.Take(1) & 0x7F), uint32_t(in.Take(3))};
  p.atomic_ack = {in.Take(8)};
  p.immediate = uint32_t(in.Take(4));
  p.invalidate_rkey = uint32_t(in.Take(4));
  const uint64_t truncate_to = in.Take(2);
  const uint64_t flip_bit = in.Take(2);
  const OpcodeInfo& info = p.info();
  if (info.has_payload) {
    size_t n = std::min<size_t>(in.remaining(), 4096);
    if (info.is_first || info.is_middle) n -= n % 4;
    p.payload = Payload::CopyOf(std::span<const uint8_t>(in.rest(), n));
  }
  auto bytes = EncodeUdpPayload(p);
  S3_CHECK_MSG(bytes.ok(), "valid packet failed to encode: " + bytes.status().ToString());
  auto back = DecodeUdpPayload(std::span<const uint8_t>(*bytes), p.address);
  S3_CHECK_MSG(back.ok(), "encoded packet failed to decode: " + back.status().ToString());
  S3_CHECK_MSG(SamePacket(p, *back), "round trip changed " + p.ToString());

  std::vector<uint8_t> mutated = *bytes;
  if (!mutated.empty()) {
    const size_t bit = flip_bit % (mutated.size() * 8);
    mutated[bit / 8] ^= uint8_t(1u << (bit % 8));
    // A flipped bit outside the ICRC-masked BTH byte 4 must be caught.
    auto r = DecodeUdpPayload(std::span<const uint8_t>(mutated), p.address);
    S3_CHECK_MSG(!r.ok() || bit / 8 == 4, "bit flip " + std::to_string(bit) + " went undetected");
  }
  if (truncate_to < bytes->size()) {
    std::vector<uint8_t> cut(bytes->begin(), bytes->begin() + static_cast<std::ptrdiff_t>(truncate_to));
    S3_CHECK_MSG(!DecodeUdpPayload(std::span<const uint8_t>(cut), p.address).ok(),
                 "truncated packet decoded");
  }
}

void DecodeZeroCopy(std::span<const uint8_t> bytes) {
  Payload datagram = Payload::CopyOf(bytes);
  DecodeOptions options;
  options.verify_icrc = false;
  auto p = DecodeUdpPayload(datagram, kAddress, options);
  if (p.ok()) {
    S3_CHECK(p->payload.empty() || (p->payload.data() >= datagram.data() &&
                                    p->payload.data() + p->payload.size() <= datagram.data() + datagram.size()));
    CheckRoundTrip(*p);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  std::span<const uint8_t> rest(data + 1, size - 1);
  switch (mode) {
    case 0:
      DecodeRaw(rest);
      break;
    case 1:
      DecodeAsFrame(rest);
      break;
    case 2: {
      Reader in(rest.data(), rest.size());
      BuildMutateDecode(in);
      break;
    }
    default:
      DecodeZeroCopy(rest);
      break;
  }
  return 0;
}
