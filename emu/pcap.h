// pcap capture of RoCEv2 traffic, readable by Wireshark/tshark (dissected as InfiniBand).
//
// PcapWriter writes the classic libpcap format with nanosecond timestamps (magic
// 0xa1b23c4d), LINKTYPE_ETHERNET, one record per frame: Ethernet/IPv4/UDP/BTH..ICRC as
// EncodeFrame builds it (valid IPv4 checksum, correct ICRC). PcapCapture stamps records with
// runtime time: simulated time under VirtualRuntime (so captures are deterministic), wall-
// clock time under RealRuntime.
//
// PcapCapture is a Fabric decorator: it wraps any fabric and records every packet its ports
// send, and every packet they receive from a sender that is not itself attached through the
// same capture (so a packet between two captured in-process ports appears once, and each
// process of a two-process UDP run records both directions).
//
// Threading: like fabrics, single-threaded (the runtime's thread). Write errors are sticky:
// the first one is kept in status() and later records are skipped.
#ifndef S3RDMA_EMU_PCAP_H_
#define S3RDMA_EMU_PCAP_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "emu/fabric.h"
#include "emu/roce_wire.h"

namespace s3rdma::emu {

class PcapWriter {
 public:
  // Creates (truncates) `path` and writes the file header. IOError if it cannot.
  static core::Result<std::unique_ptr<PcapWriter>> Open(const std::string& path);
  ~PcapWriter();  // flushes and closes
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one frame captured at `when` + `epoch_offset_ns` (the offset lets real runs carry
  // wall-clock timestamps, which core::Time's +-106-day range cannot hold).
  void WriteFrame(core::Time when, std::span<const uint8_t> frame, int64_t epoch_offset_ns = 0);
  // Encodes `packet` as a frame (EncodeFrame) and appends it; packets that cannot be encoded
  // are skipped and counted in skipped().
  void WritePacket(core::Time when, const RocePacket& packet, int64_t epoch_offset_ns = 0);
  core::Status Flush();

  const std::string& path() const { return path_; }
  uint64_t records() const { return records_; }
  uint64_t skipped() const { return skipped_; }
  const core::Status& status() const { return status_; }

 private:
  PcapWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::FILE* file_;
  uint64_t records_ = 0;
  uint64_t skipped_ = 0;
  std::vector<uint8_t> scratch_;
  core::Status status_;
};

// One record of a pcap file.
struct PcapRecord {
  int64_t epoch_ns = 0;        // timestamp, nanoseconds since the pcap epoch
  core::Time when;             // the same as core::Time (meaningful below ~106 days)
  std::vector<uint8_t> frame;  // the captured bytes (incl_len)
  uint32_t original_length = 0;
};
// Reads a whole pcap file (microsecond or nanosecond, either byte order, LINKTYPE_ETHERNET).
// InvalidArgument/IOError on a malformed or unreadable file.
core::Result<std::vector<PcapRecord>> ReadPcapFile(const std::string& path);

class PcapCapture final : public Fabric {
 public:
  enum class Direction { kSent = 1, kReceived = 2, kBoth = 3 };
  // `inner` must outlive the capture and its ports; the writer is shared (several captures
  // may write to one file).
  PcapCapture(Fabric& inner, std::shared_ptr<PcapWriter> writer, Direction direction = Direction::kBoth);
  ~PcapCapture() override;

  core::Result<std::unique_ptr<FabricPort>> Attach(const NodeAddress& address,
                                                   ReceiveCallback on_receive) override;
  core::Runtime& runtime() override { return inner_.runtime(); }
  PcapWriter& writer() { return *writer_; }

  struct Impl;

 private:
  Fabric& inner_;
  std::shared_ptr<PcapWriter> writer_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace s3rdma::emu

#endif  // S3RDMA_EMU_PCAP_H_
