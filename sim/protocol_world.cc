#include "sim/protocol_world.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "core/virtual_runtime.h"
#include "emu/verbs.h"
#include "models/cluster.h"
#include "models/flow_solver.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/rdma_client.h"
#include "proto/rdma_server.h"
#include "proto/s3_service.h"
#include "sim/protocol_parts.h"
#include "sim/world_results.h"

namespace s3rdma::sim {
namespace {

using core::Duration;
using core::Status;
using core::Time;

constexpr int64_t kEpochUnix = 1700000000;
const proto::Credential kCred{"AKIDSIMULATION", "simulation-secret"};
const char* const kBucket = "sim";
// Phantom client buffers: each client node's registered area starts here + node << 40.
constexpr uint64_t kPhantomClientBase = 0x100000000000ull;
constexpr uint64_t kMaxClientArea = uint64_t{1} << 40;
// Flow fidelity: at most one RDMA message (= one packet = one flow) per GiB of a GET, within
// the emulator's message size limit (emu::kMaxMsgSize).
constexpr uint64_t kMaxWrBytes = uint64_t{1} << 30;
// Real payloads: objects and client buffers must fit in this much memory.
constexpr uint64_t kRealPayloadBudget = uint64_t{8} << 30;
// Client data endpoints (ports) per client node: one device each (ClientIp).
constexpr int kMaxPorts = 200;

uint32_t StorageIp(int i) { return (10u << 24) | (1u << 16) | static_cast<uint32_t>(i); }
// Port p of client i (a data endpoint with its own NIC device): 10.(2+p).x.y.
uint32_t ClientIp(int i, int port) {
  return (10u << 24) | (static_cast<uint32_t>(2 + port) << 16) | static_cast<uint32_t>(i);
}

// Deterministic bytes for real payloads.
void FillPattern(char* dst, size_t n, uint64_t seed) {
  core::Rng rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng.NextU64();
    std::memcpy(dst + i, &v, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(rng.NextU64());
}

std::string GiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / static_cast<double>(1ull << 30));
  return buf;
}

// What one client buffer slot must hold for a workload.
uint64_t SlotBytes(const WorkloadConfig& w) {
  if (!IsPipeline(w)) return MaxObjectSize(w);
  const SegmentPlan p = PlanSegments(w);
  return static_cast<uint64_t>(std::max(p.segment_bytes, p.max_write));
}

class ProtocolWorld {
 public:
  ProtocolWorld(const ScenarioConfig& c, const ProtocolOptions& p)
      : c_(c), p_(p), solver_(runtime_), cluster_(runtime_, solver_, c.fabric, c.costs, c.transport), rng_(c.seed) {}
  ~ProtocolWorld();

  Status Check() const;
  Status CheckPayloadMemory() const;
  Status Build();
  ProtocolRun Run(const RunOptions& options);

 private:
  struct StorageNode {
    std::unique_ptr<proto::ObjectStore> store;
    std::unique_ptr<proto::S3Service> service;
    std::unique_ptr<emu::Device> device;  // RDMA only
    std::unique_ptr<proto::RdmaServer> rdma;
  };
  struct Link {  // one client port to one server
    std::unique_ptr<ModelTransport> transport;
    std::unique_ptr<proto::RdmaClient> client;  // RDMA only
    proto::RdmaBuffer buffer;                   // the client node's whole area (RDMA only)
    int connections = 1;
  };
  // A data endpoint of a client node (host memory, or one GPU) with its own NIC device, so
  // the ModelFabric charges its flows to that endpoint (one RDMA NIC per GPU, as GPUDirect
  // servers are built). Ports share the client node's NIC resources and buffer area.
  struct Port {
    models::Endpoint ep;
    std::unique_ptr<emu::Device> device;  // RDMA only
    int64_t streams = 0;                  // streams using it (sizes the QP count)
    std::map<std::pair<int, bool>, std::unique_ptr<Link>> links;  // by (server, control_costs)
  };
  struct ClientNode {
    std::vector<char> memory;  // real payloads
    char* base = nullptr;
    size_t area = 0;
    std::vector<Port> ports;
  };
  struct Stream {
    size_t wl;
    int client;  // client index (0-based)
    int slot;    // buffer slot within the client's area
    int port;    // the client's data endpoint
    int gpu;     // pipelines: the GPU that computes, or -1 (CPU)
    core::Rng rng;
    int64_t left;
    int64_t issued = 0;
  };
  struct WorkloadState : WorkloadTally {
    std::vector<double> zipf_cdf;
    uint64_t object_bytes = 0;  // GET: the object each server holds for this workload
    SegmentPlan plan;           // pipelines
    int64_t next_segment = 0;
  };
  // One S3 request's outcome as the world sees it.
  struct Outcome {
    bool ok = false;
    bool bytes_differ = false;  // moved, but the bytes were wrong (counted in verify_failures)
    std::string error;          // when !ok
  };
  using Done = std::function<void(Outcome)>;

  int ClientNodeIndex(int i) const { return static_cast<int>(c_.storage.count) + i; }
  int PortFor(const models::Endpoint& ep);
  int PickServer(WorkloadState& w, core::Rng& rng);
  uint64_t PickSize(const WorkloadConfig& w, core::Rng& rng);
  Link* GetLink(int client, int port, int server, bool control_costs);
  Status AddObject(int server, const std::string& key, uint64_t size, uint64_t seed);
  // GET [0, size) of `key` into the stream's slot, or PUT `size` bytes of the slot as `key`,
  // over RDMA or HTTP (the scenario's transport); checks the bytes with real payloads.
  void Request(bool get, const Stream& s, int server, const std::string& key, uint64_t object_size,
               uint64_t size, bool control_path, Done done);
  void Verify(bool get, const Stream& s, int server, const std::string& key, uint64_t size, Outcome& out);
  void NextRequest(Stream* s);
  void NextSegment(Stream* s);
  void Fail(std::string what);
  // Records a finished request (or segment: `requests` of them, `failed` of which failed);
  // `bytes`: the payload of the successful ones only.
  void Record(WorkloadState& w, Time start, int64_t requests, int64_t failed, int64_t bytes);
  void StreamFinished();
  void TakeSample();
  SimResult Collect();
  double UsedWork(models::ResourceId id) const { return solver_.UsedWork(id) + fabric_->ExtraUsedWork(id); }
  bool rdma() const { return c_.transport == models::Transport::kRdma; }
  char* SlotData(const Stream& s) {
    return clients_[static_cast<size_t>(s.client)].base + static_cast<uint64_t>(s.slot) * slot_bytes_;
  }

  const ScenarioConfig& c_;
  ProtocolOptions p_;
  core::VirtualRuntime runtime_;
  models::FlowSolver solver_;
  models::ClusterModel cluster_;
  core::Rng rng_;
  std::unique_ptr<ModelFabric> fabric_;
  std::vector<StorageNode> storage_;
  std::vector<ClientNode> clients_;
  std::vector<models::Endpoint> port_eps_;  // the same ports on every client node
  std::vector<int64_t> port_streams_;
  std::deque<Stream> streams_;
  std::vector<WorkloadState> wl_;
  std::vector<int64_t> node_bytes_;
  uint64_t slot_bytes_ = 0;
  int64_t slots_ = 0;  // streams per client node, all workloads
  uint64_t put_seq_ = 0;
  int64_t active_streams_ = 0;
  int64_t total_expected_ = 0;
  int64_t done_ = 0;
  Time last_end_;
  core::TimerHandle stop_timer_;
  core::TimerHandle sample_timer_;
  bool hit_max_time_ = false;
  // Time series, as sim/world.cc samples it.
  std::vector<double> last_used_;
  Time last_sample_;
  std::vector<Sample> samples_;
  Duration interval_;
  ProtocolStats stats_;
};

ProtocolWorld::~ProtocolWorld() {
  // Children first: links (buffers, clients, transports), then servers, then devices.
  for (ClientNode& cn : clients_) {
    for (Port& p : cn.ports) p.links.clear();
  }
  for (StorageNode& sn : storage_) {
    if (sn.service) sn.service->SetRdmaServer(nullptr);
    sn.rdma.reset();
    sn.service.reset();
  }
  for (ClientNode& cn : clients_) {
    for (Port& p : cn.ports) p.device.reset();
  }
  for (StorageNode& sn : storage_) sn.device.reset();
}

Status ProtocolWorld::Check() const {
  if (c_.storage.ec_data + c_.storage.ec_parity > 1) {
    return Status::InvalidArgument(
        "protocol mode does not run erasure coding (cluster.storage.erasure): the real S3 server "
        "stores whole objects on one node and has no erasure coding, and protocol mode runs only the real "
        "code; use modelled mode for erasure-coded clusters");
  }
  if (c_.workloads.empty()) return Status::InvalidArgument("protocol mode needs at least one workload");
  uint64_t slot = 0;
  int64_t slots = 0;
  for (const WorkloadConfig& w : c_.workloads) {
    if (!IsPipeline(w)) {
      if (w.buffer == models::Buffer::kGpu && c_.clients.node.gpus.count < 1) {
        return Status::InvalidArgument("workload '" + w.name + "' uses GPU buffers but clients have no GPUs");
      }
      if (w.buffer == models::Buffer::kDrive) {
        return Status::InvalidArgument("workload '" + w.name + "': protocol mode needs host or gpu client buffers");
      }
    } else if (PlanSegments(w).segments < 1) {
      return Status::InvalidArgument("workload '" + w.name + "' has no segments to read");
    }
    slot = std::max(slot, SlotBytes(w));
    slots += StreamsOf(c_, w);
  }
  slot = (slot + 4095) / 4096 * 4096;
  if (static_cast<double>(slot) * static_cast<double>(slots) > static_cast<double>(kMaxClientArea)) {
    return Status::InvalidArgument("protocol mode: a client node's buffers (" + std::to_string(slots) +
                                   " streams x " + GiB(slot) + ") exceed 1 TiB");
  }
  if (c_.storage.count > 65535 || c_.clients.count > 65535) {
    return Status::InvalidArgument("protocol mode supports up to 65535 nodes per group");
  }
  if (c_.clients.node.gpus.count + 1 > kMaxPorts) {
    return Status::InvalidArgument("protocol mode supports up to " + std::to_string(kMaxPorts - 1) +
                                   " GPUs per client node");
  }
  return Status::Ok();
}

Status ProtocolWorld::CheckPayloadMemory() const {
  if (p_.phantom_payloads) return Status::Ok();
  uint64_t slot = 0;
  int64_t slots = 0;
  for (const WorkloadConfig& w : c_.workloads) {
    slot = std::max(slot, SlotBytes(w));
    slots += StreamsOf(c_, w);
  }
  const double buffers = static_cast<double>(slot) * static_cast<double>(slots) * static_cast<double>(c_.clients.count);
  double total = buffers;
  std::string biggest;
  double biggest_bytes = -1;
  for (const WorkloadConfig& w : c_.workloads) {
    double bytes = 0;
    if (w.type == WorkloadConfig::Type::kGet) {
      bytes = static_cast<double>(MaxObjectSize(w)) * static_cast<double>(c_.storage.count);
    } else if (w.type == WorkloadConfig::Type::kPut) {
      bytes = static_cast<double>(MaxObjectSize(w)) * static_cast<double>(StreamsOf(c_, w)) *
              static_cast<double>(c_.clients.count);
    } else {
      // Segments to read exist before the run; written objects are dropped once checked.
      const SegmentPlan p = PlanSegments(w);
      bytes = static_cast<double>(p.total_read) +
              static_cast<double>(p.max_write) * static_cast<double>(StreamsOf(c_, w)) *
                  static_cast<double>(c_.clients.count);
    }
    total += bytes;
    if (bytes > biggest_bytes) {
      biggest_bytes = bytes;
      biggest = w.name;
    }
  }
  if (total > static_cast<double>(kRealPayloadBudget)) {
    return Status::InvalidArgument(
        "protocol mode with real payloads would hold " + GiB(static_cast<uint64_t>(total)) +
        " of objects and client buffers (most for workload '" + biggest + "'; limit " + GiB(kRealPayloadBudget) +
        "): use phantom payloads (--payload phantom)");
  }
  return Status::Ok();
}

int ProtocolWorld::PortFor(const models::Endpoint& ep) {
  for (size_t i = 0; i < port_eps_.size(); ++i) {
    if (port_eps_[i].buffer == ep.buffer && port_eps_[i].gpu == ep.gpu) return static_cast<int>(i);
  }
  port_eps_.push_back(ep);
  port_streams_.push_back(0);
  return static_cast<int>(port_eps_.size() - 1);
}

Status ProtocolWorld::AddObject(int server, const std::string& key, uint64_t size, uint64_t seed) {
  proto::ObjectStore& store = *storage_[static_cast<size_t>(server)].store;
  if (auto* ph = dynamic_cast<PhantomStore*>(&store)) {
    ph->AddObject(kBucket, key, size);
    return Status::Ok();
  }
  std::string content(size, '\0');
  FillPattern(content.data(), content.size(), seed);
  S3_ASSIGN_OR_RETURN(auto writer, store.BeginPut(kBucket, key));
  S3_RETURN_IF_ERROR(writer->Append(content));
  proto::ObjectMeta meta;
  meta.size = content.size();
  meta.etag = proto::HexEncode(proto::Md5(content));
  meta.last_modified_unix = kEpochUnix;
  return writer->Commit(std::move(meta));
}

Status ProtocolWorld::Build() {
  S3_RETURN_IF_ERROR(Check());
  S3_RETURN_IF_ERROR(CheckPayloadMemory());
  for (int64_t i = 0; i < c_.storage.count; ++i) {
    cluster_.AddNode("storage" + std::to_string(i), c_.storage.node, models::NodeRole::kStorage);
  }
  for (int64_t i = 0; i < c_.clients.count; ++i) {
    cluster_.AddNode("client" + std::to_string(i), c_.clients.node, models::NodeRole::kClient);
  }
  cluster_.Seal();
  node_bytes_.assign(static_cast<size_t>(cluster_.node_count()), 0);

  ModelFabricConfig fc;
  fc.fidelity = p_.fidelity;
  fc.phantom_payloads = p_.phantom_payloads;
  fc.faults = p_.fidelity == NetworkFidelity::kPacket ? p_.faults : emu::FaultConfig{};
  fc.seed = c_.seed;
  S3_RETURN_IF_ERROR(fc.faults.Validate());
  fabric_ = std::make_unique<ModelFabric>(runtime_, solver_, cluster_, fc);
  const models::Buffer stored = c_.storage.node.drives.count > 0 ? models::Buffer::kDrive : models::Buffer::kHost;
  for (int i = 0; i < c_.storage.count; ++i) fabric_->MapNode(StorageIp(i), {i, stored, 0});

  // Workloads: buffer slots (one per stream), the data endpoint (port) of every stream, the
  // segment plans of pipelines.
  wl_.resize(c_.workloads.size());
  for (size_t i = 0; i < c_.workloads.size(); ++i) {
    const WorkloadConfig& cfg = c_.workloads[i];
    WorkloadState& w = wl_[i];
    w.cfg = &cfg;
    slot_bytes_ = std::max(slot_bytes_, SlotBytes(cfg));
    if (IsPipeline(cfg)) {
      w.plan = PlanSegments(cfg);
      w.segments = w.plan.segments;
      if (cfg.build_on_gpu) {
        for (int64_t g = 0; g < c_.clients.node.gpus.count; ++g) {
          port_streams_[static_cast<size_t>(PortFor({0, models::Buffer::kGpu, static_cast<int>(g)}))] += cfg.streams;
        }
      } else {
        port_streams_[static_cast<size_t>(PortFor({0, models::Buffer::kHost, 0}))] += cfg.streams;
      }
    } else {
      w.object_bytes = MaxObjectSize(cfg);
      port_streams_[static_cast<size_t>(PortFor({0, cfg.buffer, 0}))] += cfg.streams;
    }
    slots_ += StreamsOf(c_, cfg);
  }
  slot_bytes_ = (slot_bytes_ + 4095) / 4096 * 4096;

  proto::RdmaServerOptions ro;
  if (p_.fidelity == NetworkFidelity::kFlow) {
    // Flow fidelity: one WR (= one message = one flow) per GET of up to 1 GiB and large PUT
    // chunks, so a request is a handful of flows, as in modelled mode.
    ro.zero_copy_wr_bytes = std::clamp<uint64_t>(slot_bytes_, 4096, kMaxWrBytes);
    ro.chunk_bytes = std::clamp<uint64_t>(slot_bytes_, 4096, 64ull << 20);
  }
  ro.staging_bytes = ro.chunk_bytes * 16;
  if (p_.fidelity == NetworkFidelity::kFlow) {
    // A message is one packet here, acknowledged only when the whole flow has arrived; under
    // heavy sharing that can take longer than any real ACK timeout, which would resend whole
    // messages (congestion collapse that real per-packet ACKs prevent). Flow fidelity loses
    // nothing, so the server's ACK timer is off (0 = infinite, ibverbs' meaning).
    ro.ack_timeout = 0;
  }
  ro.psn_seed = c_.seed;
  // Every client port may connect every QP it opens (GetLink) to every server, for each
  // control-path setting.
  size_t qps_per_client = 0;
  for (int64_t n : port_streams_) qps_per_client += 2 * static_cast<size_t>(RdmaQps(n, ro.max_requests_per_connection));
  ro.max_connections = std::max<size_t>(ro.max_connections, static_cast<size_t>(c_.clients.count) * qps_per_client);
  proto::ServiceConfig sc;
  sc.unix_time_at_runtime_zero = kEpochUnix;
  sc.max_object_bytes = std::max<uint64_t>(sc.max_object_bytes, slot_bytes_);
  storage_.resize(static_cast<size_t>(c_.storage.count));
  for (int i = 0; i < c_.storage.count; ++i) {
    StorageNode& sn = storage_[static_cast<size_t>(i)];
    const uint64_t seed = rng_.Fork("storage").Fork(static_cast<uint64_t>(i)).NextU64();
    if (p_.phantom_payloads) {
      sn.store = std::make_unique<PhantomStore>(seed);
    } else {
      sn.store = std::make_unique<proto::MemoryStore>(seed);
    }
    S3_RETURN_IF_ERROR(sn.store->CreateBucket(kBucket, kEpochUnix));
    proto::CredentialStore creds;
    creds.Add(kCred);
    sn.service = std::make_unique<proto::S3Service>(sc, *sn.store, creds, runtime_);
    if (rdma()) {
      S3_ASSIGN_OR_RETURN(sn.device, emu::Device::Open(*fabric_, {StorageIp(i), emu::kRoceUdpPort}));
      S3_ASSIGN_OR_RETURN(sn.rdma, proto::RdmaServer::Create(*sn.device, ro));
      sn.service->SetRdmaServer(sn.rdma.get());
    }
    for (size_t w = 0; w < wl_.size(); ++w) {
      if (wl_[w].cfg->type != WorkloadConfig::Type::kGet) continue;
      S3_RETURN_IF_ERROR(AddObject(i, "wl" + std::to_string(w), wl_[w].object_bytes, seed ^ (w + 1)));
    }
  }
  // The segments pipelines read: segment k of workload w on storage node k % count.
  for (size_t w = 0; w < wl_.size(); ++w) {
    if (!IsPipeline(*wl_[w].cfg)) continue;
    const core::Rng seg_rng = rng_.Fork("segments").Fork(w);
    for (int64_t k = 0; k < wl_[w].plan.segments; ++k) {
      const int server = static_cast<int>(k % c_.storage.count);
      S3_RETURN_IF_ERROR(AddObject(server, "wl" + std::to_string(w) + "-seg" + std::to_string(k),
                                   static_cast<uint64_t>(wl_[w].plan.ReadBytes(k)),
                                   seg_rng.Fork(static_cast<uint64_t>(k)).NextU64()));
    }
  }
  clients_.resize(static_cast<size_t>(c_.clients.count));
  for (int i = 0; i < c_.clients.count; ++i) {
    ClientNode& cn = clients_[static_cast<size_t>(i)];
    cn.area = static_cast<size_t>(slot_bytes_ * static_cast<uint64_t>(slots_));
    if (p_.phantom_payloads) {
      cn.base = reinterpret_cast<char*>(kPhantomClientBase + (static_cast<uint64_t>(i) << 40));
    } else {
      cn.memory.assign(cn.area, '\0');
      cn.base = cn.memory.data();
    }
    cn.ports.resize(port_eps_.size());
    for (size_t p = 0; p < port_eps_.size(); ++p) {
      Port& port = cn.ports[p];
      port.ep = port_eps_[p];
      port.ep.node = ClientNodeIndex(i);
      port.streams = port_streams_[p];
      const uint32_t ip = ClientIp(i, static_cast<int>(p));
      fabric_->MapNode(ip, port.ep);
      if (rdma()) {
        S3_ASSIGN_OR_RETURN(port.device, emu::Device::Open(*fabric_, {ip, emu::kRoceUdpPort}));
      }
    }
  }
  return Status::Ok();
}

ProtocolWorld::Link* ProtocolWorld::GetLink(int client, int port_index, int server, bool control_costs) {
  Port& port = clients_[static_cast<size_t>(client)].ports[static_cast<size_t>(port_index)];
  auto it = port.links.find({server, control_costs});
  if (it != port.links.end()) return it->second.get();
  auto link = std::make_unique<Link>();
  proto::ClientOptions co;
  co.credential = kCred;
  co.unix_time_at_runtime_zero = kEpochUnix;
  co.host = "storage" + std::to_string(server);
  ModelTransportOptions mo;
  mo.client = ClientNodeIndex(client);
  mo.server = server;
  mo.control_costs = control_costs;
  mo.client_data = port.ep;
  mo.phantom_bodies = p_.phantom_payloads;
  link->transport = std::make_unique<ModelTransport>(cluster_, solver_, runtime_,
                                                     *storage_[static_cast<size_t>(server)].service, co, mo);
  if (rdma()) {
    proto::RdmaClientOptions opts;
    // Enough QPs that the server runs every stream's request at once (it runs at most
    // max_requests_per_connection per QP and queues the rest), as modelled mode does.
    // Per port (one device each): a client node with one port opens as many as modelled mode
    // assumes (RdmaQpsPerServer).
    opts.connections = RdmaQps(port.streams, storage_[static_cast<size_t>(server)].rdma->max_requests_per_connection());
    opts.seed = rng_.Fork("client")
                    .Fork(static_cast<uint64_t>(client) << 20 | static_cast<uint64_t>(server))
                    .Fork(static_cast<uint64_t>(port_index) << 1 | (control_costs ? 1 : 0))
                    .NextU64();
    link->connections = opts.connections;
    auto rc = proto::RdmaClient::Create(*port.device, {link->transport.get()}, opts);
    S3_CHECK_MSG(rc.ok(), rc.status().ToString());
    link->client = std::move(rc).value();
    ClientNode& cn = clients_[static_cast<size_t>(client)];
    auto buf = link->client->RegisterBuffer(cn.base, cn.area);
    S3_CHECK_MSG(buf.ok(), buf.status().ToString());
    link->buffer = std::move(buf).value();
  }
  Link* raw = link.get();
  port.links.emplace(std::make_pair(server, control_costs), std::move(link));
  return raw;
}

int ProtocolWorld::PickServer(WorkloadState& w, core::Rng& rng) {
  const int n = static_cast<int>(c_.storage.count);
  if (w.zipf_cdf.empty()) return static_cast<int>(rng.Below(static_cast<uint64_t>(n)));
  const double u = rng.NextDouble();
  const auto it = std::upper_bound(w.zipf_cdf.begin(), w.zipf_cdf.end(), u);
  return std::min(n - 1, static_cast<int>(it - w.zipf_cdf.begin()));
}

uint64_t ProtocolWorld::PickSize(const WorkloadConfig& w, core::Rng& rng) {
  // The same draws as sim/world.cc, so both modes see the same request sequence.
  const SizeDistribution& d = w.object_size;
  switch (d.kind) {
    case SizeDistribution::Kind::kFixed:
      return static_cast<uint64_t>(d.fixed.count());
    case SizeDistribution::Kind::kUniform:
      return static_cast<uint64_t>(rng.Uniform(d.min.count(), d.max.count()));
    case SizeDistribution::Kind::kLognormal: {
      const double u1 = 1.0 - rng.NextDouble();
      const double u2 = rng.NextDouble();
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      const double v = static_cast<double>(d.median.count()) * std::exp(d.sigma * z);
      return static_cast<uint64_t>(std::max<int64_t>(1, static_cast<int64_t>(std::min(v, 1e15))));
    }
  }
  return static_cast<uint64_t>(d.fixed.count());
}

void ProtocolWorld::Fail(std::string what) {
  if (stats_.first_error.empty()) stats_.first_error = std::move(what);
}

void ProtocolWorld::Request(bool get, const Stream& s, int server, const std::string& key, uint64_t object_size,
                            uint64_t size, bool control_path, Done done) {
  Link* link = GetLink(s.client, s.port, server, control_path);
  const uint64_t offset = static_cast<uint64_t>(s.slot) * slot_bytes_;
  char* slot = SlotData(s);
  if (!get && !p_.phantom_payloads) FillPattern(slot, size, c_.seed ^ (++put_seq_ * 0x9e3779b97f4a7c15ull));
  // Checks the bytes (real payloads), then hands the outcome on.
  auto finish = [this, get, s, server, key, size, done = std::move(done)](Outcome out) mutable {
    if (out.ok && !p_.phantom_payloads) Verify(get, s, server, key, size, out);
    if (out.ok) {  // per-node throughput counts what was moved, as the workload totals do
      node_bytes_[static_cast<size_t>(ClientNodeIndex(s.client))] += static_cast<int64_t>(size);
      node_bytes_[static_cast<size_t>(server)] += static_cast<int64_t>(size);
    }
    done(std::move(out));
  };
  std::optional<proto::ByteRange> range;
  if (get && size < object_size) range = proto::ByteRange{0, size - 1};
  if (rdma()) {
    auto cb = [size, finish = std::move(finish)](core::Result<proto::RdmaResult> r) mutable {
      Outcome out;
      if (!r.ok()) {
        out.error = r.status().ToString();
      } else if (r->bytes != size || !r->via_rdma) {
        out.error = "moved " + std::to_string(r->bytes) + " bytes" + (r->via_rdma ? "" : " over HTTP");
      } else {
        out.ok = true;
      }
      finish(std::move(out));
    };
    if (get) {
      // The token names this stream's slot only, [offset, +size): the rest of the buffer
      // holds other streams' slots, not the server's to write.
      link->client->Get(kBucket, key, range, link->buffer, offset, size, std::move(cb));
    } else {
      link->client->Put(kBucket, key, link->buffer, offset, size, {}, std::move(cb));
    }
    return;
  }
  // TCP: a plain S3 request; the body is the object bytes (ModelTransport::SendObject).
  proto::ClientRequest req;
  req.method = get ? "GET" : "PUT";
  req.bucket = kBucket;
  req.key = key;
  uint64_t phantom_body = 0;
  auto received = std::make_shared<uint64_t>(0);
  if (get) {
    if (range) req.headers.emplace_back("range", "bytes=0-" + std::to_string(size - 1));
    if (!p_.phantom_payloads) {
      req.body_sink = [slot, size, received](std::string_view d) {
        if (d.size() > size - *received) return Status::OutOfRange("more body bytes than asked for");
        std::memcpy(slot + *received, d.data(), d.size());
        *received += d.size();
        return Status::Ok();
      };
    }
  } else if (p_.phantom_payloads) {
    phantom_body = size;
  } else {
    req.body.assign(slot, size);
  }
  link->transport->SendObject(
      std::move(req), phantom_body,
      [this, get, size, received, finish = std::move(finish)](core::Result<proto::ClientResponse> r) mutable {
        Outcome out;
        uint64_t moved = size;
        if (r.ok() && get) {
          const std::string* cl = r->Header("content-length");
          moved = p_.phantom_payloads ? (cl ? std::strtoull(cl->c_str(), nullptr, 10) : 0) : *received;
        }
        if (!r.ok()) {
          out.error = r.status().ToString();
        } else if (moved != size) {
          out.error = "moved " + std::to_string(moved) + " bytes over HTTP";
        } else {
          out.ok = true;
        }
        finish(std::move(out));
      });
}

void ProtocolWorld::Verify(bool get, const Stream& s, int server, const std::string& key, uint64_t size,
                           Outcome& out) {
  const char* buf = SlotData(s);
  auto reader = storage_[static_cast<size_t>(server)].store->Open(kBucket, key);
  const std::optional<std::string_view> v = reader.ok() ? (*reader)->Contiguous() : std::nullopt;
  // GET: the buffer holds the object's first `size` bytes; PUT: the stored object is the buffer.
  const bool same = v.has_value() && (get ? v->size() >= size : v->size() == size) &&
                    std::memcmp(v->data(), buf, size) == 0;
  if (!same) {
    ++stats_.verify_failures;
    out.ok = false;
    out.bytes_differ = true;
    out.error = "bytes differ";
  }
}

void ProtocolWorld::Record(WorkloadState& w, Time start, int64_t requests, int64_t failed, int64_t bytes) {
  const Time end = runtime_.Now();
  w.latencies_ps.push_back((end - start).ps());
  w.requests += requests;
  w.failed += failed;
  done_ += requests;
  w.bytes += bytes;
  w.last_end = std::max(w.last_end, end);
  last_end_ = std::max(last_end_, end);
}

void ProtocolWorld::NextRequest(Stream* s) {
  WorkloadState& w = wl_[s->wl];
  const WorkloadConfig& cfg = *w.cfg;
  const Time now = runtime_.Now();
  const bool out_of_time = cfg.duration > Duration::Zero() && now >= Time::Zero() + cfg.start + cfg.duration;
  if ((cfg.requests > 0 && s->left == 0) || out_of_time) {
    StreamFinished();
    return;
  }
  if (s->left > 0) --s->left;
  const int server = PickServer(w, s->rng);
  uint64_t size = PickSize(cfg, s->rng);
  if (size > w.object_bytes) {
    size = w.object_bytes;
    ++stats_.clamped_sizes;
  }
  size = std::max<uint64_t>(1, size);
  ++s->issued;
  w.first_start = std::min(w.first_start, now);
  const bool get = cfg.type == WorkloadConfig::Type::kGet;
  const std::string key = get ? "wl" + std::to_string(s->wl)
                              : "put-c" + std::to_string(s->client) + "-s" + std::to_string(s->slot);
  Request(get, *s, server, key, w.object_bytes, size, cfg.control_path,
          [this, s, server, size, now](Outcome out) {
            WorkloadState& w = wl_[s->wl];
            if (out.ok) {
              ++stats_.requests_ok;
            } else {
              if (!out.bytes_differ) ++stats_.request_errors;
              Fail(std::string(WorkloadTypeName(w.cfg->type)) + " of " + std::to_string(size) + " bytes, client" +
                   std::to_string(s->client) + " -> storage" + std::to_string(server) + " at t=" +
                   std::to_string(runtime_.Now().ToSeconds()) + " s (seed " + std::to_string(c_.seed) +
                   "): " + out.error);
            }
            Record(w, now, 1, out.ok ? 0 : 1, out.ok ? static_cast<int64_t>(size) : 0);
            const Duration think = w.cfg->think_time;
            if (think > Duration::Zero()) {
              runtime_.After(think, [this, s] { NextRequest(s); });
            } else {
              // Posted: a callback must not start the next request inside the client's own callback.
              runtime_.Post([this, s] { NextRequest(s); });
            }
          });
}

void ProtocolWorld::NextSegment(Stream* s) {
  WorkloadState& w = wl_[s->wl];
  const WorkloadConfig& cfg = *w.cfg;
  if (w.next_segment >= w.segments) {
    StreamFinished();
    return;
  }
  // As World::NextSegment: segment k from storage node k % count, read into the stream's
  // GPU (or host) buffer, computed, and the index (or write_size bytes) written back there.
  const int64_t k = w.next_segment++;
  const bool generic = cfg.type == WorkloadConfig::Type::kPipeline;
  const int64_t bytes = w.plan.ReadBytes(k);
  const int64_t write_bytes = SegmentWriteBytes(cfg, bytes);
  const double vectors = generic ? 0.0 : static_cast<double>(bytes / (cfg.dimension * cfg.dtype_bytes));
  const int server = static_cast<int>(k % c_.storage.count);
  const Time t0 = runtime_.Now();
  w.first_start = std::min(w.first_start, t0);
  const std::string prefix = "wl" + std::to_string(s->wl);
  auto failed = [this, s, server, k](const char* step, const Outcome& out) {
    if (!out.bytes_differ) ++stats_.request_errors;
    Fail(std::string(WorkloadTypeName(wl_[s->wl].cfg->type)) + " segment " + std::to_string(k) + " " + step +
         ", client" + std::to_string(s->client) + " <-> storage" + std::to_string(server) + " at t=" +
         std::to_string(runtime_.Now().ToSeconds()) + " s (seed " + std::to_string(c_.seed) + "): " + out.error);
  };
  auto finish = [this, s, t0](int64_t requests, int64_t failed, int64_t moved) {
    Record(wl_[s->wl], t0, requests, failed, moved);
    runtime_.Post([this, s] { NextSegment(s); });
  };
  auto written = [this, s, bytes, write_bytes, server, prefix, k, failed, finish](Outcome out) {
    if (!out.ok) {
      failed("write", out);
      finish(2, 1, bytes);  // the read succeeded
      return;
    }
    ++stats_.requests_ok;
    // Checked: drop it, so real-payload runs hold one written object per stream at most.
    if (!p_.phantom_payloads) {
      (void)storage_[static_cast<size_t>(server)].store->Delete(kBucket, prefix + "-out" + std::to_string(k));
    }
    finish(2, 0, bytes + write_bytes);
  };
  auto write = [this, s, server, prefix, k, bytes, write_bytes, written = std::move(written), finish]() mutable {
    if (write_bytes <= 0) {
      finish(1, 0, bytes);
      return;
    }
    Request(false, *s, server, prefix + "-out" + std::to_string(k), static_cast<uint64_t>(write_bytes),
            static_cast<uint64_t>(write_bytes), true, std::move(written));
  };
  auto read = [this, s, generic, vectors, failed, finish, write = std::move(write)](Outcome out) mutable {
    if (!out.ok) {
      failed("read", out);
      finish(1, 1, 0);
      return;
    }
    ++stats_.requests_ok;
    const WorkloadConfig& cfg = *wl_[s->wl].cfg;
    const int node = ClientNodeIndex(s->client);
    if (generic) {
      if (s->gpu >= 0) {
        cluster_.GpuWork(node, s->gpu, cfg.compute_time, std::move(write));
      } else {
        cluster_.CpuWork(node, cfg.compute_time, std::move(write));
      }
    } else {
      cluster_.Compute(node, s->gpu, vectors, std::move(write));
    }
  };
  Request(true, *s, server, prefix + "-seg" + std::to_string(k), static_cast<uint64_t>(bytes),
          static_cast<uint64_t>(bytes), true, std::move(read));
}

void ProtocolWorld::StreamFinished() {
  if (--active_streams_ == 0) {
    stop_timer_.Cancel();
    sample_timer_.Cancel();
    TakeSample();
    runtime_.Stop();
  }
}

void ProtocolWorld::TakeSample() {
  const Time now = runtime_.Now();
  const double dt = (now - last_sample_).ToSeconds();
  if (dt <= 0) return;
  Sample s;
  s.time = now;
  double scpu = 0, ccpu = 0, cgpu = 0;
  int ngpu = 0;
  for (int n = 0; n < cluster_.node_count(); ++n) {
    const models::NodeResources& r = cluster_.resources(n);
    auto delta = [&](models::ResourceId id) {
      const double used = UsedWork(id);
      const double d = used - last_used_[id];
      last_used_[id] = used;
      return d;
    };
    const double tx = delta(r.nic_tx), rx = delta(r.nic_rx);
    const double cpu = delta(r.cpu) / (solver_.capacity(r.cpu) * dt);
    if (n < static_cast<int>(c_.storage.count)) {
      s.storage_tx_bps += tx / dt;
      s.storage_rx_bps += rx / dt;
      scpu += cpu;
    } else {
      ccpu += cpu;
      for (models::ResourceId g : r.gpu) {
        cgpu += delta(g) / dt;
        ++ngpu;
      }
    }
  }
  s.storage_cpu = scpu / static_cast<double>(std::max<int64_t>(1, c_.storage.count));
  s.client_cpu = ccpu / static_cast<double>(std::max<int64_t>(1, c_.clients.count));
  s.client_gpu = ngpu > 0 ? cgpu / ngpu : 0;
  samples_.push_back(s);
  // Bounded: past 4096 samples, merge neighbours pairwise and sample half as often.
  if (samples_.size() >= 4096) {
    std::vector<Sample> merged;
    for (size_t i = 0; i + 1 < samples_.size(); i += 2) {
      Sample m = samples_[i + 1];
      const Sample& a = samples_[i];
      m.storage_tx_bps = (a.storage_tx_bps + m.storage_tx_bps) / 2;
      m.storage_rx_bps = (a.storage_rx_bps + m.storage_rx_bps) / 2;
      m.storage_cpu = (a.storage_cpu + m.storage_cpu) / 2;
      m.client_cpu = (a.client_cpu + m.client_cpu) / 2;
      m.client_gpu = (a.client_gpu + m.client_gpu) / 2;
      merged.push_back(m);
    }
    if (samples_.size() % 2 == 1) merged.push_back(samples_.back());
    samples_ = std::move(merged);
    interval_ = interval_ * 2;
  }
  last_sample_ = now;
}

ProtocolRun ProtocolWorld::Run(const RunOptions& options) {
  int slot_base = 0;
  for (size_t i = 0; i < c_.workloads.size(); ++i) {
    const WorkloadConfig& cfg = c_.workloads[i];
    WorkloadState& w = wl_[i];
    const core::Rng wrng = rng_.Fork("workload").Fork(i);
    if (cfg.servers.kind == ServerChoice::Kind::kZipf) {
      double sum = 0;
      for (int64_t k = 1; k <= c_.storage.count; ++k) sum += 1.0 / std::pow(static_cast<double>(k), cfg.servers.skew);
      double acc = 0;
      for (int64_t k = 1; k <= c_.storage.count; ++k) {
        acc += 1.0 / std::pow(static_cast<double>(k), cfg.servers.skew) / sum;
        w.zipf_cdf.push_back(acc);
      }
    }
    const bool pipeline = IsPipeline(cfg);
    const int64_t per_client = StreamsOf(c_, cfg);
    std::vector<Stream*> started;
    for (int64_t c = 0; c < c_.clients.count; ++c) {
      for (int64_t q = 0; q < per_client; ++q) {
        int gpu = -1;
        models::Endpoint ep{0, cfg.buffer, 0};
        if (pipeline) {
          gpu = cfg.build_on_gpu ? static_cast<int>(q % c_.clients.node.gpus.count) : -1;
          ep = gpu >= 0 ? models::Endpoint{0, models::Buffer::kGpu, gpu} : models::Endpoint{0, models::Buffer::kHost, 0};
        }
        streams_.push_back(Stream{i, static_cast<int>(c), slot_base + static_cast<int>(q), PortFor(ep), gpu,
                                  wrng.Fork(static_cast<uint64_t>(c * per_client + q)), cfg.requests});
        started.push_back(&streams_.back());
      }
    }
    slot_base += static_cast<int>(per_client);
    if (pipeline) {
      total_expected_ += (cfg.type == WorkloadConfig::Type::kPipeline && cfg.write_size.count() == 0 ? 1 : 2) * w.segments;
    } else {
      total_expected_ += cfg.requests > 0 ? c_.clients.count * cfg.streams * cfg.requests : 0;
    }
    active_streams_ += static_cast<int64_t>(started.size());
    runtime_.After(cfg.start, [this, started, pipeline] {
      for (Stream* s : started) {
        if (pipeline) {
          NextSegment(s);
        } else {
          NextRequest(s);
        }
      }
    });
  }
  if (c_.max_time > Duration::Zero()) {
    stop_timer_ = runtime_.After(c_.max_time, [this] {
      hit_max_time_ = true;
      runtime_.Stop();
    });
  }
  last_used_.assign(solver_.resource_count(), 0.0);
  interval_ = c_.sample_interval;
  std::function<void()> tick = [this, &tick] {
    TakeSample();
    if (active_streams_ > 0) sample_timer_ = runtime_.After(interval_, tick);
  };
  sample_timer_ = runtime_.After(interval_, tick);
  // Servers keep timers (idle sweeps) forever: the run ends when the streams finish.
  for (;;) {
    const uint64_t ran = runtime_.RunEvents(1 << 16);
    if (hit_max_time_ || active_streams_ == 0 || ran == 0) break;
    if (options.progress) {
      double f = 0;
      if (total_expected_ > 0) {
        f = static_cast<double>(done_) / static_cast<double>(total_expected_);
      } else if (c_.max_time > Duration::Zero()) {
        f = runtime_.Now().ToSeconds() / c_.max_time.ToSeconds();
      }
      options.progress(std::min(1.0, f));
    }
  }
  sample_timer_.Cancel();
  if (hit_max_time_) {
    last_end_ = runtime_.Now();
    TakeSample();
  }
  const ModelFabricStats& fs = fabric_->stats();
  stats_.packets = fs.packets;
  stats_.flows = fs.flows;
  stats_.dropped = fs.dropped;
  for (ClientNode& cn : clients_) {
    for (Port& port : cn.ports) {
      for (auto& [key, link] : port.links) {
        stats_.flows += link->transport->body_flows();
        stats_.http_body_flows += link->transport->body_flows();
        if (!link->client) continue;
        stats_.rdma_connects += link->client->stats().connects;
        stats_.http_fallbacks += link->client->stats().http_fallbacks;
        // The client's QPs are the responders of the server's WRITEs and READs: lost packets
        // show there as sequence NAKs sent and duplicates received (go-back-N resends), on
        // every QP the client had, dropped ones included.
        const emu::QpStats qs = link->client->QpCounters();
        stats_.recovery_events += qs.seq_naks_sent + qs.duplicates_received;
      }
    }
  }
  ProtocolRun run;
  run.result = Collect();
  run.stats = stats_;
  return run;
}

SimResult ProtocolWorld::Collect() {
  RunRecord run;
  run.config = &c_;
  run.last_end = last_end_;
  run.hit_max_time = hit_max_time_;
  for (const WorkloadState& w : wl_) run.workloads.push_back(&w);
  run.node_bytes = &node_bytes_;
  run.storage_first = 0;
  run.client_first = static_cast<int>(c_.storage.count);
  run.cluster = &cluster_;
  run.solver = &solver_;
  run.used_work = [this](models::ResourceId id) { return UsedWork(id); };
  run.samples = &samples_;
  run.runtime = &runtime_;
  run.rdma_connects = static_cast<int64_t>(stats_.rdma_connects);
  return CollectResult(run);
}

}  // namespace

core::Result<ProtocolRun> RunProtocolScenario(const ScenarioConfig& config, const ProtocolOptions& protocol,
                                              const RunOptions& options) {
  auto world = std::make_unique<ProtocolWorld>(config, protocol);
  S3_RETURN_IF_ERROR(world->Build());
  return world->Run(options);
}

core::Status CheckProtocolScenario(const ScenarioConfig& config) {
  return ProtocolWorld(config, ProtocolOptions{}).Check();
}

core::Status CheckProtocolScenario(const ScenarioConfig& config, const ProtocolOptions& protocol) {
  ProtocolWorld world(config, protocol);
  S3_RETURN_IF_ERROR(world.Check());
  return world.CheckPayloadMemory();
}

core::Result<NetworkFidelity> ParseFidelity(const std::string& text) {
  if (text == "flow") return NetworkFidelity::kFlow;
  if (text == "packet") return NetworkFidelity::kPacket;
  return Status::InvalidArgument("fidelity must be flow or packet (got '" + text + "')");
}

}  // namespace s3rdma::sim
