#include "sim/world.h"
#include "sim/world_results.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "core/rng.h"
#include "core/virtual_runtime.h"
#include "models/cluster.h"
#include "models/flow_solver.h"

namespace s3rdma::sim {
namespace {

using core::Duration;
using core::Time;
using models::Buffer;
using models::Endpoint;

class World {
 public:
  explicit World(const ScenarioConfig& c)
      : c_(c),
        solver_(runtime_),
        cluster_(runtime_, solver_, c.fabric, c.costs, c.transport),
        rng_(c.seed) {}

  SimResult Run(const RunOptions& options);

 private:
  struct Stream {
    size_t wl;
    int client;  // node index
    int gpu;     // pipelines: which GPU (or -1)
    core::Rng rng;
    int64_t left;  // requests left (streams) ; unused by pipelines
  };
  struct WorkloadState : WorkloadTally {
    std::vector<double> zipf_cdf;
    // index build (WorkloadTally::segments is the segment count)
    int64_t next_segment = 0;
    SegmentPlan plan;
  };

  void Build();
  void StartWorkloads();
  int PickServer(WorkloadState& w, core::Rng& rng);
  core::Bytes PickSize(const WorkloadConfig& w, core::Rng& rng);
  void NextRequest(Stream* s);
  // One RDMA queue pair of a client node to a storage node, as proto::RdmaClient keeps it.
  struct Qp {
    enum class State : uint8_t { kDown, kConnecting, kReady };
    State state = State::kDown;
    int load = 0;  // requests in flight or waiting for the connect
    std::vector<std::function<void()>> waiting;
  };

  // One S3 request; `done` runs when the client sees the reply.
  void Request(bool get, int client, int server, Buffer client_buf, int gpu, core::Bytes size,
               bool control_path, std::function<void()> done);
  // The request and reply messages around the data path (control_path: true).
  void Exchange(bool get, int client, int server, const Endpoint& client_ep, core::Bytes size,
                std::function<void()> done);
  // POST /?rdmaConnect for `qp`, then runs the requests waiting for it.
  void Connect(int client, int server, Qp* qp);
  void NextSegment(Stream* s);
  // The data movement of one request between `server` and the client, with erasure coding
  // across storage nodes when configured.
  void DataPath(bool get, int server, const Endpoint& client_ep, core::Bytes size,
                std::function<void()> done);
  void StreamFinished();
  void TakeSample();
  SimResult Collect();

  const ScenarioConfig& c_;
  core::VirtualRuntime runtime_;
  models::FlowSolver solver_;
  models::ClusterModel cluster_;
  core::Rng rng_;
  int storage_first_ = 0;
  int client_first_ = 0;
  std::deque<Stream> streams_;
  std::vector<WorkloadState> wl_;
  std::vector<int64_t> node_bytes_;
  // The RDMA QPs of one client data endpoint (a device: host memory, or one GPU) to one
  // server, created at the first request between them. Looked up, never iterated (so the
  // hash order cannot leak into results); the vectors are never resized, so a Qp* stays
  // valid for the run.
  struct QpKey {
    int client, server, port;  // port: 0 host memory, 1 + g GPU g
    bool operator==(const QpKey&) const = default;
  };
  struct QpKeyHash {
    size_t operator()(const QpKey& k) const {
      uint64_t h = static_cast<uint32_t>(k.client);
      h = h * 0x9E3779B97F4A7C15ull + static_cast<uint32_t>(k.server);
      h = h * 0x9E3779B97F4A7C15ull + static_cast<uint32_t>(k.port);
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  std::unordered_map<QpKey, std::vector<Qp>, QpKeyHash> qps_;
  std::vector<int> qps_per_port_;  // RdmaQpsPerServer by port
  int64_t rdma_connects_ = 0;
  int64_t active_streams_ = 0;
  int64_t total_requests_expected_ = 0;
  int64_t requests_done_ = 0;
  Time last_end_;
  core::TimerHandle stop_timer_;
  core::TimerHandle sample_timer_;
  bool hit_max_time_ = false;
  // Sampling state.
  std::vector<double> last_used_;
  Time last_sample_;
  std::vector<sim::Sample> samples_;
  static constexpr size_t kMaxSamples = 4096;
  Duration interval_;
};

void World::Build() {
  storage_first_ = 0;
  for (int64_t i = 0; i < c_.storage.count; ++i) {
    cluster_.AddNode("storage" + std::to_string(i), c_.storage.node, models::NodeRole::kStorage);
  }
  client_first_ = static_cast<int>(c_.storage.count);
  for (int64_t i = 0; i < c_.clients.count; ++i) {
    cluster_.AddNode("client" + std::to_string(i), c_.clients.node, models::NodeRole::kClient);
  }
  cluster_.Seal();
  node_bytes_.assign(static_cast<size_t>(cluster_.node_count()), 0);
  qps_per_port_.push_back(RdmaQpsPerServer(c_, {0, Buffer::kHost, 0}));
  for (int g = 0; g < c_.clients.node.gpus.count; ++g) {
    qps_per_port_.push_back(RdmaQpsPerServer(c_, {0, Buffer::kGpu, g}));
  }
}

int World::PickServer(WorkloadState& w, core::Rng& rng) {
  const int n = static_cast<int>(c_.storage.count);
  if (w.zipf_cdf.empty()) return storage_first_ + static_cast<int>(rng.Below(static_cast<uint64_t>(n)));
  const double u = rng.NextDouble();
  const auto it = std::upper_bound(w.zipf_cdf.begin(), w.zipf_cdf.end(), u);
  const int k = std::min(n - 1, static_cast<int>(it - w.zipf_cdf.begin()));
  return storage_first_ + k;
}

core::Bytes World::PickSize(const WorkloadConfig& w, core::Rng& rng) {
  const SizeDistribution& d = w.object_size;
  switch (d.kind) {
    case SizeDistribution::Kind::kFixed:
      return d.fixed;
    case SizeDistribution::Kind::kUniform:
      return core::Bytes(rng.Uniform(d.min.count(), d.max.count()));
    case SizeDistribution::Kind::kLognormal: {
      // Box-Muller; one normal draw per size keeps the stream simple and reproducible.
      const double u1 = 1.0 - rng.NextDouble();
      const double u2 = rng.NextDouble();
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      const double v = static_cast<double>(d.median.count()) * std::exp(d.sigma * z);
      return core::Bytes(std::max<int64_t>(1, static_cast<int64_t>(std::min(v, 1e15))));
    }
  }
  return d.fixed;
}

void World::Request(bool get, int client, int server, Buffer client_buf, int gpu, core::Bytes size,
                    bool control_path, std::function<void()> done) {
  const Endpoint client_ep{client, client_buf, gpu};
  node_bytes_[static_cast<size_t>(client)] += size.count();
  node_bytes_[static_cast<size_t>(server)] += size.count();
  if (!control_path) {
    DataPath(get, server, client_ep, size, std::move(done));
    return;
  }
  if (cluster_.transport() != models::Transport::kRdma) {
    Exchange(get, client, server, client_ep, size, std::move(done));
    return;
  }
  // RDMA: the least loaded QP (in flight + waiting), ties to the lowest index, so QPs open
  // one by one as the client's concurrency to this server grows (proto/rdma_client.cc).
  const int port = client_buf == Buffer::kGpu ? 1 + gpu : 0;
  std::vector<Qp>& qps = qps_[QpKey{client, server, port}];
  if (qps.empty()) qps.resize(static_cast<size_t>(qps_per_port_[static_cast<size_t>(port)]));
  size_t best = 0;
  for (size_t i = 1; i < qps.size(); ++i) {
    if (qps[i].load < qps[best].load) best = i;
  }
  Qp* qp = &qps[best];
  ++qp->load;
  auto finish = [qp, done = std::move(done)]() mutable {
    --qp->load;  // before `done`, which may issue the stream's next request
    done();
  };
  auto go = [this, get, client, server, client_ep, size, finish = std::move(finish)]() mutable {
    Exchange(get, client, server, client_ep, size, std::move(finish));
  };
  switch (qp->state) {
    case Qp::State::kReady:
      go();
      return;
    case Qp::State::kConnecting:
      qp->waiting.push_back(std::move(go));
      return;
    case Qp::State::kDown:
      qp->state = Qp::State::kConnecting;
      qp->waiting.push_back(std::move(go));
      Connect(client, server, qp);
      return;
  }
}

void World::Connect(int client, int server, Qp* qp) {
  // An authenticated S3 request with an empty reply body (docs/protocol.md section 1):
  // the same request CPU on both ends and the same round trip as any request.
  const Duration lat = cluster_.RouteLatency(client, server);
  cluster_.CpuWork(client, cluster_.ClientRequestCpu(), [this, server, lat, qp] {
    cluster_.Delay(lat, [this, server, lat, qp] {
      cluster_.CpuWork(server, cluster_.ServerRequestCpu(), [this, lat, qp] {
        cluster_.Delay(lat, [this, qp] {
          qp->state = Qp::State::kReady;
          ++rdma_connects_;
          std::vector<std::function<void()>> waiting = std::move(qp->waiting);
          qp->waiting.clear();
          for (std::function<void()>& go : waiting) go();
        });
      });
    });
  });
}

void World::Exchange(bool get, int client, int server, const Endpoint& client_ep, core::Bytes size,
                     std::function<void()> done) {
  const bool drives = c_.storage.node.drives.count > 0;
  const Duration lat = cluster_.RouteLatency(client, server);
  const Duration drive_lat = !drives ? Duration::Zero()
                             : get   ? c_.storage.node.drives.read_latency
                                     : c_.storage.node.drives.write_latency;
  // RDMA takes one more one-way trip than the data flow (docs/protocol.md): the server
  // replies to a GET only when its WRITE is acknowledged (the ACK returns after the data
  // arrived), and a PUT's data flows only after the server's READ request reached the client.
  const Duration turn = cluster_.transport() == models::Transport::kRdma ? lat : Duration::Zero();
  const Duration reply_lat = get ? lat + turn : lat;
  auto reply = [this, reply_lat, done = std::move(done)]() mutable {
    cluster_.Delay(reply_lat, std::move(done));
  };
  auto data = [this, get, server, client_ep, size, drive_lat, turn, reply = std::move(reply)]() mutable {
    if (get) {
      cluster_.Delay(drive_lat, [this, server, client_ep, size, reply = std::move(reply)]() mutable {
        DataPath(true, server, client_ep, size, std::move(reply));
      });
      return;
    }
    auto put = [this, server, client_ep, size, drive_lat, reply = std::move(reply)]() mutable {
      DataPath(false, server, client_ep, size, [this, drive_lat, reply = std::move(reply)]() mutable {
        cluster_.Delay(drive_lat, std::move(reply));
      });
    };
    if (turn > Duration::Zero()) {
      cluster_.Delay(turn, std::move(put));
    } else {
      put();
    }
  };
  auto at_server = [this, server, data = std::move(data)]() mutable {
    cluster_.CpuWork(server, cluster_.ServerRequestCpu(), std::move(data));
  };
  cluster_.CpuWork(client, cluster_.ClientRequestCpu(), [this, lat, at_server = std::move(at_server)]() mutable {
    cluster_.Delay(lat, std::move(at_server));
  });
}

void World::DataPath(bool get, int server, const Endpoint& client_ep, core::Bytes size,
                     std::function<void()> done) {
  const bool drives = c_.storage.node.drives.count > 0;
  const Buffer stored = drives ? Buffer::kDrive : Buffer::kHost;
  const int64_t k = c_.storage.ec_data;
  const int64_t width = c_.storage.ec_data + c_.storage.ec_parity;
  if (width <= 1) {
    if (get) {
      cluster_.Transfer({server, stored, 0}, client_ep, size, std::move(done));
    } else {
      cluster_.Transfer(client_ep, {server, stored, 0}, size, std::move(done));
    }
    return;
  }
  // Erasure coding: fragments of size/k on the `width` consecutive storage nodes from the
  // one the client asked. Store-and-forward at the asked node (gather, then send).
  const core::Bytes frag((size.count() + k - 1) / k);
  const int n = static_cast<int>(c_.storage.count);
  auto peer = [this, server, n](int64_t i) {
    return storage_first_ + static_cast<int>((server - storage_first_ + i) % n);
  };
  // `parts` callbacks must complete before `then` runs; shared so each part can count down.
  auto join = [](int64_t parts, std::function<void()> then) {
    auto left = std::make_shared<int64_t>(parts);
    auto fn = std::make_shared<std::function<void()>>(std::move(then));
    return [left, fn] {
      if (--*left == 0) (*fn)();
    };
  };
  const Endpoint here{server, Buffer::kHost, 0};
  if (get) {
    auto send = [this, here, client_ep, size, done = std::move(done)]() mutable {
      cluster_.Transfer(here, client_ep, size, std::move(done));
    };
    auto part = join(k, std::move(send));
    if (drives) {
      cluster_.DriveIo(server, true, frag, part);
    } else {
      part();
    }
    for (int64_t i = 1; i < k; ++i) cluster_.Transfer({peer(i), stored, 0}, here, frag, part);
  } else {
    auto scatter = [this, here, drives, frag, width, peer, stored, join, done = std::move(done)]() mutable {
      auto part = join(width, std::move(done));
      if (drives) {
        cluster_.DriveIo(here.node, false, frag, part);
      } else {
        part();
      }
      for (int64_t i = 1; i < width; ++i) cluster_.Transfer(here, {peer(i), stored, 0}, frag, part);
    };
    cluster_.Transfer(client_ep, here, size, std::move(scatter));
  }
}

void World::NextRequest(Stream* s) {
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
  const core::Bytes size = PickSize(cfg, s->rng);
  w.first_start = std::min(w.first_start, now);
  const bool get = cfg.type == WorkloadConfig::Type::kGet;
  Request(get, s->client, server, cfg.buffer, 0, size, cfg.control_path, [this, s, &w, now, size] {
    const Time end = runtime_.Now();
    w.latencies_ps.push_back((end - now).ps());
    ++w.requests;
    ++requests_done_;
    w.bytes += size.count();
    w.last_end = std::max(w.last_end, end);
    last_end_ = std::max(last_end_, end);
    const Duration think = w.cfg->think_time;
    if (think > Duration::Zero()) {
      runtime_.After(think, [this, s] { NextRequest(s); });
    } else {
      NextRequest(s);
    }
  });
}

void World::NextSegment(Stream* s) {
  WorkloadState& w = wl_[s->wl];
  const WorkloadConfig& cfg = *w.cfg;
  if (w.next_segment >= w.segments) {
    StreamFinished();
    return;
  }
  const int64_t k = w.next_segment++;
  const bool generic = cfg.type == WorkloadConfig::Type::kPipeline;
  const int64_t bytes = w.plan.ReadBytes(k);
  const double vectors = generic ? 0.0 : static_cast<double>(bytes / (cfg.dimension * cfg.dtype_bytes));
  const int server = storage_first_ + static_cast<int>(k % c_.storage.count);
  const Buffer buf = cfg.build_on_gpu ? Buffer::kGpu : Buffer::kHost;
  const int gpu = cfg.build_on_gpu ? s->gpu : 0;
  const Time t0 = runtime_.Now();
  w.first_start = std::min(w.first_start, t0);
  const int64_t index_bytes = SegmentWriteBytes(cfg, bytes);
  auto finish = [this, s, &w, t0, bytes, index_bytes] {
    const Time end = runtime_.Now();
    w.latencies_ps.push_back((end - t0).ps());
    const int64_t n = index_bytes > 0 ? 2 : 1;
    w.requests += n;
    requests_done_ += n;
    w.bytes += bytes + index_bytes;
    w.last_end = std::max(w.last_end, end);
    last_end_ = std::max(last_end_, end);
    NextSegment(s);
  };
  auto write = [this, s, server, buf, gpu, index_bytes, finish = std::move(finish)]() mutable {
    if (index_bytes <= 0) {
      finish();
      return;
    }
    Request(false, s->client, server, buf, gpu, core::Bytes(index_bytes), true, std::move(finish));
  };
  auto build = [this, s, vectors, generic, t = cfg.compute_time, write = std::move(write),
                on_gpu = cfg.build_on_gpu]() mutable {
    if (generic) {
      if (on_gpu) {
        cluster_.GpuWork(s->client, s->gpu, t, std::move(write));
      } else {
        cluster_.CpuWork(s->client, t, std::move(write));
      }
    } else {
      cluster_.Compute(s->client, on_gpu ? s->gpu : -1, vectors, std::move(write));
    }
  };
  Request(true, s->client, server, buf, gpu, core::Bytes(bytes), true, std::move(build));
}

void World::StreamFinished() {
  if (--active_streams_ == 0) {
    stop_timer_.Cancel();
    sample_timer_.Cancel();
    TakeSample();
  }
}

void World::StartWorkloads() {
  wl_.resize(c_.workloads.size());
  for (size_t i = 0; i < c_.workloads.size(); ++i) {
    const WorkloadConfig& cfg = c_.workloads[i];
    WorkloadState& w = wl_[i];
    w.cfg = &cfg;
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
    if (IsPipeline(cfg)) {
      w.plan = PlanSegments(cfg);
      w.segments = w.plan.segments;
      const int64_t per_client = StreamsOf(c_, cfg);
      for (int64_t c = 0; c < c_.clients.count; ++c) {
        for (int64_t p = 0; p < per_client; ++p) {
          const int gpu = cfg.build_on_gpu ? static_cast<int>(p % c_.clients.node.gpus.count) : -1;
          streams_.push_back(Stream{i, client_first_ + static_cast<int>(c), gpu,
                                    wrng.Fork(static_cast<uint64_t>(c * per_client + p)), 0});
          started.push_back(&streams_.back());
        }
      }
      total_requests_expected_ += (cfg.type == WorkloadConfig::Type::kPipeline && cfg.write_size.count() == 0 ? 1 : 2) * w.segments;
    } else {
      for (int64_t c = 0; c < c_.clients.count; ++c) {
        for (int64_t q = 0; q < cfg.streams; ++q) {
          streams_.push_back(Stream{i, client_first_ + static_cast<int>(c), 0,
                                    wrng.Fork(static_cast<uint64_t>(c * cfg.streams + q)), cfg.requests});
          started.push_back(&streams_.back());
        }
      }
      total_requests_expected_ += cfg.requests > 0 ? c_.clients.count * cfg.streams * cfg.requests : 0;
    }
    active_streams_ += static_cast<int64_t>(started.size());
    const bool pipeline =
        cfg.type == WorkloadConfig::Type::kIndexBuild || cfg.type == WorkloadConfig::Type::kPipeline;
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
}

void World::TakeSample() {
  const Time now = runtime_.Now();
  const double dt = (now - last_sample_).ToSeconds();
  if (dt <= 0) return;
  sim::Sample s;
  s.time = now;
  double scpu = 0, ccpu = 0, cgpu = 0;
  int ngpu = 0;
  for (int n = 0; n < cluster_.node_count(); ++n) {
    const models::NodeResources& r = cluster_.resources(n);
    auto delta = [&](models::ResourceId id) {
      const double used = solver_.UsedWork(id);
      const double d = used - last_used_[id];
      last_used_[id] = used;
      return d;
    };
    const bool storage = n < client_first_;
    const double tx = delta(r.nic_tx), rx = delta(r.nic_rx);
    const double cpu = delta(r.cpu) / (solver_.capacity(r.cpu) * dt);
    if (storage) {
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
  // Bounded memory and work for long runs: past kMaxSamples, merge neighbours pairwise
  // (their intervals are equal, so a plain mean) and sample half as often.
  if (samples_.size() >= kMaxSamples) {
    std::vector<sim::Sample> merged;
    for (size_t i = 0; i + 1 < samples_.size(); i += 2) {
      sim::Sample m = samples_[i + 1];
      const sim::Sample& a = samples_[i];
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

SimResult World::Run(const RunOptions& options) {
  Build();
  last_used_.assign(solver_.resource_count(), 0.0);
  StartWorkloads();
  if (c_.max_time > Duration::Zero()) {
    stop_timer_ = runtime_.After(c_.max_time, [this] {
      hit_max_time_ = true;
      runtime_.Stop();
    });
  }
  interval_ = c_.sample_interval;
  std::function<void()> tick = [this, &tick] {
    TakeSample();
    if (active_streams_ > 0) sample_timer_ = runtime_.After(interval_, tick);
  };
  sample_timer_ = runtime_.After(interval_, tick);
  for (;;) {
    const uint64_t ran = runtime_.RunEvents(1 << 16);
    if (hit_max_time_ || ran == 0) break;
    if (options.progress) {
      double f = 0;
      if (total_requests_expected_ > 0) {
        f = static_cast<double>(requests_done_) / static_cast<double>(total_requests_expected_);
      } else if (c_.max_time > Duration::Zero()) {
        f = runtime_.Now().ToSeconds() / c_.max_time.ToSeconds();
      }
      options.progress(std::min(1.0, f));
    }
  }
  if (hit_max_time_) {
    last_end_ = runtime_.Now();
    TakeSample();
  }
  return Collect();
}

SimResult World::Collect() {
  RunRecord run;
  run.config = &c_;
  run.last_end = last_end_;
  run.hit_max_time = hit_max_time_;
  for (const WorkloadState& w : wl_) run.workloads.push_back(&w);
  run.node_bytes = &node_bytes_;
  run.storage_first = storage_first_;
  run.client_first = client_first_;
  run.cluster = &cluster_;
  run.solver = &solver_;
  run.used_work = [this](models::ResourceId id) { return solver_.UsedWork(id); };
  run.samples = &samples_;
  run.runtime = &runtime_;
  run.rdma_connects = rdma_connects_;
  return CollectResult(run);
}

}  // namespace

SimResult RunScenario(const ScenarioConfig& config, const RunOptions& options) {
  auto world = std::make_unique<World>(config);
  return world->Run(options);
}

}  // namespace s3rdma::sim
