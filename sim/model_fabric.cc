#include "sim/model_fabric.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <unordered_map>
#include <string>
#include <utility>

#include "core/check.h"
#include "core/rng.h"

namespace s3rdma::sim {

using core::Duration;
using core::Status;
using core::Time;
using models::ResourceId;
using models::ResourceUse;

namespace {

// Preamble + start delimiter (8), FCS (4), minimum inter-frame gap (12), as InProcFabric.
constexpr int64_t kWireOverheadBytes = 24;
// Flow fidelity: one packet per message up to 1 GiB (the engine's PSN arithmetic stays in
// 32 bits for messages up to emu::kMaxMsgSize).
constexpr uint32_t kFlowMessageMtuBytes = 1u << 30;

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

struct ModelFabric::Impl : std::enable_shared_from_this<Impl> {
  struct PortState {
    emu::NodeAddress address;
    ReceiveCallback on_receive;
    emu::PortStats stats;
    core::Rng rng{0};
  };
  // Flow fidelity: packets between one pair of ports, in send order; delivered from the
  // front once ready.
  struct Pending {
    emu::RocePacket packet;
    bool ready = false;
  };
  using PairKey = uint64_t;  // src ipv4 << 32 | dst ipv4

  Impl(core::VirtualRuntime& rt, models::FlowSolver& s, const models::ClusterModel& c,
       ModelFabricConfig cfg)
      : runtime(rt), solver(s), cluster(c), config(std::move(cfg)) {
    extra.assign(solver.resource_count(), 0.0);
    link.assign(solver.resource_count(), 0);
    link_free.assign(solver.resource_count(), Time::Zero());
    for (ResourceId id = 0; id < solver.resource_count(); ++id) {
      const std::string& n = solver.name(id);
      link[id] = EndsWith(n, ".nic_tx") || EndsWith(n, ".nic_rx") || EndsWith(n, ".up") ||
                 EndsWith(n, ".down");
    }
  }

  core::VirtualRuntime& runtime;
  models::FlowSolver& solver;
  const models::ClusterModel& cluster;
  ModelFabricConfig config;
  std::map<uint32_t, models::Endpoint> nodes;
  std::map<uint32_t, PortState*> ports;
  ModelFabricStats stats;
  std::vector<double> extra;
  std::vector<char> link;
  std::vector<Time> link_free;
  std::map<std::pair<int, int>, std::vector<ResourceId>> routes;
  std::map<std::pair<int, int>, std::vector<ResourceUse>> host_uses;
  // Only looked up, never iterated (no order leaks into results); empty queues are erased.
  std::unordered_map<PairKey, std::deque<std::shared_ptr<Pending>>> pairs;

  const std::vector<ResourceId>& Route(int src, int dst) {
    auto [it, inserted] = routes.try_emplace({src, dst});
    if (inserted) {
      double bound = 0;
      // Host to host: only the links of the route (and host memory, filtered out here).
      for (const ResourceUse& u : cluster.TransferUses({src, models::Buffer::kHost, 0},
                                                       {dst, models::Buffer::kHost, 0},
                                                       core::Bytes(1 << 20), &bound)) {
        if (link[u.resource]) it->second.push_back(u.resource);
      }
    }
    return it->second;
  }

  // The non-link resources of a large transfer between the two data endpoints, per byte.
  const std::vector<ResourceUse>& HostUses(int src, int dst, const models::Endpoint& src_ep,
                                           const models::Endpoint& dst_ep) {
    auto [it, inserted] = host_uses.try_emplace({src, dst});
    if (inserted) {
      double bound = 0;
      for (const ResourceUse& u : cluster.TransferUses(src_ep, dst_ep, core::Bytes(64 << 20), &bound)) {
        if (!link[u.resource]) it->second.push_back(u);
      }
    }
    return it->second;
  }

  void Deliver(uint32_t dst_ip, emu::RocePacket packet) {
    auto it = ports.find(dst_ip);
    if (it == ports.end()) {
      ++stats.no_route;
      return;
    }
    PortState* port = it->second;
    ++stats.delivered;
    ++port->stats.rx_packets;
    port->stats.rx_bytes += packet.udp_payload_bytes();
    port->on_receive(std::move(packet));
  }

  void DrainPair(const PairKey& key) {
    auto it = pairs.find(key);
    if (it == pairs.end()) return;
    // Delivery may send (and append to this very queue): take the front each time.
    while (!it->second.empty() && it->second.front()->ready) {
      std::shared_ptr<Pending> p = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) pairs.erase(it);
      Deliver(static_cast<uint32_t>(key), std::move(p->packet));
      it = pairs.find(key);
      if (it == pairs.end()) return;
    }
  }

  Status SendFlow(PortState& port, int src_node, int dst_node, const models::Endpoint& src_ep,
                  const models::Endpoint& dst_ep, emu::RocePacket packet) {
    const PairKey key = uint64_t{port.address.ipv4} << 32 | packet.address.dst_ip;
    auto pending = std::make_shared<Pending>();
    const uint64_t bytes = packet.payload.size();
    pending->packet = std::move(packet);
    pairs[key].push_back(pending);
    std::weak_ptr<Impl> weak = weak_from_this();
    auto ready = [weak, key, pending] {
      auto self = weak.lock();
      if (!self) return;
      pending->ready = true;
      self->DrainPair(key);
    };
    const Duration lat = cluster.RouteLatency(src_node, dst_node);
    if (bytes == 0 || src_node == dst_node) {
      runtime.After(lat, std::move(ready));
      return Status::Ok();
    }
    ++stats.flows;
    double bound = 0;
    std::vector<ResourceUse> uses = cluster.TransferUses(src_ep, dst_ep, core::Bytes(static_cast<int64_t>(bytes)), &bound);
    runtime.After(lat, [weak, uses = std::move(uses), bound, bytes, ready = std::move(ready)]() mutable {
      auto self = weak.lock();
      if (!self) return;
      self->solver.Start(static_cast<double>(bytes), uses, bound, std::move(ready));
    });
    return Status::Ok();
  }

  Status SendPacket(PortState& port, int src_node, int dst_node, const models::Endpoint& src_ep,
                    const models::Endpoint& dst_ep, emu::RocePacket packet) {
    const emu::FaultConfig& f = config.faults;
    Duration stall = Duration::Zero();
    Duration hold = Duration::Zero();
    int copies = 1;
    if (f.any()) {
      auto draw = [&port](double p) { return p > 0 && port.rng.NextDouble() < p; };
      auto extra_delay = [&port, &f] {
        return Duration::Picoseconds(1 + static_cast<int64_t>(port.rng.Below(static_cast<uint64_t>(f.max_extra_delay.ps()))));
      };
      if (draw(f.drop_probability) || draw(f.corrupt_probability)) {
        ++stats.dropped;
        return Status::Ok();
      }
      if (draw(f.duplicate_probability)) {
        ++stats.duplicated;
        copies = 2;
      }
      if (draw(f.reorder_probability)) {
        ++stats.reordered;
        hold = extra_delay();
      }
      if (draw(f.delay_probability)) stall = extra_delay();
    }
    const int64_t wire = static_cast<int64_t>(packet.frame_bytes()) + kWireOverheadBytes;
    const uint64_t bytes = packet.payload.size();
    if (bytes > 0 && src_node != dst_node) {
      // Non-link resources (memory, PCIe, drives) are accounted, not queued, at the weights
      // of a large transfer: a packet is a piece of one, and the drives read it in io_size
      // I/Os, not one I/O per packet.
      for (const ResourceUse& u : HostUses(src_node, dst_node, src_ep, dst_ep)) {
        extra[u.resource] += u.weight * static_cast<double>(bytes);
      }
    }
    const uint32_t dst_ip = packet.address.dst_ip;
    for (int c = 0; c < copies; ++c) {
      Time t = runtime.Now() + stall;
      if (src_node != dst_node) {
        const std::vector<ResourceId>& hops = Route(src_node, dst_node);
        const Duration hop_latency = Duration::Picoseconds(cluster.RouteLatency(src_node, dst_node).ps() / static_cast<int64_t>(hops.size()));
        for (ResourceId h : hops) {
          const double cap = solver.capacity(h);
          const Duration ser = Duration::Picoseconds(static_cast<int64_t>(std::ceil(static_cast<double>(wire) * 1e12 / cap)));
          const Time start = std::max(t, link_free[h]);
          link_free[h] = start + ser;
          extra[h] += static_cast<double>(wire);
          t = start + ser + hop_latency;
        }
      }
      t = t + (c == 0 ? hold : Duration::Zero());
      std::weak_ptr<Impl> weak = weak_from_this();
      runtime.At(t, [weak, dst_ip, p = c + 1 < copies ? packet : std::move(packet)]() mutable {
        if (auto self = weak.lock()) self->Deliver(dst_ip, std::move(p));
      });
    }
    return Status::Ok();
  }

  Status Send(PortState& port, const emu::NodeAddress& to, emu::RocePacket packet) {
    packet.address.src_ip = port.address.ipv4;
    packet.address.dst_ip = to.ipv4;
    packet.address.dst_port = to.udp_port;
    ++stats.packets;
    ++port.stats.tx_packets;
    port.stats.tx_bytes += packet.udp_payload_bytes();
    stats.payload_bytes += packet.payload.size();
    auto src = nodes.find(port.address.ipv4);
    auto dst = nodes.find(to.ipv4);
    if (src == nodes.end() || dst == nodes.end()) {
      ++stats.no_route;
      ++port.stats.tx_dropped;
      return Status::Ok();
    }
    if (config.fidelity == NetworkFidelity::kFlow) {
      return SendFlow(port, src->second.node, dst->second.node, src->second, dst->second, std::move(packet));
    }
    return SendPacket(port, src->second.node, dst->second.node, src->second, dst->second, std::move(packet));
  }
};

namespace {

class ModelPort final : public emu::FabricPort {
 public:
  ModelPort(std::shared_ptr<ModelFabric::Impl> impl, std::unique_ptr<ModelFabric::Impl::PortState> state)
      : impl_(std::move(impl)), state_(std::move(state)) {
    impl_->ports[state_->address.ipv4] = state_.get();
  }
  ~ModelPort() override { impl_->ports.erase(state_->address.ipv4); }

  emu::NodeAddress address() const override { return state_->address; }
  Status Send(const emu::NodeAddress& to, emu::RocePacket packet) override {
    // Validation as a NIC would do before encoding; message-MTU packets may exceed a UDP
    // datagram (they are never encoded), so only the size check is skipped for them.
    if (packet.udp_payload_bytes() <= 65535 - emu::kIpv4HeaderBytes - emu::kUdpHeaderBytes) {
      S3_RETURN_IF_ERROR(emu::ValidateForEncode(packet));
    }
    return impl_->Send(*state_, to, std::move(packet));
  }
  const emu::PortStats& stats() const override { return state_->stats; }

 private:
  std::shared_ptr<ModelFabric::Impl> impl_;
  std::unique_ptr<ModelFabric::Impl::PortState> state_;
};

}  // namespace

ModelFabric::ModelFabric(core::VirtualRuntime& runtime, models::FlowSolver& solver,
                         const models::ClusterModel& cluster, ModelFabricConfig config)
    : runtime_(runtime), config_(config) {
  S3_CHECK_MSG(config.faults.Validate().ok(), config.faults.Validate().ToString());
  impl_ = std::make_shared<Impl>(runtime, solver, cluster, std::move(config));
}

ModelFabric::~ModelFabric() = default;

void ModelFabric::MapNode(uint32_t ipv4, models::Endpoint data) { impl_->nodes[ipv4] = data; }

core::Result<std::unique_ptr<emu::FabricPort>> ModelFabric::Attach(const emu::NodeAddress& address,
                                                                  ReceiveCallback on_receive) {
  if (impl_->ports.count(address.ipv4)) {
    return Status::AlreadyExists("address " + address.ToString() + " is attached already");
  }
  if (!impl_->nodes.count(address.ipv4)) {
    return Status::InvalidArgument("address " + address.ToString() + " is not mapped to a model node");
  }
  auto state = std::make_unique<Impl::PortState>();
  state->address = address;
  state->on_receive = std::move(on_receive);
  state->rng = core::Rng(config_.seed).Fork("model-fabric").Fork(address.ipv4);
  return std::unique_ptr<emu::FabricPort>(new ModelPort(impl_, std::move(state)));
}

uint32_t ModelFabric::message_mtu_bytes() const {
  return config_.fidelity == NetworkFidelity::kFlow ? kFlowMessageMtuBytes : 0;
}

double ModelFabric::ExtraUsedWork(models::ResourceId id) const {
  return id < impl_->extra.size() ? impl_->extra[id] : 0.0;
}

const ModelFabricStats& ModelFabric::stats() const { return impl_->stats; }

}  // namespace s3rdma::sim
