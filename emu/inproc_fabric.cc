#include "emu/inproc_fabric.h"

#include <optional>
#include <vector>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/check.h"

namespace s3rdma::emu {

using core::Duration;
using core::Result;
using core::Status;
using core::Time;

namespace {

// Preamble + start delimiter (8), FCS (4), minimum inter-frame gap (12): what a frame costs
// on an Ethernet link beyond the bytes EncodeFrame writes.
constexpr int64_t kWireOverheadBytes = 24;

Status CheckProbability(const char* name, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return Status::InvalidArgument(std::string("faults.") + name + " must be in [0, 1] (got " + std::to_string(p) + ")");
  }
  return Status::Ok();
}

}  // namespace

Status FaultConfig::Validate() const {
  S3_RETURN_IF_ERROR(CheckProbability("drop_probability", drop_probability));
  S3_RETURN_IF_ERROR(CheckProbability("duplicate_probability", duplicate_probability));
  S3_RETURN_IF_ERROR(CheckProbability("reorder_probability", reorder_probability));
  S3_RETURN_IF_ERROR(CheckProbability("corrupt_probability", corrupt_probability));
  S3_RETURN_IF_ERROR(CheckProbability("delay_probability", delay_probability));
  if (max_extra_delay <= Duration::Zero()) return Status::InvalidArgument("faults.max_extra_delay must be > 0");
  return Status::Ok();
}

bool FaultConfig::any() const {
  return drop_probability > 0 || duplicate_probability > 0 || reorder_probability > 0 || corrupt_probability > 0 ||
         delay_probability > 0;
}

Status InProcConfig::Validate() const {
  if (latency < Duration::Zero()) return Status::InvalidArgument("latency must be >= 0");
  if (link_rate.bps() < 0) return Status::InvalidArgument("link_rate must be >= 0");
  return faults.Validate();
}

// One sending port's egress link: a FIFO of packets in flight with non-decreasing delivery
// times, drained by at most one scheduled task at a time.
struct Link {
  uint64_t id = 0;
  core::Rng rng{0};
  Time free_at;  // when the link finishes serialising what it was given
  struct InFlight {
    Time at;
    RocePacket packet;
  };
  // A FIFO on a power-of-two ring: unlike std::deque it allocates nothing in steady state.
  class Ring {
   public:
    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    InFlight& front() { return slots_[head_]; }
    void push_back(InFlight x) {
      if (size_ == slots_.size()) Grow();
      slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(x);
      ++size_;
    }
    void pop_front() {
      slots_[head_].packet.payload = Payload();  // drop the reference now
      head_ = (head_ + 1) & (slots_.size() - 1);
      --size_;
    }
    void clear() {
      slots_.clear();
      head_ = size_ = 0;
    }

   private:
    void Grow() {
      std::vector<InFlight> bigger(slots_.empty() ? 64 : slots_.size() * 2);
      for (size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
      slots_ = std::move(bigger);
      head_ = 0;
    }
    std::vector<InFlight> slots_;
    size_t head_ = 0;
    size_t size_ = 0;
  };
  Ring queue;
  bool drain_scheduled = false;
};

struct InProcFabric::Impl : std::enable_shared_from_this<InProcFabric::Impl> {
  Impl(core::Runtime& rt, InProcConfig cfg) : runtime(rt), config(std::move(cfg)), root_rng(config.seed) {}

  struct PortState {
    NodeAddress address;
    ReceiveCallback on_receive;
    PortStats stats;
    uint64_t link_id = 0;
  };

  core::Runtime& runtime;
  InProcConfig config;
  InProcStats stats;
  core::Rng root_rng;
  bool closed = false;
  uint64_t next_link_id = 1;
  // By IPv4; lookups only, never iterated. Shared so that a callback may detach its own
  // port while it runs.
  std::unordered_map<uint32_t, std::shared_ptr<PortState>> ports;
  std::unordered_map<uint64_t, Link> links;        // by id; lookups only

  void Deliver(RocePacket packet) {
    auto it = ports.find(packet.address.dst_ip);
    if (it == ports.end()) {
      ++stats.no_route;
      return;
    }
    std::shared_ptr<PortState> port = it->second;
    ++stats.delivered;
    ++port->stats.rx_packets;
    port->stats.rx_bytes += packet.udp_payload_bytes();
    port->on_receive(std::move(packet));  // may detach ports, this one included
  }

  void ScheduleDrain(Link& link) {
    if (link.drain_scheduled || link.queue.empty()) return;
    link.drain_scheduled = true;
    std::weak_ptr<Impl> weak = weak_from_this();
    const uint64_t id = link.id;
    auto task = [weak, id] {
      if (auto self = weak.lock()) self->Drain(id);
    };
    const Time at = link.queue.front().at;
    // Time::Zero() marks "due at once" (no latency, unlimited rate): no clock read needed.
    const Time now = at == Time::Zero() ? Time::Zero() : runtime.Now();
    if (at <= now) {
      runtime.Post(std::move(task));
    } else {
      runtime.After(at - now, std::move(task));
    }
  }

  // Delivers the packets of link `id` that are due, at most as many as were queued when the
  // drain started (so a port sending to itself cannot starve others), then reschedules.
  void Drain(uint64_t id) {
    if (closed) return;
    auto it = links.find(id);
    if (it == links.end()) return;
    it->second.drain_scheduled = false;
    size_t budget = it->second.queue.size();
    const Time now = runtime.Now();  // packets due later than this get a new task
    while (budget-- > 0) {
      Link& link = it->second;
      if (link.queue.empty() || link.queue.front().at > now) break;
      RocePacket packet = std::move(link.queue.front().packet);
      link.queue.pop_front();
      Deliver(std::move(packet));
      if (closed) return;
      it = links.find(id);  // the callback may have detached the sending port
      if (it == links.end()) return;
    }
    ScheduleDrain(it->second);
  }

  // A packet outside the link FIFO (reordered or duplicated copy).
  void DeliverAt(Time at, RocePacket packet) {
    std::weak_ptr<Impl> weak = weak_from_this();
    const Time now = runtime.Now();
    runtime.After(at > now ? at - now : Duration::Zero(), [weak, p = std::move(packet)]() mutable {
      auto self = weak.lock();
      if (self && !self->closed) self->Deliver(std::move(p));
    });
  }

  Duration RandomExtraDelay(core::Rng& rng) {
    return Duration::Picoseconds(rng.Uniform(1, config.faults.max_extra_delay.ps()));
  }

  // Corrupts one bit of the encoded packet and runs the receiving NIC's check. Returns the
  // packet to deliver if (against all odds) it still decodes.
  std::optional<RocePacket> Corrupt(core::Rng& rng, const RocePacket& packet) {
    ++stats.corrupted;
    auto bytes = EncodeUdpPayload(packet);
    S3_CHECK(bytes.ok());  // validated by Send
    std::vector<uint8_t>& b = *bytes;
    // A bit the ICRC covers: byte 4 of the BTH (FECN, BECN, resv6) is masked out of it on
    // purpose, since switches may set FECN/BECN in flight.
    uint64_t bit = rng.Below((b.size() - 1) * 8);
    if (bit >= 4 * 8) bit += 8;
    b[bit / 8] ^= uint8_t(1u << (bit % 8));
    auto decoded = DecodeUdpPayload(std::span<const uint8_t>(b), packet.address);
    if (decoded.ok()) {
      ++stats.corrupt_delivered;
      return std::move(decoded).value();
    }
    auto it = ports.find(packet.address.dst_ip);
    if (it != ports.end()) {
      if (decoded.status().code() == core::StatusCode::kCorruption) {
        ++it->second->stats.rx_dropped_icrc;
      } else {
        ++it->second->stats.rx_dropped_malformed;
      }
    }
    return std::nullopt;
  }

  Status Send(PortState& port, const NodeAddress& to, RocePacket packet) {
    if (closed) return Status::FailedPrecondition("fabric destroyed");
    S3_RETURN_IF_ERROR(ValidateForEncode(packet));
    packet.address.src_ip = port.address.ipv4;
    packet.address.dst_ip = to.ipv4;
    packet.address.dst_port = to.udp_port;
    auto lit = links.find(port.link_id);
    S3_CHECK(lit != links.end());
    Link& link = lit->second;
    ++stats.sent;
    ++port.stats.tx_packets;
    const size_t udp_bytes = packet.udp_payload_bytes();
    port.stats.tx_bytes += udp_bytes;

    const FaultConfig& f = config.faults;
    bool drop = false, corrupt = false, stall = false, reorder = false, duplicate = false;
    if (f.any()) {
      // Fixed draw order, one draw per enabled fault, so a seed means the same thing as
      // long as the configuration is the same.
      if (f.drop_probability > 0) drop = link.rng.Bernoulli(f.drop_probability);
      if (f.corrupt_probability > 0) corrupt = link.rng.Bernoulli(f.corrupt_probability);
      if (f.delay_probability > 0) stall = link.rng.Bernoulli(f.delay_probability);
      if (f.reorder_probability > 0) reorder = link.rng.Bernoulli(f.reorder_probability);
      if (f.duplicate_probability > 0) duplicate = link.rng.Bernoulli(f.duplicate_probability);
    }

    Time at = Time::Zero();  // an ideal fabric (no latency, unlimited rate): due at once
    if (stall || config.latency > Duration::Zero() || config.link_rate.bps() > 0) {
      const Time now = runtime.Now();
      Time start = link.free_at > now ? link.free_at : now;
      if (stall) {
        ++stats.delayed;
        start += RandomExtraDelay(link.rng);
      }
      if (config.link_rate.bps() > 0) {
        start += config.link_rate.TransmitTime(core::Bytes(int64_t(packet.frame_bytes()) + kWireOverheadBytes));
      }
      link.free_at = start;
      at = start + config.latency;
      // Keep the FIFO's times non-decreasing when a stall follows "due at once" packets.
      if (at == Time::Zero()) at = Time::FromPicoseconds(1);
    }

    if (drop) {
      ++stats.dropped;
      return Status::Ok();
    }
    if (corrupt) {
      std::optional<RocePacket> survivor = Corrupt(link.rng, packet);
      if (!survivor) return Status::Ok();
      packet = std::move(*survivor);
    }
    const Time base = at == Time::Zero() ? runtime.Now() : at;
    if (duplicate) {
      ++stats.duplicated;
      DeliverAt(base + Duration::Picoseconds(link.rng.Uniform(0, f.max_extra_delay.ps())), packet);
    }
    if (reorder) {
      ++stats.reordered;
      DeliverAt(base + RandomExtraDelay(link.rng), std::move(packet));
      return Status::Ok();
    }
    link.queue.push_back({at, std::move(packet)});
    ScheduleDrain(link);
    return Status::Ok();
  }
};

namespace {

class InProcPort final : public FabricPort {
 public:
  InProcPort(std::shared_ptr<InProcFabric::Impl> impl, const NodeAddress& address,
             Fabric::ReceiveCallback on_receive)
      : impl_(std::move(impl)), state_(std::make_shared<InProcFabric::Impl::PortState>()) {
    state_->address = address;
    state_->on_receive = std::move(on_receive);
    state_->link_id = impl_->next_link_id++;
    Link link;
    link.id = state_->link_id;
    link.rng = impl_->root_rng.Fork("inproc/" + Ipv4ToString(address.ipv4));
    impl_->links.emplace(link.id, std::move(link));
    impl_->ports.emplace(address.ipv4, state_);
  }
  ~InProcPort() override {
    impl_->ports.erase(state_->address.ipv4);
    impl_->links.erase(state_->link_id);  // packets still on this port's link are lost
  }

  NodeAddress address() const override { return state_->address; }
  Status Send(const NodeAddress& to, RocePacket packet) override {
    return impl_->Send(*state_, to, std::move(packet));
  }
  const PortStats& stats() const override { return state_->stats; }

 private:
  std::shared_ptr<InProcFabric::Impl> impl_;
  std::shared_ptr<InProcFabric::Impl::PortState> state_;
};

}  // namespace

InProcFabric::InProcFabric(core::Runtime& runtime, InProcConfig config)
    : runtime_(runtime), impl_(std::make_shared<Impl>(runtime, std::move(config))) {
  Status s = impl_->config.Validate();
  S3_CHECK_MSG(s.ok(), "InProcFabric: " + s.ToString());
}

InProcFabric::~InProcFabric() {
  impl_->closed = true;
  // Queued packets hold payload references; release them now rather than with the last port.
  for (auto& [id, link] : impl_->links) link.queue.clear();
}

Result<std::unique_ptr<FabricPort>> InProcFabric::Attach(const NodeAddress& address, ReceiveCallback on_receive) {
  S3_CHECK_MSG(on_receive != nullptr, "InProcFabric::Attach needs a receive callback");
  if (impl_->closed) return Status::FailedPrecondition("fabric destroyed");
  if (impl_->ports.count(address.ipv4) != 0) {
    return Status::AlreadyExists("address " + Ipv4ToString(address.ipv4) + " is already attached");
  }
  return std::unique_ptr<FabricPort>(new InProcPort(impl_, address, std::move(on_receive)));
}

void InProcFabric::SetFaults(const FaultConfig& faults) {
  Status s = faults.Validate();
  S3_CHECK_MSG(s.ok(), "InProcFabric::SetFaults: " + s.ToString());
  impl_->config.faults = faults;
}

const InProcConfig& InProcFabric::config() const { return impl_->config; }
const InProcStats& InProcFabric::stats() const { return impl_->stats; }

}  // namespace s3rdma::emu
