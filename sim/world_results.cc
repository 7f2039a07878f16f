#include "sim/world_results.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "proto/rdma_server.h"

namespace s3rdma::sim {

using core::Duration;
using core::Time;

const char* WorkloadTypeName(WorkloadConfig::Type t) {
  switch (t) {
    case WorkloadConfig::Type::kGet: return "get";
    case WorkloadConfig::Type::kPut: return "put";
    case WorkloadConfig::Type::kIndexBuild: return "index_build";
    case WorkloadConfig::Type::kPipeline: return "pipeline";
  }
  return "?";
}

std::pair<std::string, std::string> ResourceGroupAndKind(const std::string& name) {
  const size_t dot = name.find('.');
  std::string node = name.substr(0, dot);
  std::string kind = dot == std::string::npos ? std::string() : name.substr(dot + 1);
  std::string group;
  for (char ch : node) {
    if (ch >= '0' && ch <= '9') break;
    group += ch;
  }
  if (group == "client") group = "clients";
  if (group == "leaf") return {"fabric", "leaf_" + kind};
  std::string k;
  for (size_t i = 0; i < kind.size(); ++i) {
    if (kind[i] >= '0' && kind[i] <= '9' && i > 0 && kind.compare(0, 3, "gpu") == 0) continue;
    k += kind[i];
  }
  return {group, k};
}

SimResult CollectResult(const RunRecord& run) {
  const ScenarioConfig& c = *run.config;
  const std::vector<int64_t>& node_bytes = *run.node_bytes;
  const models::FlowSolver& solver = *run.solver;
  const models::ClusterModel& cluster = *run.cluster;
  SimResult r;
  r.scenario = c.name.empty() ? c.source : c.name;
  r.seed = c.seed;
  r.transport = models::TransportName(c.transport);
  r.storage_nodes = c.storage.count;
  r.client_nodes = c.clients.count;
  r.makespan = run.last_end.SinceEpoch();
  r.hit_max_time = run.hit_max_time;
  const double T = r.makespan.ToSeconds();
  for (const WorkloadTally* wp : run.workloads) {
    const WorkloadTally& w = *wp;
    WorkloadResult x;
    x.name = w.cfg->name;
    x.type = WorkloadTypeName(w.cfg->type);
    x.requests = w.requests;
    x.failed = w.failed;
    x.bytes = w.bytes;
    x.first_start = w.first_start == Time::Max() ? Time::Zero() : w.first_start;
    x.last_end = w.last_end;
    x.segments = w.segments;
    const double span = (x.last_end - x.first_start).ToSeconds();
    x.throughput_bps = span > 0 ? static_cast<double>(x.bytes) / span : 0;
    std::vector<int64_t> lat = w.latencies_ps;
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      auto q = [&](double p) {
        const size_t i = std::min(lat.size() - 1, static_cast<size_t>(std::ceil(p * static_cast<double>(lat.size()))) - (p > 0 ? 1 : 0));
        return Duration::Picoseconds(lat[i]);
      };
      long double sum = 0;
      for (int64_t v : lat) sum += static_cast<long double>(v);
      x.latency_mean = Duration::Picoseconds(static_cast<int64_t>(sum / static_cast<long double>(lat.size())));
      x.latency_p50 = q(0.5);
      x.latency_p99 = q(0.99);
      x.latency_p999 = q(0.999);
      x.latency_max = Duration::Picoseconds(lat.back());
    }
    r.requests += x.requests;
    r.failed_requests += x.failed;
    r.bytes += x.bytes;
    r.workloads.push_back(std::move(x));
  }
  r.aggregate_bps = T > 0 ? static_cast<double>(r.bytes) / T : 0;
  if (T > 0) {
    double mn = 1e300, mx = 0, sum = 0;
    for (int n = run.storage_first; n < run.client_first; ++n) {
      const double b = static_cast<double>(node_bytes[static_cast<size_t>(n)]) / T;
      mn = std::min(mn, b);
      mx = std::max(mx, b);
      sum += b;
    }
    r.per_storage_bps_mean = sum / static_cast<double>(c.storage.count);
    r.per_storage_bps_min = mn;
    r.per_storage_bps_max = mx;
    double csum = 0;
    for (int n = run.client_first; n < cluster.node_count(); ++n) csum += static_cast<double>(node_bytes[static_cast<size_t>(n)]) / T;
    r.per_client_bps_mean = csum / static_cast<double>(c.clients.count);
    for (int n = 0; n < cluster.node_count(); ++n) {
      r.nodes.push_back({cluster.node_name(n), static_cast<double>(node_bytes[static_cast<size_t>(n)]) / T});
    }
  }
  std::map<std::pair<std::string, std::string>, KindResult> kinds;
  std::map<std::pair<std::string, std::string>, int> kind_count;
  std::vector<std::pair<std::string, std::string>> kind_order;
  for (models::ResourceId id = 0; id < solver.resource_count(); ++id) {
    ResourceResult rr;
    rr.name = solver.name(id);
    std::tie(rr.group, rr.kind) = ResourceGroupAndKind(rr.name);
    rr.capacity = solver.capacity(id);
    rr.used = run.used_work(id);
    rr.utilisation = T > 0 ? rr.used / (rr.capacity * T) : 0;
    const auto key = std::make_pair(rr.group, rr.kind);
    auto [it, inserted] = kinds.try_emplace(key);
    if (inserted) {
      it->second.group = rr.group;
      it->second.kind = rr.kind;
      kind_order.push_back(key);
    }
    it->second.mean += rr.utilisation;
    ++kind_count[key];
    if (rr.utilisation > it->second.max || it->second.max_name.empty()) {
      it->second.max = rr.utilisation;
      it->second.max_name = rr.name;
    }
    r.resources.push_back(std::move(rr));
  }
  for (const auto& key : kind_order) {
    KindResult k = kinds[key];
    k.mean /= kind_count[key];
    if (r.kinds.empty() || k.mean > r.bottleneck.mean) r.bottleneck = k;
    r.kinds.push_back(std::move(k));
  }
  r.samples = *run.samples;
  r.events = run.runtime->stats().executed;
  r.solves = solver.stats().solves;
  r.activities_solved = solver.stats().activities_solved;
  r.widenings = solver.stats().widenings;
  r.trace_hash = run.runtime->TraceHash();
  r.rdma_connects = run.rdma_connects;
  return r;
}

bool IsPipeline(const WorkloadConfig& w) {
  return w.type == WorkloadConfig::Type::kIndexBuild || w.type == WorkloadConfig::Type::kPipeline;
}

int64_t SegmentWriteBytes(const WorkloadConfig& cfg, int64_t read_bytes) {
  if (cfg.type == WorkloadConfig::Type::kPipeline) return cfg.write_size.count();
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(read_bytes) * cfg.index_ratio)));
}

SegmentPlan PlanSegments(const WorkloadConfig& cfg) {
  SegmentPlan p;
  if (cfg.type == WorkloadConfig::Type::kPipeline) {
    p.segments = cfg.items;
    p.segment_bytes = cfg.read_size.count();
    p.last_segment_bytes = p.segment_bytes;
  } else {
    const int64_t per_vec = cfg.dimension * cfg.dtype_bytes;
    const int64_t total = cfg.vectors * per_vec;
    p.segment_bytes = std::max<int64_t>(per_vec, cfg.segment_size.count() / per_vec * per_vec);
    p.segments = (total + p.segment_bytes - 1) / p.segment_bytes;
    p.last_segment_bytes = total - (p.segments - 1) * p.segment_bytes;
  }
  p.total_read = (p.segments - 1) * p.segment_bytes + p.last_segment_bytes;
  p.max_write = std::max(SegmentWriteBytes(cfg, p.segment_bytes), SegmentWriteBytes(cfg, p.last_segment_bytes));
  p.total_write =
      (p.segments - 1) * SegmentWriteBytes(cfg, p.segment_bytes) + SegmentWriteBytes(cfg, p.last_segment_bytes);
  return p;
}

uint64_t MaxObjectSize(const WorkloadConfig& w) {
  const SizeDistribution& d = w.object_size;
  switch (d.kind) {
    case SizeDistribution::Kind::kFixed: return static_cast<uint64_t>(std::max<int64_t>(1, d.fixed.count()));
    case SizeDistribution::Kind::kUniform: return static_cast<uint64_t>(std::max<int64_t>(1, d.max.count()));
    case SizeDistribution::Kind::kLognormal:
      return static_cast<uint64_t>(
          std::max(1.0, std::min(static_cast<double>(d.median.count()) * std::exp(4 * d.sigma), 1073741824.0)));
  }
  return 1;
}

int64_t StreamsOf(const ScenarioConfig& c, const WorkloadConfig& w) {
  if (IsPipeline(w) && w.build_on_gpu) return c.clients.node.gpus.count * w.streams;
  return w.streams;
}

int64_t StreamsOnEndpoint(const ScenarioConfig& c, const models::Endpoint& ep) {
  int64_t n = 0;
  for (const WorkloadConfig& w : c.workloads) {
    const bool pipeline = w.type == WorkloadConfig::Type::kIndexBuild || w.type == WorkloadConfig::Type::kPipeline;
    bool here = false;
    if (!pipeline) {
      here = ep.buffer == w.buffer && (ep.buffer != models::Buffer::kGpu || ep.gpu == 0);
    } else if (w.build_on_gpu) {
      here = ep.buffer == models::Buffer::kGpu && ep.gpu >= 0 && ep.gpu < c.clients.node.gpus.count;
    } else {
      here = ep.buffer == models::Buffer::kHost;
    }
    if (here) n += w.streams;
  }
  return n;
}

int RdmaQps(int64_t streams, uint32_t max_requests_per_connection) {
  const int64_t per_qp = std::max<int64_t>(1, max_requests_per_connection);
  // 64: the most proto::RdmaClientOptions::connections accepts (RdmaClientOptions::Validate).
  return static_cast<int>(std::clamp<int64_t>((streams + per_qp - 1) / per_qp, 1, 64));
}

int RdmaQpsPerServer(const ScenarioConfig& c, const models::Endpoint& ep) {
  return RdmaQps(StreamsOnEndpoint(c, ep), proto::RdmaServerOptions{}.max_requests_per_connection);
}

}  // namespace s3rdma::sim
