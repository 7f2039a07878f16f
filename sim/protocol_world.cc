#include "sim/protocol_world.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
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

uint32_t StorageIp(int i) { return (10u << 24) | (1u << 16) | static_cast<uint32_t>(i); }
uint32_t ClientIp(int i) { return (10u << 24) | (2u << 16) | static_cast<uint32_t>(i); }

// Deterministic object bytes for real payloads.
std::string PatternBytes(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  core::Rng rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng.NextU64();
    std::memcpy(s.data() + i, &v, 8);
  }
  for (; i < n; ++i) s[i] = static_cast<char>(rng.NextU64());
  return s;
}

class ProtocolWorld {
 public:
  ProtocolWorld(const ScenarioConfig& c, const ProtocolOptions& p)
      : c_(c), p_(p), solver_(runtime_), cluster_(runtime_, solver_, c.fabric, c.costs, c.transport), rng_(c.seed) {}
  ~ProtocolWorld();

  Status Check() const;
  Status Build();
  ProtocolRun Run(const RunOptions& options);

 private:
  struct StorageNode {
    std::unique_ptr<proto::ObjectStore> store;
    std::unique_ptr<proto::S3Service> service;
    std::unique_ptr<emu::Device> device;
    std::unique_ptr<proto::RdmaServer> rdma;
    std::vector<std::string> content;  // per workload, real payloads (GET objects)
  };
  struct Link {  // one client node to one server
    std::unique_ptr<ModelTransport> transport;
    std::unique_ptr<proto::RdmaClient> client;
    proto::RdmaBuffer buffer;  // the client node's whole area
    int connections = 1;
  };
  struct ClientNode {
    std::unique_ptr<emu::Device> device;
    std::vector<char> memory;  // real payloads
    char* base = nullptr;
    size_t area = 0;
    std::map<int, std::unique_ptr<Link>> links;  // by storage index
  };
  struct Stream {
    size_t wl;
    int client;  // client index (0-based)
    int slot;    // buffer slot within the client's area
    core::Rng rng;
    int64_t left;
    int64_t issued = 0;
  };
  struct WorkloadState : WorkloadTally {
    std::vector<double> zipf_cdf;
    uint64_t object_bytes = 0;  // GET: the object each server holds for this workload
  };

  int StorageNodeIndex(int i) const { return i; }
  int ClientNodeIndex(int i) const { return static_cast<int>(c_.storage.count) + i; }
  int PickServer(WorkloadState& w, core::Rng& rng);
  uint64_t PickSize(const WorkloadConfig& w, core::Rng& rng);
  uint64_t MaxSize(const WorkloadConfig& w) const;
  Link* GetLink(int client, int server, bool control_costs);
  void NextRequest(Stream* s);
  void OnDone(Stream* s, int server, uint64_t size, Time start, core::Result<proto::RdmaResult> r);
  void Fail(std::string what);
  void StreamFinished();
  void TakeSample();
  SimResult Collect();
  double UsedWork(models::ResourceId id) const { return solver_.UsedWork(id) + fabric_->ExtraUsedWork(id); }

  const ScenarioConfig& c_;
  ProtocolOptions p_;
  core::VirtualRuntime runtime_;
  models::FlowSolver solver_;
  models::ClusterModel cluster_;
  core::Rng rng_;
  std::unique_ptr<ModelFabric> fabric_;
  std::vector<StorageNode> storage_;
  std::vector<ClientNode> clients_;
  std::deque<Stream> streams_;
  std::vector<WorkloadState> wl_;
  std::vector<int64_t> node_bytes_;
  uint64_t slot_bytes_ = 0;
  int64_t client_streams_ = 0;  // streams per client node, all workloads
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
  for (ClientNode& cn : clients_) cn.links.clear();
  for (StorageNode& sn : storage_) {
    if (sn.service) sn.service->SetRdmaServer(nullptr);
    sn.rdma.reset();
    sn.service.reset();
  }
  for (ClientNode& cn : clients_) cn.device.reset();
  for (StorageNode& sn : storage_) sn.device.reset();
}

Status ProtocolWorld::Check() const {
  if (c_.transport != models::Transport::kRdma) {
    return Status::InvalidArgument("protocol mode runs S3 over RDMA: set transport: rdma (got tcp)");
  }
  if (c_.storage.ec_data + c_.storage.ec_parity > 1) {
    return Status::InvalidArgument("protocol mode does not model erasure coding (cluster.storage.erasure_coding)");
  }
  if (c_.workloads.empty()) return Status::InvalidArgument("protocol mode needs at least one workload");
  for (const WorkloadConfig& w : c_.workloads) {
    if (w.type != WorkloadConfig::Type::kGet && w.type != WorkloadConfig::Type::kPut) {
      return Status::InvalidArgument("protocol mode runs get and put workloads only (workload '" + w.name +
                                     "' is " + WorkloadTypeName(w.type) + ")");
    }
    if (w.buffer == models::Buffer::kGpu && c_.clients.node.gpus.count < 1) {
      return Status::InvalidArgument("workload '" + w.name + "' uses GPU buffers but clients have no GPUs");
    }
    if (w.buffer == models::Buffer::kDrive) {
      return Status::InvalidArgument("workload '" + w.name + "': protocol mode needs host or gpu client buffers");
    }
    if (MaxSize(w) > (uint64_t{1} << 30)) {
      return Status::InvalidArgument("workload '" + w.name + "': protocol mode supports objects up to 1 GiB");
    }
  }
  if (c_.storage.count > 65535 || c_.clients.count > 65535) {
    return Status::InvalidArgument("protocol mode supports up to 65535 nodes per group");
  }
  return Status::Ok();
}

uint64_t ProtocolWorld::MaxSize(const WorkloadConfig& w) const {
  const SizeDistribution& d = w.object_size;
  switch (d.kind) {
    case SizeDistribution::Kind::kFixed: return static_cast<uint64_t>(std::max<int64_t>(1, d.fixed.count()));
    case SizeDistribution::Kind::kUniform: return static_cast<uint64_t>(std::max<int64_t>(1, d.max.count()));
    case SizeDistribution::Kind::kLognormal:
      // Four sigma above the median: larger draws are clamped (counted in clamped_sizes).
      return static_cast<uint64_t>(std::max(1.0, std::min(static_cast<double>(d.median.count()) * std::exp(4 * d.sigma), 1073741824.0)));
  }
  return 1;
}

Status ProtocolWorld::Build() {
  S3_RETURN_IF_ERROR(Check());
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
  // A client's data endpoint: the buffer kind of its first workload (GPU 0 for GPU buffers).
  const models::Buffer client_buf = c_.workloads.front().buffer;
  for (int i = 0; i < c_.storage.count; ++i) fabric_->MapNode(StorageIp(i), {StorageNodeIndex(i), stored, 0});
  for (int i = 0; i < c_.clients.count; ++i) fabric_->MapNode(ClientIp(i), {ClientNodeIndex(i), client_buf, 0});

  // Buffers: one slot per stream, each as large as the largest object of any workload.
  int64_t slots = 0;
  wl_.resize(c_.workloads.size());
  for (size_t i = 0; i < c_.workloads.size(); ++i) {
    wl_[i].cfg = &c_.workloads[i];
    wl_[i].object_bytes = MaxSize(c_.workloads[i]);
    slot_bytes_ = std::max(slot_bytes_, wl_[i].object_bytes);
    slots += c_.workloads[i].streams;
  }
  slot_bytes_ = (slot_bytes_ + 4095) / 4096 * 4096;
  client_streams_ = slots;

  proto::RdmaServerOptions ro;
  if (p_.fidelity == NetworkFidelity::kFlow) {
    // Flow fidelity: one WR (= one message = one flow) per GET and large PUT chunks, so a
    // request is a handful of flows, as in modelled mode.
    ro.zero_copy_wr_bytes = std::max<uint64_t>(4096, slot_bytes_);
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
  // Every client may connect every QP it opens (GetLink) to every server.
  ro.max_connections = std::max<size_t>(
      ro.max_connections, static_cast<size_t>(c_.clients.count) *
                              static_cast<size_t>((client_streams_ + ro.max_requests_per_connection - 1) /
                                                  ro.max_requests_per_connection));
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
    S3_ASSIGN_OR_RETURN(sn.device, emu::Device::Open(*fabric_, {StorageIp(i), emu::kRoceUdpPort}));
    S3_ASSIGN_OR_RETURN(sn.rdma, proto::RdmaServer::Create(*sn.device, ro));
    sn.service->SetRdmaServer(sn.rdma.get());
    sn.content.resize(wl_.size());
    for (size_t w = 0; w < wl_.size(); ++w) {
      if (wl_[w].cfg->type != WorkloadConfig::Type::kGet) continue;
      const std::string key = "wl" + std::to_string(w);
      if (auto* ph = dynamic_cast<PhantomStore*>(sn.store.get())) {
        ph->AddObject(kBucket, key, wl_[w].object_bytes);
        continue;
      }
      sn.content[w] = PatternBytes(seed ^ (w + 1), wl_[w].object_bytes);
      S3_ASSIGN_OR_RETURN(auto writer, sn.store->BeginPut(kBucket, key));
      S3_RETURN_IF_ERROR(writer->Append(sn.content[w]));
      proto::ObjectMeta meta;
      meta.size = sn.content[w].size();
      meta.etag = proto::HexEncode(proto::Md5(sn.content[w]));
      meta.last_modified_unix = kEpochUnix;
      S3_RETURN_IF_ERROR(writer->Commit(std::move(meta)));
    }
  }
  clients_.resize(static_cast<size_t>(c_.clients.count));
  for (int i = 0; i < c_.clients.count; ++i) {
    ClientNode& cn = clients_[static_cast<size_t>(i)];
    S3_ASSIGN_OR_RETURN(cn.device, emu::Device::Open(*fabric_, {ClientIp(i), emu::kRoceUdpPort}));
    cn.area = static_cast<size_t>(slot_bytes_ * static_cast<uint64_t>(slots));
    if (p_.phantom_payloads) {
      cn.base = reinterpret_cast<char*>(kPhantomClientBase + (static_cast<uint64_t>(i) << 40));
    } else {
      cn.memory.assign(cn.area, '\0');
      cn.base = cn.memory.data();
    }
  }
  return Status::Ok();
}

ProtocolWorld::Link* ProtocolWorld::GetLink(int client, int server, bool control_costs) {
  ClientNode& cn = clients_[static_cast<size_t>(client)];
  auto it = cn.links.find(server);
  if (it != cn.links.end()) return it->second.get();
  auto link = std::make_unique<Link>();
  proto::ClientOptions co;
  co.credential = kCred;
  co.unix_time_at_runtime_zero = kEpochUnix;
  co.host = "storage" + std::to_string(server);
  link->transport = std::make_unique<ModelTransport>(cluster_, solver_, runtime_,
                                                     *storage_[static_cast<size_t>(server)].service, co,
                                                     ClientNodeIndex(client), StorageNodeIndex(server),
                                                     control_costs);
  proto::RdmaClientOptions opts;
  // Enough QPs that the server runs every stream's request at once (it runs at most
  // max_requests_per_connection per QP and queues the rest), as modelled mode does.
  const int64_t per_conn = storage_[static_cast<size_t>(server)].rdma->max_requests_per_connection();
  opts.connections = static_cast<int>(std::clamp<int64_t>((client_streams_ + per_conn - 1) / per_conn, 1, 64));
  opts.seed = rng_.Fork("client").Fork(static_cast<uint64_t>(client) << 20 | static_cast<uint64_t>(server)).NextU64();
  link->connections = opts.connections;
  auto rc = proto::RdmaClient::Create(*cn.device, {link->transport.get()}, opts);
  S3_CHECK_MSG(rc.ok(), rc.status().ToString());
  link->client = std::move(rc).value();
  auto buf = link->client->RegisterBuffer(cn.base, cn.area);
  S3_CHECK_MSG(buf.ok(), buf.status().ToString());
  link->buffer = std::move(buf).value();
  Link* raw = link.get();
  cn.links.emplace(server, std::move(link));
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
  Link* link = GetLink(s->client, server, cfg.control_path);
  ClientNode& cn = clients_[static_cast<size_t>(s->client)];
  const uint64_t offset = static_cast<uint64_t>(s->slot) * slot_bytes_;
  auto done = [this, s, server, size, now](core::Result<proto::RdmaResult> r) { OnDone(s, server, size, now, std::move(r)); };
  if (cfg.type == WorkloadConfig::Type::kGet) {
    std::optional<proto::ByteRange> range;
    if (size < w.object_bytes) range = proto::ByteRange{0, size - 1};
    link->client->Get(kBucket, "wl" + std::to_string(s->wl), range, link->buffer, offset, std::move(done));
  } else {
    if (!p_.phantom_payloads) {
      const std::string bytes = PatternBytes(c_.seed ^ (static_cast<uint64_t>(s->client) << 32) ^ static_cast<uint64_t>(s->slot << 16) ^ static_cast<uint64_t>(s->issued), size);
      std::memcpy(cn.base + offset, bytes.data(), size);
    }
    const std::string key = "put-c" + std::to_string(s->client) + "-s" + std::to_string(s->slot);
    link->client->Put(kBucket, key, link->buffer, offset, size, {}, std::move(done));
  }
}

void ProtocolWorld::OnDone(Stream* s, int server, uint64_t size, Time start, core::Result<proto::RdmaResult> r) {
  WorkloadState& w = wl_[s->wl];
  // Built only for a failure (this runs once per request).
  auto what = [&] {
    return std::string(WorkloadTypeName(w.cfg->type)) + " of " + std::to_string(size) + " bytes, client" +
           std::to_string(s->client) + " -> storage" + std::to_string(server) + " at t=" +
           std::to_string(runtime_.Now().ToSeconds()) + " s (seed " + std::to_string(c_.seed) + ")";
  };
  if (!r.ok()) {
    ++stats_.request_errors;
    Fail(what() + ": " + r.status().ToString());
  } else if (r->bytes != size || !r->via_rdma) {
    ++stats_.verify_failures;
    Fail(what() + ": moved " + std::to_string(r->bytes) + " bytes" + (r->via_rdma ? "" : " over HTTP"));
  } else if (!p_.phantom_payloads) {
    const char* buf = clients_[static_cast<size_t>(s->client)].base + static_cast<uint64_t>(s->slot) * slot_bytes_;
    bool same = true;
    if (w.cfg->type == WorkloadConfig::Type::kGet) {
      same = std::memcmp(buf, storage_[static_cast<size_t>(server)].content[s->wl].data(), size) == 0;
    } else {
      auto reader = storage_[static_cast<size_t>(server)].store->Open(
          kBucket, "put-c" + std::to_string(s->client) + "-s" + std::to_string(s->slot));
      const std::optional<std::string_view> v = reader.ok() ? (*reader)->Contiguous() : std::nullopt;
      same = v.has_value() && v->size() == size && std::memcmp(v->data(), buf, size) == 0;
    }
    if (!same) {
      ++stats_.verify_failures;
      Fail(what() + ": bytes differ");
    } else {
      ++stats_.requests_ok;
    }
  } else {
    ++stats_.requests_ok;
  }
  const Time end = runtime_.Now();
  w.latencies_ps.push_back((end - start).ps());
  ++w.requests;
  ++done_;
  w.bytes += static_cast<int64_t>(size);
  node_bytes_[static_cast<size_t>(ClientNodeIndex(s->client))] += static_cast<int64_t>(size);
  node_bytes_[static_cast<size_t>(StorageNodeIndex(server))] += static_cast<int64_t>(size);
  w.last_end = std::max(w.last_end, end);
  last_end_ = std::max(last_end_, end);
  const Duration think = w.cfg->think_time;
  if (think > Duration::Zero()) {
    runtime_.After(think, [this, s] { NextRequest(s); });
  } else {
    // Posted: a callback must not start the next request inside the client's own callback.
    runtime_.Post([this, s] { NextRequest(s); });
  }
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
    std::vector<Stream*> started;
    for (int64_t c = 0; c < c_.clients.count; ++c) {
      for (int64_t q = 0; q < cfg.streams; ++q) {
        streams_.push_back(Stream{i, static_cast<int>(c), slot_base + static_cast<int>(q),
                                  wrng.Fork(static_cast<uint64_t>(c * cfg.streams + q)), cfg.requests});
        started.push_back(&streams_.back());
      }
    }
    slot_base += static_cast<int>(cfg.streams);
    total_expected_ += cfg.requests > 0 ? c_.clients.count * cfg.streams * cfg.requests : 0;
    active_streams_ += static_cast<int64_t>(started.size());
    runtime_.After(cfg.start, [this, started] {
      for (Stream* s : started) NextRequest(s);
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
  ProtocolRun run;
  run.result = Collect();
  const ModelFabricStats& fs = fabric_->stats();
  stats_.packets = fs.packets;
  stats_.flows = fs.flows;
  stats_.dropped = fs.dropped;
  for (ClientNode& cn : clients_) {
    for (auto& [server, link] : cn.links) {
      stats_.rdma_connects += link->client->stats().connects;
      stats_.http_fallbacks += link->client->stats().http_fallbacks;
      // The client's QPs are the responders of the server's WRITEs and READs: lost packets
      // show there as sequence NAKs sent and duplicates received (go-back-N resends).
      for (int q = 0; q < link->connections; ++q) {
        if (emu::QueuePair* qp = link->client->QpForTesting(q)) {
          stats_.recovery_events += qp->stats().seq_naks_sent + qp->stats().duplicates_received;
        }
      }
    }
  }
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

core::Result<NetworkFidelity> ParseFidelity(const std::string& text) {
  if (text == "flow") return NetworkFidelity::kFlow;
  if (text == "packet") return NetworkFidelity::kPacket;
  return Status::InvalidArgument("fidelity must be flow or packet (got '" + text + "')");
}

}  // namespace s3rdma::sim
