#include "emu/pcap.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "core/check.h"
#include "core/real_runtime.h"

namespace s3rdma::emu {

using core::Result;
using core::Status;

namespace {

constexpr uint32_t kMagicMicros = 0xa1b2c3d4;
constexpr uint32_t kMagicNanos = 0xa1b23c4d;
constexpr uint32_t kSnapLen = 65535;
constexpr uint32_t kLinkTypeEthernet = 1;

// pcap headers are written in the host's byte order (readers detect it from the magic);
// we write little-endian explicitly so files are identical on every host.
void PutLe16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
void PutLe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24);
}
uint32_t GetU32(const uint8_t* p, bool swap) {
  uint32_t le = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
  return swap ? __builtin_bswap32(le) : le;
}

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

Result<std::unique_ptr<PcapWriter>> PcapWriter::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::IOError("cannot create pcap file '" + path + "': " + ErrnoText());
  uint8_t header[24];
  PutLe32(header, kMagicNanos);
  PutLe16(header + 4, 2);  // version 2.4
  PutLe16(header + 6, 4);
  PutLe32(header + 8, 0);   // thiszone
  PutLe32(header + 12, 0);  // sigfigs
  PutLe32(header + 16, kSnapLen);
  PutLe32(header + 20, kLinkTypeEthernet);
  if (std::fwrite(header, 1, sizeof header, f) != sizeof header) {
    std::fclose(f);
    return Status::IOError("cannot write pcap header to '" + path + "': " + ErrnoText());
  }
  return std::unique_ptr<PcapWriter>(new PcapWriter(path, f));
}

PcapWriter::~PcapWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void PcapWriter::WriteFrame(core::Time when, std::span<const uint8_t> frame, int64_t epoch_offset_ns) {
  if (!status_.ok()) {
    ++skipped_;
    return;
  }
  int64_t ns = when.ns() + epoch_offset_ns;
  if (ns < 0) ns = 0;
  const uint32_t captured = frame.size() > kSnapLen ? kSnapLen : uint32_t(frame.size());
  uint8_t rec[16];
  PutLe32(rec, uint32_t(ns / 1000'000'000));
  PutLe32(rec + 4, uint32_t(ns % 1000'000'000));
  PutLe32(rec + 8, captured);
  PutLe32(rec + 12, uint32_t(frame.size()));
  if (std::fwrite(rec, 1, sizeof rec, file_) != sizeof rec ||
      std::fwrite(frame.data(), 1, captured, file_) != captured) {
    status_ = Status::IOError("cannot write to pcap file '" + path_ + "': " + ErrnoText());
    ++skipped_;
    return;
  }
  ++records_;
}

void PcapWriter::WritePacket(core::Time when, const RocePacket& packet, int64_t epoch_offset_ns) {
  if (!ValidateForEncode(packet).ok()) {
    ++skipped_;
    return;
  }
  scratch_.resize(packet.frame_bytes());
  auto n = EncodeFrame(packet, scratch_);
  if (!n.ok()) {
    ++skipped_;
    return;
  }
  WriteFrame(when, std::span<const uint8_t>(scratch_.data(), *n), epoch_offset_ns);
}

Status PcapWriter::Flush() {
  if (status_.ok() && std::fflush(file_) != 0) {
    status_ = Status::IOError("cannot flush pcap file '" + path_ + "': " + ErrnoText());
  }
  return status_;
}

Result<std::vector<PcapRecord>> ReadPcapFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::IOError("cannot open pcap file '" + path + "': " + ErrnoText());
  std::vector<uint8_t> data;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return Status::IOError("cannot read pcap file '" + path + "'");
  if (data.size() < 24) return Status::InvalidArgument(path + ": truncated pcap header");
  const uint32_t magic = GetU32(data.data(), false);
  bool swap = false, nanos = false;
  if (magic == kMagicMicros) {
  } else if (magic == kMagicNanos) {
    nanos = true;
  } else if (magic == __builtin_bswap32(kMagicMicros)) {
    swap = true;
  } else if (magic == __builtin_bswap32(kMagicNanos)) {
    swap = nanos = true;
  } else {
    return Status::InvalidArgument(path + ": not a pcap file (magic " + std::to_string(magic) + ")");
  }
  const uint32_t linktype = GetU32(data.data() + 20, swap) & 0x0FFFFFFF;
  if (linktype != kLinkTypeEthernet) {
    return Status::InvalidArgument(path + ": link type " + std::to_string(linktype) + " is not Ethernet");
  }
  std::vector<PcapRecord> records;
  size_t off = 24;
  while (off < data.size()) {
    if (data.size() - off < 16) return Status::InvalidArgument(path + ": truncated record header");
    const uint32_t sec = GetU32(data.data() + off, swap);
    const uint32_t frac = GetU32(data.data() + off + 4, swap);
    const uint32_t incl = GetU32(data.data() + off + 8, swap);
    const uint32_t orig = GetU32(data.data() + off + 12, swap);
    off += 16;
    if (incl > data.size() - off) return Status::InvalidArgument(path + ": truncated record");
    PcapRecord r;
    const int64_t ns = int64_t(sec) * 1000'000'000 + (nanos ? int64_t(frac) : int64_t(frac) * 1000);
    r.epoch_ns = ns;
    r.when = ns < int64_t(9e18 / 1000) ? core::Time::FromPicoseconds(ns * 1000) : core::Time::Max();
    r.frame.assign(data.begin() + off, data.begin() + off + incl);
    r.original_length = orig;
    records.push_back(std::move(r));
    off += incl;
  }
  return records;
}

// ---- PcapCapture ------------------------------------------------------------------------

struct PcapCapture::Impl {
  core::Runtime* runtime = nullptr;
  int64_t offset_ns = 0;  // added to runtime time: the wall-clock epoch for a RealRuntime
  std::shared_ptr<PcapWriter> writer;
  Direction direction = Direction::kBoth;
  std::vector<const FabricPort*> local_ports;  // inner ports attached through this capture

  bool records(Direction d) const { return (static_cast<int>(direction) & static_cast<int>(d)) != 0; }

  // True if `packet` was sent by a port of this capture (so it was recorded when sent).
  bool FromLocalPort(const RocePacket& packet) const {
    for (const FabricPort* port : local_ports) {
      const NodeAddress a = port->address();
      if (a.ipv4 != packet.address.src_ip) continue;
      const PacketAddress wire = port->WireAddress(NodeAddress{packet.address.dst_ip, packet.address.dst_port}, packet);
      if (wire.src_port == packet.address.src_port) return true;
    }
    return false;
  }
};

namespace {

class CapturePort final : public FabricPort {
 public:
  CapturePort(std::shared_ptr<PcapCapture::Impl> impl, std::unique_ptr<FabricPort> inner)
      : impl_(std::move(impl)), inner_(std::move(inner)) {
    impl_->local_ports.push_back(inner_.get());
  }
  ~CapturePort() override {
    auto& v = impl_->local_ports;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == inner_.get()) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }

  NodeAddress address() const override { return inner_->address(); }
  const PortStats& stats() const override { return inner_->stats(); }
  PacketAddress WireAddress(const NodeAddress& to, const RocePacket& packet) const override {
    return inner_->WireAddress(to, packet);
  }
  Status Send(const NodeAddress& to, RocePacket packet) override {
    if (impl_->records(PcapCapture::Direction::kSent)) {
      RocePacket copy = packet;  // shares the payload
      copy.address = inner_->WireAddress(to, packet);
      impl_->writer->WritePacket(impl_->runtime->Now(), copy, impl_->offset_ns);
    }
    return inner_->Send(to, std::move(packet));
  }

 private:
  std::shared_ptr<PcapCapture::Impl> impl_;
  std::unique_ptr<FabricPort> inner_;
};

}  // namespace

PcapCapture::PcapCapture(Fabric& inner, std::shared_ptr<PcapWriter> writer, Direction direction)
    : inner_(inner), writer_(std::move(writer)), impl_(std::make_shared<Impl>()) {
  S3_CHECK_MSG(writer_ != nullptr, "PcapCapture needs a writer");
  impl_->runtime = &inner_.runtime();
  if (dynamic_cast<core::RealRuntime*>(impl_->runtime) != nullptr) {
    // Real runs are stamped with wall-clock time, as any capture tool would; virtual runs
    // keep simulated time (deterministic captures).
    const auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    impl_->offset_ns = wall_ns - impl_->runtime->Now().ns();
  }
  impl_->writer = writer_;
  impl_->direction = direction;
}

PcapCapture::~PcapCapture() { (void)writer_->Flush(); }

Result<std::unique_ptr<FabricPort>> PcapCapture::Attach(const NodeAddress& address, ReceiveCallback on_receive) {
  S3_CHECK_MSG(on_receive != nullptr, "PcapCapture::Attach needs a receive callback");
  std::weak_ptr<Impl> weak = impl_;
  auto wrapped = [weak, cb = std::move(on_receive)](RocePacket packet) {
    if (auto impl = weak.lock()) {
      if (impl->records(Direction::kReceived) && !impl->FromLocalPort(packet)) {
        impl->writer->WritePacket(impl->runtime->Now(), packet, impl->offset_ns);
      }
    }
    cb(std::move(packet));
  };
  S3_ASSIGN_OR_RETURN(std::unique_ptr<FabricPort> inner, inner_.Attach(address, std::move(wrapped)));
  return std::unique_ptr<FabricPort>(new CapturePort(impl_, std::move(inner)));
}

}  // namespace s3rdma::emu
