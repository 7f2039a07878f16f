#include "emu/udp_fabric.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <spdlog/spdlog.h>
#include <vector>

#include "core/check.h"

namespace s3rdma::emu {

using core::Result;
using core::Status;
namespace asio = boost::asio;
using asio::ip::udp;

Status UdpFabricConfig::Validate() const {
  if (socket_buffer_bytes < 0) return Status::InvalidArgument("socket_buffer_bytes must be >= 0");
  if (max_queued_datagrams == 0) return Status::InvalidArgument("max_queued_datagrams must be >= 1");
  if (batch == 0 || batch > 64) return Status::InvalidArgument("batch must be in 1..64");
  if (max_rx_per_wakeup == 0) return Status::InvalidArgument("max_rx_per_wakeup must be >= 1");
  return Status::Ok();
}

namespace {

constexpr size_t kMaxBatch = 64;
// UDP GSO limits (Linux UDP_MAX_SEGMENTS, and one UDP datagram's maximum payload).
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65507;
constexpr size_t kGroBufferBytes = 65536;
constexpr size_t kMaxSendMessages = 16;  // sendmmsg messages per call when coalescing

sockaddr_in ToSockaddr(uint32_t ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(ip);
  sa.sin_port = htons(port);
  return sa;
}

void SetBuffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;  // root only
  (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

// A datagram waiting to be sent: transport headers, a shared payload, pad + ICRC.
struct TxItem {
  uint8_t headers[kMaxTransportHeaderBytes];
  uint8_t trailer[3 + kIcrcBytes];
  uint8_t headers_len = 0;
  uint8_t trailer_len = 0;
  Payload payload;
  sockaddr_in to{};
  size_t bytes() const { return headers_len + payload.size() + trailer_len; }
};

bool SameDestination(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

// The socket and queues of one port. Shared with pending handlers through weak_ptr, so a
// handler that runs after the port is gone does nothing.
struct PortCore : std::enable_shared_from_this<PortCore> {
  PortCore(core::RealRuntime& rt, const UdpFabricConfig& cfg, std::shared_ptr<UdpFabricStats> st)
      : runtime(rt), config(cfg), fabric_stats(std::move(st)), socket(rt.io()) {}

  core::RealRuntime& runtime;
  UdpFabricConfig config;
  std::shared_ptr<UdpFabricStats> fabric_stats;
  udp::socket socket;
  NodeAddress bound;
  Fabric::ReceiveCallback on_receive;
  PortStats stats;
  bool closed = false;

  std::deque<TxItem> tx_queue;
  bool flush_posted = false;
  bool waiting_writable = false;

  std::vector<Payload> rx_blocks;
  bool gso = false;  // send coalesced datagrams with UDP_SEGMENT
  bool gro = false;  // socket receives coalesced datagrams (UDP_GRO)

  Status Send(const NodeAddress& to, RocePacket packet) {
    S3_RETURN_IF_ERROR(ValidateForEncode(packet));
    if (closed) return Status::FailedPrecondition("port closed");
    packet.address = PacketAddress{bound.ipv4, to.ipv4, bound.udp_port, to.udp_port};
    if (tx_queue.size() >= config.max_queued_datagrams) {
      ++stats.tx_dropped;
      return Status::Ok();
    }
    TxItem& item = tx_queue.emplace_back();
    auto hdr = EncodeTransportHeaders(packet, item.headers);
    S3_CHECK(hdr.ok());
    item.headers_len = uint8_t(*hdr);
    const size_t pad = packet.pad_bytes();
    std::memset(item.trailer, 0, pad);
    const uint32_t icrc = ComputeIcrc(packet.address, std::span<const uint8_t>(item.headers, item.headers_len),
                                      packet.payload.span(), pad);
    uint8_t* p = item.trailer + pad;
    p[0] = uint8_t(icrc);
    p[1] = uint8_t(icrc >> 8);
    p[2] = uint8_t(icrc >> 16);
    p[3] = uint8_t(icrc >> 24);
    item.trailer_len = uint8_t(pad + kIcrcBytes);
    item.payload = std::move(packet.payload);
    item.to = ToSockaddr(to.ipv4, to.udp_port);
    ++stats.tx_packets;
    stats.tx_bytes += item.headers_len + item.payload.size() + item.trailer_len;

    if (waiting_writable) return Status::Ok();
    if (tx_queue.size() >= config.batch) {
      Flush();
    } else if (!flush_posted) {
      // The first packet of a turn leaves at once (latency); packets sent later in the same
      // turn queue up and leave together from the posted flush (batching, GSO).
      if (tx_queue.size() == 1) Flush();
      flush_posted = true;
      std::weak_ptr<PortCore> weak = weak_from_this();
      runtime.Post([weak] {
        if (auto self = weak.lock()) {
          self->flush_posted = false;
          if (!self->waiting_writable) self->Flush();
        }
      });
    }
    return Status::Ok();
  }

  // Sends queued datagrams. With GSO, runs of datagrams to one destination whose sizes are
  // equal (the last may be shorter) leave as one message the kernel segments (UDP_SEGMENT):
  // one trip through the stack for up to 64 datagrams instead of one each.
  void Flush() {
    mmsghdr msgs[kMaxBatch];
    iovec iov[kMaxBatch * 3];
    size_t items_in[kMaxBatch];
    alignas(cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(uint16_t))];
    while (!tx_queue.empty() && !closed) {
      const size_t max_msgs = gso ? std::min(kMaxSendMessages, kMaxBatch) : std::min(config.batch, kMaxBatch);
      const size_t max_iov = sizeof iov / sizeof iov[0];
      size_t n = 0, item = 0, used_iov = 0;
      while (n < max_msgs && item < tx_queue.size()) {
        const TxItem& head = tx_queue[item];
        const size_t segment = head.bytes();
        size_t count = 1, total = segment;
        if (gso) {
          while (item + count < tx_queue.size() && count < kMaxGsoSegments) {
            const TxItem& next = tx_queue[item + count];
            if (!SameDestination(next.to, head.to) || next.bytes() > segment || total + next.bytes() > kMaxGsoBytes ||
                used_iov + 3 * (count + 1) > max_iov) {
              break;
            }
            total += next.bytes();
            ++count;
            if (next.bytes() < segment) break;  // a shorter datagram ends the run
          }
        }
        if (used_iov + 3 * count > max_iov) break;
        const size_t first_iov = used_iov;
        for (size_t k = 0; k < count; ++k) {
          TxItem& it = tx_queue[item + k];
          iov[used_iov++] = {it.headers, it.headers_len};
          if (!it.payload.empty()) iov[used_iov++] = {const_cast<uint8_t*>(it.payload.data()), it.payload.size()};
          iov[used_iov++] = {it.trailer, it.trailer_len};
        }
        msgs[n] = {};
        msgs[n].msg_hdr.msg_name = &tx_queue[item].to;
        msgs[n].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        msgs[n].msg_hdr.msg_iov = &iov[first_iov];
        msgs[n].msg_hdr.msg_iovlen = used_iov - first_iov;
        if (count > 1) {
          msgs[n].msg_hdr.msg_control = control[n];
          msgs[n].msg_hdr.msg_controllen = sizeof control[n];
          cmsghdr* cm = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
          cm->cmsg_level = SOL_UDP;
          cm->cmsg_type = UDP_SEGMENT;
          cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          const uint16_t gso_size = uint16_t(segment);
          std::memcpy(CMSG_DATA(cm), &gso_size, sizeof gso_size);
        }
        items_in[n] = count;
        item += count;
        ++n;
      }
      ++fabric_stats->send_syscalls;
      const int r = sendmmsg(socket.native_handle(), msgs, unsigned(n), MSG_DONTWAIT);
      if (r > 0) {
        for (int m = 0; m < r; ++m) {
          if (items_in[m] > 1) ++fabric_stats->gso_sends;
          for (size_t k = 0; k < items_in[m]; ++k) tx_queue.pop_front();
        }
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        ++fabric_stats->send_would_block;
        WaitWritable();
        return;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && gso && items_in[0] > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP)) {
        // GSO refused, or a destination that cannot be reached at all? Send the run's first
        // datagram alone: if that works, GSO is the problem and is turned off for this port.
        const int gso_errno = errno;
        const int one = SendOne(tx_queue.front());
        if (one >= 0) {
          spdlog::info("udp fabric {}: UDP GSO refused ({}), sending datagrams one by one", bound.ToString(),
                       std::strerror(gso_errno));
          gso = false;
          tx_queue.pop_front();
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
          ++fabric_stats->send_would_block;
          WaitWritable();
          return;
        }
      }
      // Unroutable or refused destination: lose these datagrams, as a network would.
      spdlog::debug("udp fabric {}: sendmmsg: {}", bound.ToString(), std::strerror(errno));
      for (size_t k = 0; k < items_in[0]; ++k) {
        ++stats.tx_dropped;
        tx_queue.pop_front();
      }
    }
  }

  // One datagram, no GSO. Returns sendmsg's result (errno set on -1).
  int SendOne(TxItem& item) {
    iovec v[3];
    int parts = 0;
    v[parts++] = {item.headers, item.headers_len};
    if (!item.payload.empty()) v[parts++] = {const_cast<uint8_t*>(item.payload.data()), item.payload.size()};
    v[parts++] = {item.trailer, item.trailer_len};
    msghdr m{};
    m.msg_name = &item.to;
    m.msg_namelen = sizeof item.to;
    m.msg_iov = v;
    m.msg_iovlen = size_t(parts);
    ++fabric_stats->send_syscalls;
    return int(sendmsg(socket.native_handle(), &m, MSG_DONTWAIT));
  }

  void WaitWritable() {
    waiting_writable = true;
    std::weak_ptr<PortCore> weak = weak_from_this();
    socket.async_wait(udp::socket::wait_write, [weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || self->closed) return;
      self->waiting_writable = false;
      if (ec) return;
      self->Flush();
    });
  }

  void ArmReceive() {
    std::weak_ptr<PortCore> weak = weak_from_this();
    socket.async_wait(udp::socket::wait_read, [weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || self->closed || ec) return;
      self->ReceiveReady();
    });
  }

  // Hands one received datagram (BTH..ICRC) to the callback.
  void Deliver(const Payload& datagram, const PacketAddress& address) {
    DecodeOptions options;
    options.verify_icrc = config.verify_icrc;
    auto packet = DecodeUdpPayload(datagram, address, options);
    if (!packet.ok()) {
      if (packet.status().code() == core::StatusCode::kCorruption) {
        ++stats.rx_dropped_icrc;
      } else {
        ++stats.rx_dropped_malformed;
      }
      spdlog::debug("udp fabric {}: dropped datagram from {}:{}: {}", bound.ToString(), Ipv4ToString(address.src_ip),
                    address.src_port, packet.status().ToString());
      return;
    }
    ++stats.rx_packets;
    stats.rx_bytes += datagram.size();
    on_receive(std::move(packet).value());
  }

  void ReceiveReady() {
    // Keeps this core alive even if a callback destroys the port.
    std::shared_ptr<PortCore> self = shared_from_this();
    const size_t batch = std::min(config.batch, gro ? size_t(8) : kMaxBatch);
    const size_t block_bytes = gro ? kGroBufferBytes : Payload::kPooledCapacity;
    mmsghdr msgs[kMaxBatch];
    iovec iov[kMaxBatch];
    sockaddr_in from[kMaxBatch];
    alignas(cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(int))];
    size_t handled = 0;
    rx_blocks.resize(batch);
    while (!closed && handled < config.max_rx_per_wakeup) {
      for (size_t i = 0; i < batch; ++i) {
        if (rx_blocks[i].empty()) rx_blocks[i] = Payload::Allocate(block_bytes);
        iov[i] = {rx_blocks[i].mutable_data(), rx_blocks[i].size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        if (gro) {
          msgs[i].msg_hdr.msg_control = control[i];
          msgs[i].msg_hdr.msg_controllen = sizeof control[i];
        }
      }
      ++fabric_stats->recv_syscalls;
      const int r = recvmmsg(socket.native_handle(), msgs, unsigned(batch), MSG_DONTWAIT, nullptr);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          spdlog::debug("udp fabric {}: recvmmsg: {}", bound.ToString(), std::strerror(errno));
        }
        break;
      }
      if (r == 0) break;
      for (int i = 0; i < r && !closed; ++i) {
        const size_t len = msgs[i].msg_len;
        if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || msgs[i].msg_hdr.msg_namelen != sizeof(sockaddr_in)) {
          ++handled;
          ++stats.rx_dropped_malformed;
          continue;
        }
        size_t segment = len;  // one datagram unless the kernel coalesced several (GRO)
        if (gro) {
          for (cmsghdr* cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm != nullptr; cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
            if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
              int size = 0;
              std::memcpy(&size, CMSG_DATA(cm), sizeof size);
              if (size > 0) segment = size_t(size);
            }
          }
        }
        const PacketAddress address{ntohl(from[i].sin_addr.s_addr), bound.ipv4, ntohs(from[i].sin_port),
                                    bound.udp_port};
        if (gro && segment >= len && len <= Payload::kPooledCapacity) {
          // A lone small datagram: copy it to a pooled block and keep the big buffer.
          ++handled;
          Deliver(Payload::CopyOf(rx_blocks[i].span().first(len)), address);
          continue;
        }
        Payload block = std::move(rx_blocks[i]);
        rx_blocks[i] = Payload();
        if (segment < len) ++fabric_stats->gro_receives;
        for (size_t off = 0; off < len && !closed; off += segment) {
          ++handled;
          Deliver(block.Slice(off, std::min(segment, len - off)), address);
        }
      }
      if (size_t(r) < batch) break;  // socket drained
    }
    if (!closed) ArmReceive();
  }
};

class UdpPort final : public FabricPort {
 public:
  explicit UdpPort(std::shared_ptr<PortCore> core) : core_(std::move(core)) {}
  ~UdpPort() override {
    // on_receive stays: it may be running right now (a callback destroying its own port);
    // `closed` keeps it from being called again.
    core_->closed = true;
    boost::system::error_code ignored;
    core_->socket.close(ignored);
  }
  NodeAddress address() const override { return core_->bound; }
  Status Send(const NodeAddress& to, RocePacket packet) override { return core_->Send(to, std::move(packet)); }
  const PortStats& stats() const override { return core_->stats; }
  PacketAddress WireAddress(const NodeAddress& to, const RocePacket&) const override {
    return PacketAddress{core_->bound.ipv4, to.ipv4, core_->bound.udp_port, to.udp_port};
  }

 private:
  std::shared_ptr<PortCore> core_;
};

}  // namespace

UdpFabric::UdpFabric(core::RealRuntime& runtime, UdpFabricConfig config)
    : runtime_(runtime), config_(config), stats_(std::make_shared<UdpFabricStats>()) {
  Status s = config_.Validate();
  S3_CHECK_MSG(s.ok(), "UdpFabric: " + s.ToString());
}

UdpFabric::~UdpFabric() = default;

Result<std::unique_ptr<FabricPort>> UdpFabric::Attach(const NodeAddress& address, ReceiveCallback on_receive) {
  S3_CHECK_MSG(on_receive != nullptr, "UdpFabric::Attach needs a receive callback");
  if (address.ipv4 == 0) {
    return Status::InvalidArgument("UDP fabric needs a specific local IPv4 address to bind, not 0.0.0.0");
  }
  auto core = std::make_shared<PortCore>(runtime_, config_, stats_);
  boost::system::error_code ec;
  core->socket.open(udp::v4(), ec);
  if (ec) return Status::IOError("cannot open UDP socket: " + ec.message());
  const udp::endpoint endpoint(asio::ip::address_v4(address.ipv4), address.udp_port);
  core->socket.bind(endpoint, ec);
  if (ec) return Status::IOError("cannot bind UDP " + address.ToString() + ": " + ec.message());
  core->socket.non_blocking(true, ec);
  if (ec) return Status::IOError("cannot make UDP socket non-blocking: " + ec.message());
  SetBuffer(core->socket.native_handle(), SO_SNDBUFFORCE, SO_SNDBUF, config_.socket_buffer_bytes);
  SetBuffer(core->socket.native_handle(), SO_RCVBUFFORCE, SO_RCVBUF, config_.socket_buffer_bytes);
  if (config_.gso) {
    int on = 1;
    core->gro = setsockopt(core->socket.native_handle(), SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
    core->gso = true;  // verified by the first coalesced send; falls back if refused
  }
  const udp::endpoint local = core->socket.local_endpoint(ec);
  if (ec) return Status::IOError("cannot read bound UDP address: " + ec.message());
  core->bound = NodeAddress{address.ipv4, local.port()};
  core->on_receive = std::move(on_receive);
  core->ArmReceive();
  return std::unique_ptr<FabricPort>(new UdpPort(std::move(core)));
}

}  // namespace s3rdma::emu
