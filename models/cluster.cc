#include "models/cluster.h"

#include <algorithm>
#include <utility>

#include "core/check.h"

namespace s3rdma::models {
namespace {

double Bps(core::DataRate r) { return r.BytesPerSecondF(); }
// Core-seconds per byte from a measured "core time per GB".
double CpuPerByte(core::Duration per_gb) { return per_gb.ToSeconds() / 1e9; }

void AddUse(std::vector<ResourceUse>& uses, ResourceId r, double w) {
  if (r == kNoResource || w <= 0) return;
  for (ResourceUse& u : uses) {
    if (u.resource == r) {
      u.weight += w;
      return;
    }
  }
  uses.push_back(ResourceUse{r, w});
}

}  // namespace

ClusterModel::ClusterModel(core::VirtualRuntime& runtime, FlowSolver& solver, FabricSpec fabric,
                           CostSpec costs, Transport transport)
    : runtime_(runtime), solver_(solver), fabric_(fabric), costs_(costs), transport_(transport) {}

int ClusterModel::AddNode(std::string name, const NodeSpec& spec, NodeRole role) {
  S3_CHECK_MSG(!sealed_, "AddNode after Seal");
  S3_CHECK(Validate(spec).ok());
  NodeResources r;
  const double nics = static_cast<double>(spec.nic.count);
  r.cpu = solver_.AddResource(name + ".cpu", static_cast<double>(spec.cpu.cores));
  auto maybe = [&](const std::string& n, double cap) {
    return cap > 0 ? solver_.AddResource(n, cap) : kNoResource;
  };
  r.memory = maybe(name + ".memory", Bps(spec.memory.bandwidth));
  r.nic_tx = solver_.AddResource(name + ".nic_tx", nics * Bps(spec.nic.rate));
  r.nic_rx = solver_.AddResource(name + ".nic_rx", nics * Bps(spec.nic.rate));
  r.pcie_nic_out = maybe(name + ".pcie_nic_out", nics * Bps(spec.nic.pcie));
  r.pcie_nic_in = maybe(name + ".pcie_nic_in", nics * Bps(spec.nic.pcie));
  if (spec.drives.count > 0) {
    r.drives = solver_.AddResource(name + ".drives", static_cast<double>(spec.drives.count));
  }
  for (int64_t g = 0; g < spec.gpus.count; ++g) {
    const std::string gname = name + ".gpu" + std::to_string(g);
    r.gpu.push_back(solver_.AddResource(gname, 1.0));
    r.gpu_pcie_in.push_back(maybe(gname + "_pcie_in", Bps(spec.gpus.pcie)));
    r.gpu_pcie_out.push_back(maybe(gname + "_pcie_out", Bps(spec.gpus.pcie)));
  }
  r.leaf = static_cast<int>(nodes_.size() / static_cast<size_t>(fabric_.nodes_per_leaf));
  names_.push_back(std::move(name));
  specs_.push_back(spec);
  roles_.push_back(role);
  nodes_.push_back(std::move(r));
  return static_cast<int>(nodes_.size() - 1);
}

void ClusterModel::Seal() {
  S3_CHECK(!sealed_);
  sealed_ = true;
  if (fabric_.topology != Topology::kLeafSpine) return;
  // A leaf's uplink (and downlink) to the spines carries at most the sum of its nodes'
  // NIC rates divided by the oversubscription; ECMP over the spines is one shared pipe.
  const int leaves = nodes_.empty() ? 0 : nodes_.back().leaf + 1;
  std::vector<double> edge(static_cast<size_t>(leaves), 0.0);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    edge[static_cast<size_t>(nodes_[n].leaf)] +=
        static_cast<double>(specs_[n].nic.count) * Bps(specs_[n].nic.rate);
  }
  for (int l = 0; l < leaves; ++l) {
    const double cap = edge[static_cast<size_t>(l)] / fabric_.oversubscription;
    leaf_up_.push_back(solver_.AddResource("leaf" + std::to_string(l) + ".up", cap));
    leaf_down_.push_back(solver_.AddResource("leaf" + std::to_string(l) + ".down", cap));
  }
}

core::Duration ClusterModel::RouteLatency(int src, int dst) const {
  if (src == dst) return core::Duration::Zero();
  const bool cross = fabric_.topology == Topology::kLeafSpine && nodes_[src].leaf != nodes_[dst].leaf;
  return fabric_.link_latency * (cross ? 4 : 2);
}

void ClusterModel::AddRouteLinks(int src, int dst, double weight,
                                 std::vector<ResourceUse>& uses) const {
  AddUse(uses, nodes_[src].nic_tx, weight);
  if (fabric_.topology == Topology::kLeafSpine && nodes_[src].leaf != nodes_[dst].leaf) {
    AddUse(uses, leaf_up_[static_cast<size_t>(nodes_[src].leaf)], weight);
    AddUse(uses, leaf_down_[static_cast<size_t>(nodes_[dst].leaf)], weight);
  }
  AddUse(uses, nodes_[dst].nic_rx, weight);
}

std::vector<ResourceUse> ClusterModel::TransferUses(const Endpoint& src, const Endpoint& dst,
                                                    core::Bytes bytes, double* bound) const {
  S3_CHECK(sealed_);
  S3_CHECK(src.node != dst.node);
  const bool tcp = transport_ == Transport::kTcp;
  const NodeResources& s = nodes_[src.node];
  const NodeResources& d = nodes_[dst.node];
  const NodeSpec& ss = specs_[src.node];
  const NodeSpec& ds = specs_[dst.node];
  std::vector<ResourceUse> uses;
  double src_mem = 0;
  double dst_mem = 0;

  // Source side: where the bytes come from, and how they reach the NIC.
  switch (src.buffer) {
    case Buffer::kDrive: {
      S3_CHECK_MSG(s.drives != kNoResource, "read from a node without drives");
      const double io = static_cast<double>(std::min(bytes.count(), ss.drives.io_size.count()));
      AddUse(uses, s.drives, std::max(1.0 / Bps(ss.drives.read),
                                      1.0 / (io * static_cast<double>(ss.drives.read_iops))));
      src_mem += 1;  // drive DMA into host memory
      src_mem += 1;  // NIC DMA (or the TCP copy) reads it
      break;
    }
    case Buffer::kHost:
      src_mem += 1;
      break;
    case Buffer::kGpu:
      S3_CHECK(src.gpu >= 0 && static_cast<size_t>(src.gpu) < s.gpu.size());
      AddUse(uses, s.gpu_pcie_out[static_cast<size_t>(src.gpu)], 1.0);
      // RDMA: the NIC reads GPU memory peer-to-peer. TCP: bounce through host memory.
      if (tcp) src_mem += 2;  // D2H DMA write, then read by the socket copy / NIC
      break;
  }
  // Destination side.
  switch (dst.buffer) {
    case Buffer::kDrive: {
      S3_CHECK_MSG(d.drives != kNoResource, "write to a node without drives");
      const double io = static_cast<double>(std::min(bytes.count(), ds.drives.io_size.count()));
      AddUse(uses, d.drives, std::max(1.0 / Bps(ds.drives.write),
                                      1.0 / (io * static_cast<double>(ds.drives.write_iops))));
      dst_mem += 2;  // NIC DMA writes host memory; the drive DMA reads it
      break;
    }
    case Buffer::kHost:
      dst_mem += 1;
      break;
    case Buffer::kGpu:
      S3_CHECK(dst.gpu >= 0 && static_cast<size_t>(dst.gpu) < d.gpu.size());
      AddUse(uses, d.gpu_pcie_in[static_cast<size_t>(dst.gpu)], 1.0);
      if (tcp) dst_mem += 2;  // NIC DMA writes the bounce buffer; the H2D copy reads it
      break;
  }
  double wire = 1.0 / costs_.rdma.wire_efficiency;
  *bound = 0;
  if (tcp) {
    const TcpCosts& t = costs_.tcp;
    wire = 1.0 / t.wire_efficiency;
    src_mem += 2.0 * static_cast<double>(t.send_copies);  // each copy reads + writes
    dst_mem += 2.0 * static_cast<double>(t.recv_copies);
    const bool src_server = roles_[src.node] == NodeRole::kStorage;
    const bool dst_server = roles_[dst.node] == NodeRole::kStorage;
    double send_cpu = CpuPerByte(src_server ? t.server_send_cpu_per_gb : t.client_send_cpu_per_gb);
    double recv_cpu = CpuPerByte(dst_server ? t.server_recv_cpu_per_gb : t.client_recv_cpu_per_gb);
    // GPU buffers: CPU copies through the pinned staging buffer (2 memory passes each).
    const double bounce = static_cast<double>(t.gpu_bounce_copies);
    if (src.buffer == Buffer::kGpu) {
      send_cpu += bounce * CpuPerByte(t.copy_cpu_per_gb);
      src_mem += 2.0 * bounce;
    }
    if (dst.buffer == Buffer::kGpu) {
      recv_cpu += bounce * CpuPerByte(t.copy_cpu_per_gb);
      dst_mem += 2.0 * bounce;
    }
    AddUse(uses, s.cpu, send_cpu);
    AddUse(uses, d.cpu, recv_cpu);
    // One TCP stream is processed by one core at each end.
    const double per_core = std::max(send_cpu, recv_cpu);
    if (per_core > 0) *bound = 1.0 / per_core;
  }
  AddUse(uses, s.memory, src_mem);
  AddUse(uses, d.memory, dst_mem);
  AddUse(uses, s.pcie_nic_out, 1.0);
  AddUse(uses, d.pcie_nic_in, 1.0);
  AddRouteLinks(src.node, dst.node, wire, uses);
  (void)ds;
  return uses;
}

core::Duration ClusterModel::ServerRequestCpu() const {
  return costs_.http.server_cpu_per_request +
         (transport_ == Transport::kTcp ? costs_.tcp.cpu_per_request : costs_.rdma.cpu_per_request);
}

core::Duration ClusterModel::ClientRequestCpu() const {
  return costs_.http.client_cpu_per_request +
         (transport_ == Transport::kTcp ? costs_.tcp.cpu_per_request : costs_.rdma.cpu_per_request);
}

void ClusterModel::Delay(core::Duration d, std::function<void()> done) {
  runtime_.After(d, std::move(done));
}

void ClusterModel::CpuWork(int node, core::Duration core_time, std::function<void()> done) {
  if (core_time <= core::Duration::Zero()) {
    runtime_.Post(std::move(done));
    return;
  }
  const ResourceUse use{nodes_[node].cpu, 1.0};
  solver_.Start(core_time.ToSeconds(), std::span<const ResourceUse>(&use, 1), 1.0, std::move(done));
}

void ClusterModel::Transfer(const Endpoint& src, const Endpoint& dst, core::Bytes bytes,
                            std::function<void()> done) {
  S3_CHECK(bytes.count() > 0);
  double bound = 0;
  std::vector<ResourceUse> uses = TransferUses(src, dst, bytes, &bound);
  const double amount = static_cast<double>(bytes.count());
  auto start = [this, uses = std::move(uses), bound, amount, done = std::move(done)]() mutable {
    solver_.Start(amount, uses, bound, std::move(done));
  };
  const core::Duration lat = RouteLatency(src.node, dst.node);
  if (lat > core::Duration::Zero()) {
    runtime_.After(lat, std::move(start));
  } else {
    start();
  }
}

void ClusterModel::DriveIo(int node, bool read, core::Bytes bytes, std::function<void()> done) {
  const NodeResources& r = nodes_[node];
  const DriveSpec& d = specs_[node].drives;
  S3_CHECK_MSG(r.drives != kNoResource, "drive I/O on a node without drives");
  S3_CHECK(bytes.count() > 0);
  const double io = static_cast<double>(std::min(bytes.count(), d.io_size.count()));
  const double bw = Bps(read ? d.read : d.write);
  const double iops = static_cast<double>(read ? d.read_iops : d.write_iops);
  std::vector<ResourceUse> uses;
  AddUse(uses, r.drives, std::max(1.0 / bw, 1.0 / (io * iops)));
  AddUse(uses, r.memory, 1.0);  // the drive's DMA into (or out of) host memory
  solver_.Start(static_cast<double>(bytes.count()), uses, 0, std::move(done));
}

void ClusterModel::GpuWork(int node, int gpu, core::Duration gpu_time, std::function<void()> done) {
  S3_CHECK(gpu >= 0 && static_cast<size_t>(gpu) < nodes_[node].gpu.size());
  if (gpu_time <= core::Duration::Zero()) {
    runtime_.Post(std::move(done));
    return;
  }
  const ResourceUse use{nodes_[node].gpu[static_cast<size_t>(gpu)], 1.0};
  solver_.Start(gpu_time.ToSeconds(), std::span<const ResourceUse>(&use, 1), 0, std::move(done));
}

void ClusterModel::Compute(int node, int gpu, double vectors, std::function<void()> done) {
  S3_CHECK(vectors > 0);
  const NodeSpec& spec = specs_[node];
  ResourceUse use{};
  if (gpu >= 0) {
    S3_CHECK(static_cast<size_t>(gpu) < nodes_[node].gpu.size());
    S3_CHECK_MSG(spec.gpus.index_build_rate > 0, "GPU index build rate not set");
    use = ResourceUse{nodes_[node].gpu[static_cast<size_t>(gpu)], 1.0 / spec.gpus.index_build_rate};
  } else {
    S3_CHECK_MSG(spec.cpu_index_build_rate_per_core > 0, "CPU index build rate not set");
    use = ResourceUse{nodes_[node].cpu, 1.0 / spec.cpu_index_build_rate_per_core};
  }
  solver_.Start(vectors, std::span<const ResourceUse>(&use, 1), 0, std::move(done));
}

}  // namespace s3rdma::models
