#include "sim/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/units.h"

namespace s3rdma::sim {
namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Small utilisations keep two decimals: RDMA's 0.04% CPU must not read as zero.
std::string Pct(double u) { return Fmt(u > 0 && u < 0.01 ? "%.2f%%" : "%.1f%%", u * 100.0); }

std::string Dur(core::Duration d) {
  const double s = d.ToSeconds();
  if (s >= 1) return Fmt("%.3g s", s);
  if (s >= 1e-3) return Fmt("%.3g ms", s * 1e3);
  if (s >= 1e-6) return Fmt("%.3g us", s * 1e6);
  return Fmt("%.3g ns", s * 1e9);
}

const KindResult* FindKind(const SimResult& r, const std::string& group, const std::string& kind) {
  for (const KindResult& k : r.kinds) {
    if (k.group == group && k.kind == kind) return &k;
  }
  return nullptr;
}

std::string CsvEscape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

}  // namespace

std::string FormatRate(double bps) {
  if (bps >= 1e12) return Fmt("%.3g TB/s", bps / 1e12);
  if (bps >= 1e9) return Fmt("%.3g GB/s", bps / 1e9);
  if (bps >= 1e6) return Fmt("%.3g MB/s", bps / 1e6);
  if (bps >= 1e3) return Fmt("%.3g KB/s", bps / 1e3);
  return Fmt("%.3g B/s", bps);
}

std::string FormatSummary(const SimResult& r) {
  std::ostringstream o;
  o << "scenario   " << r.scenario << "  (seed " << r.seed << ", transport " << r.transport << ")\n";
  o << "cluster    " << r.storage_nodes << " storage nodes, " << r.client_nodes << " clients\n";
  o << "completed  " << r.requests << " requests"
    << (r.failed_requests > 0 ? " (" + std::to_string(r.failed_requests) + " failed)" : std::string()) << ", "
    << Fmt("%.4g GB", static_cast<double>(r.bytes) / 1e9) << " in " << Dur(r.makespan)
    << " of simulated time" << (r.hit_max_time ? " (stopped at run.max_time)" : "");
  if (r.rdma_connects > 0) o << "; " << r.rdma_connects << " RDMA queue pairs connected";
  o << "\n";
  o << "throughput " << FormatRate(r.aggregate_bps) << " aggregate; per storage node "
    << FormatRate(r.per_storage_bps_mean) << " mean (min " << FormatRate(r.per_storage_bps_min)
    << ", max " << FormatRate(r.per_storage_bps_max) << "); per client "
    << FormatRate(r.per_client_bps_mean) << "\n";
  for (const WorkloadResult& w : r.workloads) {
    o << "workload   " << w.name << " (" << w.type << "): " << w.requests << " requests, "
      << FormatRate(w.throughput_bps);
    if (w.type == "index_build" || w.type == "pipeline") {
      o << ", " << w.segments << " segments, build time "
        << Dur(w.last_end - w.first_start) << "; per segment";
    } else {
      o << "; latency";
    }
    o << " p50 " << Dur(w.latency_p50) << ", p99 " << Dur(w.latency_p99) << ", p99.9 "
      << Dur(w.latency_p999) << "\n";
  }
  const KindResult* scpu = FindKind(r, "storage", "cpu");
  const KindResult* ccpu = FindKind(r, "clients", "cpu");
  const KindResult* cgpu = FindKind(r, "clients", "gpu");
  o << "CPU        storage " << (scpu ? Pct(scpu->mean) : "-") << " mean ("
    << (scpu ? Pct(scpu->max) : "-") << " max), clients " << (ccpu ? Pct(ccpu->mean) : "-")
    << " mean\n";
  if (cgpu) o << "GPU        clients " << Pct(cgpu->mean) << " mean (" << Pct(cgpu->max) << " max)\n";
  o << "bottleneck " << r.bottleneck.group << " " << r.bottleneck.kind << " at "
    << Pct(r.bottleneck.mean) << " mean utilisation (busiest: " << r.bottleneck.max_name << " "
    << Pct(r.bottleneck.max) << ")\n";
  if (r.bottleneck.max < 0.8) {
    o << "           no resource is near saturation: throughput is limited by the workload's\n"
         "           concurrency and latency (more streams or clients would go faster)\n";
  }
  std::vector<const KindResult*> top;
  for (const KindResult& k : r.kinds) top.push_back(&k);
  std::stable_sort(top.begin(), top.end(), [](auto* a, auto* b) { return a->mean > b->mean; });
  o << "next       ";
  for (size_t i = 1; i < std::min<size_t>(4, top.size()); ++i) {
    o << (i > 1 ? ", " : "") << top[i]->group << " " << top[i]->kind << " " << Pct(top[i]->mean);
  }
  o << "\n";
  return o.str();
}

std::string ResultJson(const SimResult& r) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["scenario"] = r.scenario;
  j["seed"] = r.seed;
  j["transport"] = r.transport;
  j["storage_nodes"] = r.storage_nodes;
  j["client_nodes"] = r.client_nodes;
  j["makespan_ps"] = r.makespan.ps();
  j["makespan_s"] = r.makespan.ToSeconds();
  j["stopped_at_max_time"] = r.hit_max_time;
  j["requests"] = r.requests;
  j["failed_requests"] = r.failed_requests;
  j["rdma_connects"] = r.rdma_connects;
  j["bytes"] = r.bytes;
  j["aggregate_bytes_per_s"] = r.aggregate_bps;
  j["per_storage_node_bytes_per_s"] = {{"mean", r.per_storage_bps_mean},
                                       {"min", r.per_storage_bps_min},
                                       {"max", r.per_storage_bps_max}};
  j["per_client_bytes_per_s"] = r.per_client_bps_mean;
  ordered_json nodes = ordered_json::object();
  for (const auto& n : r.nodes) nodes[n.name] = n.bps;
  j["node_bytes_per_s"] = nodes;
  j["bottleneck"] = {{"group", r.bottleneck.group}, {"kind", r.bottleneck.kind},
                     {"mean_utilisation", r.bottleneck.mean}, {"max_utilisation", r.bottleneck.max},
                     {"busiest", r.bottleneck.max_name}};
  ordered_json ws = ordered_json::array();
  for (const WorkloadResult& w : r.workloads) {
    ws.push_back({{"name", w.name}, {"type", w.type}, {"requests", w.requests},
                  {"failed_requests", w.failed}, {"bytes", w.bytes},
                  {"segments", w.segments}, {"first_start_ps", w.first_start.ps()},
                  {"last_end_ps", w.last_end.ps()}, {"bytes_per_s", w.throughput_bps},
                  {"latency_ps", {{"mean", w.latency_mean.ps()}, {"p50", w.latency_p50.ps()},
                                  {"p99", w.latency_p99.ps()}, {"p99.9", w.latency_p999.ps()},
                                  {"max", w.latency_max.ps()}}}});
  }
  j["workloads"] = ws;
  ordered_json ks = ordered_json::array();
  for (const KindResult& k : r.kinds) {
    ks.push_back({{"group", k.group}, {"kind", k.kind}, {"mean_utilisation", k.mean},
                  {"max_utilisation", k.max}, {"busiest", k.max_name}});
  }
  j["utilisation"] = ks;
  j["events"] = r.events;
  j["solver"] = {{"solves", r.solves}, {"activities_solved", r.activities_solved},
                 {"widenings", r.widenings}};
  j["trace_hash"] = r.trace_hash;
  return j.dump(2) + "\n";
}

std::string UtilisationCsv(const SimResult& r) {
  std::ostringstream o;
  o << "resource,group,kind,capacity_per_s,used,utilisation\n";
  for (const ResourceResult& x : r.resources) {
    o << CsvEscape(x.name) << "," << x.group << "," << x.kind << "," << Fmt("%.17g", x.capacity)
      << "," << Fmt("%.17g", x.used) << "," << Fmt("%.6f", x.utilisation) << "\n";
  }
  return o.str();
}

std::string TimeSeriesCsv(const SimResult& r) {
  std::ostringstream o;
  o << "time_s,storage_tx_bytes_per_s,storage_rx_bytes_per_s,storage_cpu,client_cpu,client_gpu\n";
  for (const Sample& s : r.samples) {
    o << Fmt("%.9f", s.time.ToSeconds()) << "," << Fmt("%.6g", s.storage_tx_bps) << ","
      << Fmt("%.6g", s.storage_rx_bps) << "," << Fmt("%.6f", s.storage_cpu) << ","
      << Fmt("%.6f", s.client_cpu) << "," << Fmt("%.6f", s.client_gpu) << "\n";
  }
  return o.str();
}

core::Status WriteOutputs(const SimResult& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::Status::IOError("cannot create '" + dir + "': " + ec.message());
  const std::pair<const char*, std::string> files[] = {
      {"results.json", ResultJson(r)}, {"utilisation.csv", UtilisationCsv(r)},
      {"timeseries.csv", TimeSeriesCsv(r)}};
  for (const auto& [name, text] : files) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return core::Status::IOError("cannot write '" + path + "'");
  }
  return core::Status::Ok();
}

namespace {

std::vector<std::string> SweepRow(const SweepPoint& p) {
  const SimResult& r = p.result;
  const KindResult* scpu = FindKind(r, "storage", "cpu");
  const KindResult* ccpu = FindKind(r, "clients", "cpu");
  const KindResult* cgpu = FindKind(r, "clients", "gpu");
  std::vector<std::string> row = p.values;
  core::Duration p99;
  for (const WorkloadResult& w : r.workloads) p99 = std::max(p99, w.latency_p99);
  row.push_back(Fmt("%.4g", r.aggregate_bps / 1e9));
  row.push_back(Fmt("%.4g", r.per_storage_bps_mean / 1e9));
  row.push_back(scpu ? Fmt("%.2f", scpu->mean * 100) : "-");
  row.push_back(ccpu ? Fmt("%.2f", ccpu->mean * 100) : "-");
  row.push_back(cgpu ? Fmt("%.2f", cgpu->mean * 100) : "-");
  row.push_back(Fmt("%.4g", p99.ToSeconds() * 1e3));
  row.push_back(Fmt("%.4g", r.makespan.ToSeconds()));
  row.push_back(r.bottleneck.group + "." + r.bottleneck.kind + "@" + Fmt("%.0f%%", r.bottleneck.mean * 100));
  return row;
}

const char* kSweepColumns[] = {"GB/s",  "GB/s/storage", "storage_cpu%", "client_cpu%",
                               "gpu%", "p99_ms",       "time_s",       "bottleneck"};

}  // namespace

std::string SweepTable(const std::vector<std::string>& keys, const std::vector<SweepPoint>& points) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = keys;
  for (const char* c : kSweepColumns) head.push_back(c);
  rows.push_back(head);
  for (const SweepPoint& p : points) rows.push_back(SweepRow(p));
  std::vector<size_t> width(head.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::ostringstream o;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      o << (i ? "  " : "") << row[i] << std::string(width[i] - row[i].size(), ' ');
    }
    o << "\n";
  }
  return o.str();
}

std::string SweepCsv(const std::vector<std::string>& keys, const std::vector<SweepPoint>& points) {
  std::ostringstream o;
  std::vector<std::string> head = keys;
  for (const char* c : kSweepColumns) head.push_back(c);
  for (size_t i = 0; i < head.size(); ++i) o << (i ? "," : "") << CsvEscape(head[i]);
  o << "\n";
  for (const SweepPoint& p : points) {
    const auto row = SweepRow(p);
    for (size_t i = 0; i < row.size(); ++i) o << (i ? "," : "") << CsvEscape(row[i]);
    o << "\n";
  }
  return o.str();
}

}  // namespace s3rdma::sim
