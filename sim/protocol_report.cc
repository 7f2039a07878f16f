// The side-by-side comparison of a modelled and a protocol-mode run (sim/protocol_world.h).
#include <cmath>
#include <cstdio>
#include <string>

#include "sim/protocol_world.h"
#include "sim/report.h"

namespace s3rdma::sim {
namespace {

std::string Diff(double a, double b) {
  if (a == 0 && b == 0) return "0.0%";
  if (a == 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", (b - a) / a * 100.0);
  return buf;
}

std::string Row(const std::string& name, const std::string& a, const std::string& b, const std::string& d) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-40s %14s %14s %9s\n", name.c_str(), a.c_str(), b.c_str(), d.c_str());
  return buf;
}

std::string Ms(core::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", d.ToSeconds() * 1e3);
  return buf;
}

std::string Pct(double u) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", u * 100.0);
  return buf;
}

}  // namespace

std::string FormatComparison(const SimResult& m, const SimResult& r) {
  std::string out = "modelled vs real protocol (difference relative to modelled)\n";
  out += Row("", "modelled", "real", "diff");
  out += Row("throughput", FormatRate(m.aggregate_bps), FormatRate(r.aggregate_bps), Diff(m.aggregate_bps, r.aggregate_bps));
  out += Row("makespan", Ms(m.makespan), Ms(r.makespan), Diff(m.makespan.ToSeconds(), r.makespan.ToSeconds()));
  out += Row("requests", std::to_string(m.requests), std::to_string(r.requests),
             Diff(static_cast<double>(m.requests), static_cast<double>(r.requests)));
  if (m.failed_requests > 0 || r.failed_requests > 0) {
    out += Row("failed requests", std::to_string(m.failed_requests), std::to_string(r.failed_requests), "");
  }
  for (size_t i = 0; i < m.workloads.size() && i < r.workloads.size(); ++i) {
    const WorkloadResult& a = m.workloads[i];
    const WorkloadResult& b = r.workloads[i];
    out += Row(a.name + " latency p50", Ms(a.latency_p50), Ms(b.latency_p50),
               Diff(a.latency_p50.ToSeconds(), b.latency_p50.ToSeconds()));
    out += Row(a.name + " latency p99", Ms(a.latency_p99), Ms(b.latency_p99),
               Diff(a.latency_p99.ToSeconds(), b.latency_p99.ToSeconds()));
  }
  for (const KindResult& a : m.kinds) {
    for (const KindResult& b : r.kinds) {
      if (a.group != b.group || a.kind != b.kind) continue;
      if (a.mean < 1e-4 && b.mean < 1e-4) continue;
      out += Row(a.group + " " + a.kind + " util", Pct(a.mean), Pct(b.mean), Diff(a.mean, b.mean));
    }
  }
  out += Row("bottleneck", m.bottleneck.group + " " + m.bottleneck.kind, r.bottleneck.group + " " + r.bottleneck.kind, "");
  return out;
}

}  // namespace s3rdma::sim
