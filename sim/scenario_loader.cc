// YAML -> ScenarioConfig. The only file that knows the YAML layout of a scenario.
//
// Reading walks the document with MapView, which records the keys it was asked for, so
// every key the file has but nobody asked for is reported (with the closest known key).
// `--set path=value` overrides are consulted by key path while walking, so they apply to
// keys absent from the file too, never touch shared (aliased) nodes, and an override of
// an unknown key is reported like an unknown key in the file.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "sim/scenario.h"

namespace s3rdma::sim {
namespace {

using models::Buffer;
using models::NodeSpec;

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A value and where it came from: a position in the file, or a --set.
struct Val {
  YAML::Node node;  // may be undefined (key absent)
  std::string set;  // "--set k=v" if it (or an ancestor) came from an override
  bool present() const { return node.IsDefined() && !node.IsNull(); }
};

struct Override {
  std::string text;  // the whole "path=value"
  YAML::Node value;
  bool used = false;
};

class Reader {
 public:
  Reader(std::string file, std::map<std::string, Override>& overrides)
      : file_(std::move(file)), overrides_(overrides) {}

  [[noreturn]] void Fail(const Val& v, const std::string& path, const std::string& msg) const {
    std::string where;
    if (!v.set.empty()) {
      where = v.set;
    } else if (v.node.IsDefined() && v.node.Mark().line >= 0) {
      where = file_ + ":" + std::to_string(v.node.Mark().line + 1) + ":" +
              std::to_string(v.node.Mark().column + 1);
    } else {
      where = file_;
    }
    throw LoadError(where + ": " + path + (msg.starts_with(":") ? "" : " ") + msg);
  }

  // The child `key` of `parent` at `path`, with a --set override taking precedence.
  Val Child(const Val& parent, const std::string& path, const std::string& key) {
    const std::string full = path.empty() ? key : path + "." + key;
    auto it = overrides_.find(full);
    if (it != overrides_.end()) {
      it->second.used = true;
      return Val{it->second.value, "--set " + it->second.text};
    }
    Val v{YAML::Node(), parent.set};
    if (parent.node.IsDefined() && parent.node.IsMap()) {
      YAML::Node c = parent.node[key];
      if (c.IsDefined()) {
        v.node = c;
      } else {
        // YAML merge keys ("<<: *anchor" or "<<: [*a, *b]"): the first map that has it.
        for (const YAML::Node& m : MergedMaps(parent.node)) {
          YAML::Node mc = m[key];
          if (mc.IsDefined()) {
            v.node = mc;
            break;
          }
        }
      }
    }
    return v;
  }

  std::map<std::string, Override>& overrides() { return overrides_; }
  const std::string& file() const { return file_; }

  // The maps merged into `map` with "<<", in priority order.
  static std::vector<YAML::Node> MergedMaps(const YAML::Node& map) {
    std::vector<YAML::Node> out;
    const YAML::Node merge = map["<<"];
    if (!merge.IsDefined()) return out;
    if (merge.IsMap()) {
      out.push_back(merge);
    } else if (merge.IsSequence()) {
      for (const YAML::Node& m : merge) {
        if (m.IsMap()) out.push_back(m);
      }
    }
    return out;
  }

 private:
  std::string file_;
  std::map<std::string, Override>& overrides_;
};

std::string JoinPath(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

std::string Closest(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& k : known) {
    const size_t d = EditDistance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  const size_t limit = std::max<size_t>(2, key.size() / 3);
  return best_d <= limit ? best : std::string();
}

// A mapping being read. Get() marks keys as known; Finish() reports the rest.
class MapView {
 public:
  MapView(Reader& r, Val v, std::string path) : r_(r), v_(std::move(v)), path_(std::move(path)) {
    if (v_.present() && !v_.node.IsMap()) {
      r_.Fail(v_, path_.empty() ? "scenario" : path_, "must be a mapping");
    }
  }
  Val Get(const std::string& key) {
    known_.push_back(key);
    return r_.Child(v_, path_, key);
  }
  std::string PathOf(const std::string& key) const { return JoinPath(path_, key); }
  const Val& val() const { return v_; }
  void Finish() {
    if (v_.present()) {
      std::vector<YAML::Node> maps{v_.node};
      for (const YAML::Node& m : Reader::MergedMaps(v_.node)) maps.push_back(m);
      for (const YAML::Node& map : maps) {
        // yaml-cpp keeps a repeated key silently and lookups see only the first; YAML says
        // keys are unique, so the second one is an error rather than a value nobody reads.
        std::map<std::string, YAML::Mark> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
          const std::string k = it->first.as<std::string>();
          if (auto [at, fresh] = seen.emplace(k, it->first.Mark()); !fresh) {
            throw LoadError(r_.file() + ":" + std::to_string(it->first.Mark().line + 1) + ":" +
                            std::to_string(it->first.Mark().column + 1) + ": duplicate key '" + k + "'" +
                            (path_.empty() ? std::string() : " in " + path_) + " (first at line " +
                            std::to_string(at->second.line + 1) + ")");
          }
          if (k == "<<" || std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
          Val kv{it->first, v_.set};
          Report(kv, k);
        }
      }
    }
    const std::string prefix = path_.empty() ? "" : path_ + ".";
    for (auto& [p, o] : r_.overrides()) {
      if (o.used || !p.starts_with(prefix)) continue;
      const std::string rest = p.substr(prefix.size());
      if (rest.find('.') != std::string::npos) continue;
      Report(Val{YAML::Node(), "--set " + o.text}, rest);
    }
  }

 private:
  void Report(const Val& at, const std::string& key) {
    const std::string hint = Closest(key, known_);
    std::string msg = "unknown key '" + key + "'" +
                      (path_.empty() ? std::string() : " in " + path_);
    if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
    std::string where;
    if (!at.set.empty()) {
      where = at.set;
    } else {
      where = r_.file() + ":" + std::to_string(at.node.Mark().line + 1) + ":" +
              std::to_string(at.node.Mark().column + 1);
    }
    throw LoadError(where + ": " + msg);
  }

  Reader& r_;
  Val v_;
  std::string path_;
  std::vector<std::string> known_;
};

std::string Scalar(Reader& r, const Val& v, const std::string& path) {
  if (!v.node.IsScalar()) r.Fail(v, path, "must be a single value");
  return v.node.Scalar();
}

template <typename T>
T Unwrap(Reader& r, const Val& v, const std::string& path, core::Result<T> res) {
  if (!res.ok()) r.Fail(v, path, ": " + res.status().message());
  return std::move(res).value();
}

void ReadDuration(Reader& r, MapView& m, const std::string& key, core::Duration& out,
                  bool allow_zero = true) {
  Val v = m.Get(key);
  if (!v.present()) return;
  const std::string path = m.PathOf(key);
  out = Unwrap(r, v, path, core::ParseDuration(Scalar(r, v, path)));
  if (out < core::Duration::Zero() || (!allow_zero && out == core::Duration::Zero())) {
    r.Fail(v, path, std::string("must be ") + (allow_zero ? ">= 0" : "> 0") + " (got " +
                        v.node.Scalar() + ")");
  }
  // Virtual time is int64 picoseconds (+-106 days); sums of a few durations must fit.
  if (out > core::Duration::Seconds(30 * 86400)) {
    r.Fail(v, path, "must be at most 30 days (got " + v.node.Scalar() + ")");
  }
}

void ReadBytes(Reader& r, MapView& m, const std::string& key, core::Bytes& out) {
  Val v = m.Get(key);
  if (!v.present()) return;
  const std::string path = m.PathOf(key);
  out = Unwrap(r, v, path, core::ParseBytes(Scalar(r, v, path)));
  if (out.count() <= 0) r.Fail(v, path, "must be > 0 (got " + v.node.Scalar() + ")");
}

void ReadRate(Reader& r, MapView& m, const std::string& key, core::DataRate& out,
              bool allow_unlimited = false) {
  Val v = m.Get(key);
  if (!v.present()) return;
  const std::string path = m.PathOf(key);
  if (allow_unlimited && v.node.IsScalar() && v.node.Scalar() == "unlimited") {
    out = core::DataRate();
    return;
  }
  out = Unwrap(r, v, path, core::ParseDataRate(Scalar(r, v, path)));
  if (out.bps() <= 0) r.Fail(v, path, "must be > 0 (got " + v.node.Scalar() + ")");
}

void ReadCount(Reader& r, MapView& m, const std::string& key, int64_t& out, int64_t min) {
  Val v = m.Get(key);
  if (!v.present()) return;
  const std::string path = m.PathOf(key);
  out = Unwrap(r, v, path, core::ParseCount(Scalar(r, v, path)));
  if (out < min) {
    r.Fail(v, path, "must be >= " + std::to_string(min) + " (got " + v.node.Scalar() + ")");
  }
}

void ReadDouble(Reader& r, MapView& m, const std::string& key, double& out, double min,
                double max) {
  Val v = m.Get(key);
  if (!v.present()) return;
  const std::string path = m.PathOf(key);
  const std::string s = Scalar(r, v, path);
  size_t used = 0;
  double d = 0;
  try {
    d = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(d)) {
    // Counts with a suffix ("1M", "250K") are numbers too.
    auto count = core::ParseCount(s);
    if (!count.ok()) r.Fail(v, path, ": expected a number, got '" + s + "'");
    d = static_cast<double>(count.value());
  }
  if (d < min || d > max) {
    std::ostringstream os;
    os << "must be in [" << min << ", " << max << "] (got " << s << ")";
    r.Fail(v, path, os.str());
  }
  out = d;
}

bool ReadBool(Reader& r, MapView& m, const std::string& key, bool& out) {
  Val v = m.Get(key);
  if (!v.present()) return false;
  const std::string path = m.PathOf(key);
  const std::string s = Scalar(r, v, path);
  if (s == "true" || s == "yes" || s == "on") {
    out = true;
  } else if (s == "false" || s == "no" || s == "off") {
    out = false;
  } else {
    r.Fail(v, path, ": expected true or false, got '" + s + "'");
  }
  return true;
}

// The index of `v` (a present scalar at `path`) in `choices`.
int EnumOf(Reader& r, const Val& v, const std::string& path, const std::vector<std::string>& choices) {
  const std::string s = Scalar(r, v, path);
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == s) return static_cast<int>(i);
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  const std::string hint = Closest(s, choices);
  r.Fail(v, path, ": '" + s + "' is not one of " + list +
                      (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
}

// Reads one of `choices`; returns its index, or -1 when absent.
int ReadEnum(Reader& r, MapView& m, const std::string& key, const std::vector<std::string>& choices) {
  Val v = m.Get(key);
  if (!v.present()) return -1;
  return EnumOf(r, v, m.PathOf(key), choices);
}

// Limits that keep a mistyped value from exhausting memory: far above any real cluster.
constexpr int64_t kMaxNodes = 200'000;       // per group
constexpr int64_t kMaxPerNode = 100'000;     // cores, NICs, drives, GPUs, streams per client
constexpr int64_t kMaxStreams = 20'000'000;  // clients x streams, all workloads

void ReadLimited(Reader& r, MapView& m, const std::string& key, int64_t& out, int64_t min) {
  ReadCount(r, m, key, out, min);
  if (out > kMaxPerNode) {
    r.Fail(m.Get(key), m.PathOf(key), "must be at most " + std::to_string(kMaxPerNode) + " (got " +
                                          std::to_string(out) + ")");
  }
}

void ReadNode(Reader& r, Val v, const std::string& path, NodeSpec& n) {
  MapView m(r, v, path);
  {
    MapView c(r, m.Get("cpu"), m.PathOf("cpu"));
    ReadLimited(r, c, "cores", n.cpu.cores, 1);
    ReadDouble(r, c, "index_build_rate_per_core", n.cpu_index_build_rate_per_core, 0, 1e15);
    c.Finish();
  }
  {
    MapView c(r, m.Get("memory"), m.PathOf("memory"));
    ReadRate(r, c, "bandwidth", n.memory.bandwidth, true);
    c.Finish();
  }
  {
    MapView c(r, m.Get("nic"), m.PathOf("nic"));
    ReadLimited(r, c, "count", n.nic.count, 1);
    ReadRate(r, c, "rate", n.nic.rate);
    ReadRate(r, c, "pcie", n.nic.pcie, true);
    c.Finish();
  }
  {
    MapView c(r, m.Get("drives"), m.PathOf("drives"));
    ReadLimited(r, c, "count", n.drives.count, 0);
    ReadRate(r, c, "read", n.drives.read);
    ReadRate(r, c, "write", n.drives.write);
    ReadCount(r, c, "read_iops", n.drives.read_iops, 1);
    ReadCount(r, c, "write_iops", n.drives.write_iops, 1);
    ReadBytes(r, c, "io_size", n.drives.io_size);
    ReadDuration(r, c, "read_latency", n.drives.read_latency);
    ReadDuration(r, c, "write_latency", n.drives.write_latency);
    c.Finish();
  }
  {
    MapView c(r, m.Get("gpus"), m.PathOf("gpus"));
    ReadLimited(r, c, "count", n.gpus.count, 0);
    ReadRate(r, c, "pcie", n.gpus.pcie, true);
    ReadBytes(r, c, "memory", n.gpus.memory);
    ReadDouble(r, c, "index_build_rate", n.gpus.index_build_rate, 0, 1e15);
    c.Finish();
  }
  m.Finish();
}

void ReadGroup(Reader& r, MapView& parent, const std::string& key, GroupConfig& g) {
  MapView m(r, parent.Get(key), parent.PathOf(key));
  if (!m.val().present()) r.Fail(parent.val(), parent.PathOf(key), "is required");
  ReadCount(r, m, "count", g.count, 1);
  if (g.count > kMaxNodes) {
    r.Fail(m.Get("count"), m.PathOf("count"), "must be at most " + std::to_string(kMaxNodes) +
                                                  " (got " + std::to_string(g.count) + ")");
  }
  ReadNode(r, m.Get("node"), m.PathOf("node"), g.node);
  if (key == "storage") {
    Val ev = m.Get("erasure");
    if (ev.present()) {
      MapView e(r, ev, m.PathOf("erasure"));
      ReadCount(r, e, "data", g.ec_data, 1);
      ReadCount(r, e, "parity", g.ec_parity, 0);
      e.Finish();
      if (g.ec_data + g.ec_parity > g.count) {
        r.Fail(ev, m.PathOf("erasure"),
               "needs data + parity <= cluster.storage.count (got " + std::to_string(g.ec_data) +
                   " + " + std::to_string(g.ec_parity) + " > " + std::to_string(g.count) + ")");
      }
    }
  }
  m.Finish();
}

void ReadSize(Reader& r, Val v, const std::string& path, SizeDistribution& d) {
  if (!v.present()) return;
  if (v.node.IsScalar()) {
    d.kind = SizeDistribution::Kind::kFixed;
    d.fixed = Unwrap(r, v, path, core::ParseBytes(v.node.Scalar()));
    if (d.fixed.count() <= 0) r.Fail(v, path, "must be > 0 (got " + v.node.Scalar() + ")");
    return;
  }
  MapView m(r, v, path);
  const int kind = ReadEnum(r, m, "distribution", {"fixed", "uniform", "lognormal"});
  if (kind < 0) r.Fail(v, path, "needs 'distribution: fixed | uniform | lognormal'");
  d.kind = static_cast<SizeDistribution::Kind>(kind);
  if (d.kind == SizeDistribution::Kind::kFixed) {
    ReadBytes(r, m, "size", d.fixed);
  } else if (d.kind == SizeDistribution::Kind::kUniform) {
    ReadBytes(r, m, "min", d.min);
    ReadBytes(r, m, "max", d.max);
    if (d.min.count() <= 0 || d.max < d.min) r.Fail(v, path, "needs 0 < min <= max");
  } else {
    ReadBytes(r, m, "median", d.median);
    ReadDouble(r, m, "sigma", d.sigma, 0, 10);
    if (d.median.count() <= 0) r.Fail(v, path, "needs median > 0");
  }
  m.Finish();
}

void ReadWorkload(Reader& r, Val v, const std::string& path, WorkloadConfig& w, size_t index) {
  MapView m(r, v, path);
  if (!v.present()) r.Fail(v, path, "must be a mapping");
  w.name = "workload" + std::to_string(index);
  if (Val n = m.Get("name"); n.present()) w.name = Scalar(r, n, m.PathOf("name"));
  const int type = ReadEnum(r, m, "type", {"get", "put", "index_build", "pipeline"});
  if (type < 0) r.Fail(v, path, "needs 'type: get | put | index_build | pipeline'");
  w.type = static_cast<WorkloadConfig::Type>(type);
  ReadDuration(r, m, "start", w.start);
  ReadLimited(r, m, "streams", w.streams, 1);
  const int buf = ReadEnum(r, m, "buffer", {"host", "gpu"});
  if (buf >= 0) w.buffer = buf == 0 ? Buffer::kHost : Buffer::kGpu;
  ReadDuration(r, m, "think_time", w.think_time);
  if (w.type == WorkloadConfig::Type::kPipeline) {
    ReadCount(r, m, "items", w.items, 1);
    ReadBytes(r, m, "read_size", w.read_size);
    if (Val ws = m.Get("write_size"); ws.present()) {
      const std::string wp = m.PathOf("write_size");
      w.write_size = Unwrap(r, ws, wp, core::ParseBytes(Scalar(r, ws, wp)));
      if (w.write_size.count() < 0) r.Fail(ws, wp, "must be >= 0");
    }
    ReadDuration(r, m, "compute_time", w.compute_time);
    const int on = ReadEnum(r, m, "compute_on", {"gpu", "cpu"});
    if (on >= 0) w.build_on_gpu = on == 0;
    if (w.items <= 0) r.Fail(v, m.PathOf("items"), "is required for pipeline");
  } else if (w.type == WorkloadConfig::Type::kIndexBuild) {
    ReadCount(r, m, "vectors", w.vectors, 1);
    ReadCount(r, m, "dimension", w.dimension, 1);
    const int dt = ReadEnum(r, m, "dtype", {"float32", "float16", "int8"});
    w.dtype_bytes = dt == 1 ? 2 : dt == 2 ? 1 : 4;
    ReadBytes(r, m, "segment_size", w.segment_size);
    ReadDouble(r, m, "index_ratio", w.index_ratio, 0.001, 100);
    const int on = ReadEnum(r, m, "build_on", {"gpu", "cpu"});
    if (on >= 0) w.build_on_gpu = on == 0;
    if (w.vectors <= 0) r.Fail(v, m.PathOf("vectors"), "is required for index_build");
    if (w.dimension <= 0) r.Fail(v, m.PathOf("dimension"), "is required for index_build");
    if (w.segment_size.count() < w.dimension * w.dtype_bytes) {
      r.Fail(v, m.PathOf("segment_size"), "must hold at least one vector");
    }
  } else {
    ReadCount(r, m, "requests", w.requests, 1);
    ReadDuration(r, m, "duration", w.duration, false);
    ReadSize(r, m.Get("object_size"), m.PathOf("object_size"), w.object_size);
    Val sv = m.Get("servers");
    if (sv.present()) {
      if (sv.node.IsScalar()) {
        if (sv.node.Scalar() != "uniform") {
          r.Fail(sv, m.PathOf("servers"), ": expected 'uniform' or {distribution: zipf, skew: S}");
        }
      } else {
        MapView s(r, sv, m.PathOf("servers"));
        const int k = ReadEnum(r, s, "distribution", {"uniform", "zipf"});
        w.servers.kind = k == 1 ? ServerChoice::Kind::kZipf : ServerChoice::Kind::kUniform;
        ReadDouble(r, s, "skew", w.servers.skew, 0, 10);
        s.Finish();
      }
    }
    ReadBool(r, m, "control_path", w.control_path);
    if (w.requests == 0 && w.duration == core::Duration::Zero()) {
      r.Fail(v, path, "needs 'requests' (per stream) or 'duration'");
    }
  }
  m.Finish();
}

ScenarioConfig ReadScenario(Reader& r, const YAML::Node& root) {
  ScenarioConfig c;
  c.source = r.file();
  MapView m(r, Val{root, ""}, "");
  if (!root.IsDefined() || root.IsNull()) r.Fail(Val{root, ""}, "scenario", "is empty");
  m.Get("definitions");  // free-form: a place for YAML anchors
  if (Val n = m.Get("name"); n.present()) c.name = Scalar(r, n, "name");
  int64_t seed = 1;
  ReadCount(r, m, "seed", seed, 0);
  c.seed = static_cast<uint64_t>(seed);
  const int t = ReadEnum(r, m, "transport", {"rdma", "tcp"});
  if (t >= 0) c.transport = t == 0 ? models::Transport::kRdma : models::Transport::kTcp;
  {
    MapView cl(r, m.Get("cluster"), "cluster");
    if (!cl.val().present()) r.Fail(Val{root, ""}, "cluster", "is required");
    ReadGroup(r, cl, "storage", c.storage);
    ReadGroup(r, cl, "clients", c.clients);
    cl.Finish();
  }
  {
    MapView n(r, m.Get("network"), "network");
    const int topo = ReadEnum(r, n, "topology", {"star", "leaf_spine"});
    if (topo >= 0) c.fabric.topology = topo == 0 ? models::Topology::kStar : models::Topology::kLeafSpine;
    ReadDuration(r, n, "latency", c.fabric.link_latency);
    ReadCount(r, n, "nodes_per_leaf", c.fabric.nodes_per_leaf, 1);
    ReadDouble(r, n, "oversubscription", c.fabric.oversubscription, 1, 1000);
    n.Finish();
  }
  {
    MapView co(r, m.Get("costs"), "costs");
    {
      MapView tc(r, co.Get("tcp"), "costs.tcp");
      ReadDuration(r, tc, "server_send_cpu_per_gb", c.costs.tcp.server_send_cpu_per_gb);
      ReadDuration(r, tc, "server_recv_cpu_per_gb", c.costs.tcp.server_recv_cpu_per_gb);
      ReadDuration(r, tc, "client_send_cpu_per_gb", c.costs.tcp.client_send_cpu_per_gb);
      ReadDuration(r, tc, "client_recv_cpu_per_gb", c.costs.tcp.client_recv_cpu_per_gb);
      ReadCount(r, tc, "gpu_bounce_copies", c.costs.tcp.gpu_bounce_copies, 0);
      ReadDuration(r, tc, "copy_cpu_per_gb", c.costs.tcp.copy_cpu_per_gb);
      ReadDuration(r, tc, "cpu_per_request", c.costs.tcp.cpu_per_request);
      ReadCount(r, tc, "send_copies", c.costs.tcp.send_copies, 0);
      ReadCount(r, tc, "recv_copies", c.costs.tcp.recv_copies, 0);
      ReadDouble(r, tc, "wire_efficiency", c.costs.tcp.wire_efficiency, 0.01, 1);
      tc.Finish();
    }
    {
      MapView rd(r, co.Get("rdma"), "costs.rdma");
      ReadDuration(r, rd, "cpu_per_request", c.costs.rdma.cpu_per_request);
      ReadDouble(r, rd, "wire_efficiency", c.costs.rdma.wire_efficiency, 0.01, 1);
      rd.Finish();
    }
    {
      MapView h(r, co.Get("http"), "costs.http");
      ReadDuration(r, h, "server_cpu_per_request", c.costs.http.server_cpu_per_request);
      ReadDuration(r, h, "client_cpu_per_request", c.costs.http.client_cpu_per_request);
      h.Finish();
    }
    co.Finish();
  }
  {
    Val wv = m.Get("workloads");
    if (!wv.present() || !wv.node.IsSequence() || wv.node.size() == 0) {
      r.Fail(wv.present() ? wv : Val{root, ""}, "workloads", "must be a non-empty list");
    }
    for (size_t i = 0; i < wv.node.size(); ++i) {
      const std::string p = "workloads." + std::to_string(i);
      Val item = r.Child(wv, "workloads", std::to_string(i));
      if (!item.present() && item.set.size() == wv.set.size()) item = Val{wv.node[i], wv.set};
      c.workloads.emplace_back();
      ReadWorkload(r, item, p, c.workloads.back(), i);
    }
  }
  {
    MapView rn(r, m.Get("run"), "run");
    ReadDuration(r, rn, "max_time", c.max_time);
    ReadDuration(r, rn, "sample_interval", c.sample_interval, false);
    rn.Finish();
  }
  {
    // `protocol: real` is short for `protocol: {mode: real}`; --set protocol.fidelity=...
    // still applies to the short form.
    static const std::vector<std::string> kModes{"modelled", "real", "both"};
    Val pv = m.Get("protocol");
    if (pv.present() && pv.node.IsScalar()) {
      c.protocol.mode = static_cast<ProtocolConfig::Mode>(EnumOf(r, pv, "protocol", kModes));
      pv = Val{YAML::Node(), pv.set};
    }
    MapView p(r, pv, "protocol");
    if (const int mode = ReadEnum(r, p, "mode", kModes); mode >= 0) {
      c.protocol.mode = static_cast<ProtocolConfig::Mode>(mode);
    }
    if (const int f = ReadEnum(r, p, "fidelity", {"flow", "packet"}); f >= 0) c.protocol.packet_fidelity = f == 1;
    if (const int pl = ReadEnum(r, p, "payload", {"real", "phantom"}); pl >= 0) c.protocol.phantom_payloads = pl == 1;
    ReadDouble(r, p, "loss", c.protocol.loss, 0, 1);
    if (c.protocol.loss > 0 && !c.protocol.packet_fidelity) {
      r.Fail(p.Get("loss"), "protocol.loss", "needs protocol.fidelity: packet (flow fidelity has no packets to lose)");
    }
    p.Finish();
  }
  {
    MapView o(r, m.Get("outputs"), "outputs");
    if (Val d = o.Get("dir"); d.present()) c.out_dir = Scalar(r, d, "outputs.dir");
    o.Finish();
  }
  m.Finish();
  // Whole-spec checks the readers cannot make one key at a time.
  int64_t streams = 0;
  for (const WorkloadConfig& w : c.workloads) {
    const int64_t per_client = w.type == WorkloadConfig::Type::kGet || w.type == WorkloadConfig::Type::kPut
                                   ? w.streams
                                   : w.streams * std::max<int64_t>(1, c.clients.node.gpus.count);
    streams += per_client * c.clients.count;
  }
  if (streams > kMaxStreams) {
    r.Fail(Val{root["workloads"], ""}, "workloads",
           "start " + std::to_string(streams) + " streams in all (at most " +
               std::to_string(kMaxStreams) + "): lower cluster.clients.count or streams");
  }
  for (size_t i = 0; i < c.workloads.size(); ++i) {
    const WorkloadConfig& w = c.workloads[i];
    const std::string p = "workloads." + std::to_string(i);
    if (w.buffer == Buffer::kGpu && c.clients.node.gpus.count == 0) {
      r.Fail(Val{root["workloads"][i], ""}, p + ".buffer", "is gpu but cluster.clients.node.gpus.count is 0");
    }
    if (w.type == WorkloadConfig::Type::kPipeline && w.build_on_gpu && c.clients.node.gpus.count == 0) {
      r.Fail(Val{root["workloads"][i], ""}, p + ".compute_on", "is gpu but cluster.clients.node.gpus.count is 0");
    }
    if (w.type == WorkloadConfig::Type::kIndexBuild) {
      if (w.build_on_gpu && (c.clients.node.gpus.count == 0 || c.clients.node.gpus.index_build_rate <= 0)) {
        r.Fail(Val{root["workloads"][i], ""}, p + ".build_on",
               "is gpu but the clients have no GPUs with gpus.index_build_rate");
      }
      if (!w.build_on_gpu && c.clients.node.cpu_index_build_rate_per_core <= 0) {
        r.Fail(Val{root["workloads"][i], ""}, p + ".build_on",
               "is cpu but cluster.clients.node.cpu.index_build_rate_per_core is not set");
      }
    }
  }
  for (auto& [p, o] : r.overrides()) {
    if (o.used) continue;
    if (p == "definitions" || p.starts_with("definitions.")) {
      throw LoadError("--set " + o.text +
                      ": definitions are only anchors and are not read; set the key where the "
                      "anchor is used (e.g. cluster.storage.node.cpu.cores)");
    }
    throw LoadError("--set " + o.text + ": no such key '" + p + "'");
  }
  return c;
}

core::Result<ScenarioConfig> Load(const std::string& text, const std::string& name,
                                  const std::vector<std::string>& overrides) {
  std::map<std::string, Override> table;
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return core::Status::InvalidArgument("--set " + o + ": expected path=value");
    }
    Override ov;
    ov.text = o;
    try {
      ov.value = YAML::Load(o.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      return core::Status::InvalidArgument("--set " + o + ": " + e.msg);
    }
    if (!ov.value.IsDefined() || ov.value.IsNull()) {
      // Leaving the value out would silently mean "the default": say so instead.
      return core::Status::InvalidArgument("--set " + o + ": no value (to use the default, leave the key out)");
    }
    table[o.substr(0, eq)] = std::move(ov);
  }
  try {
    YAML::Node root = YAML::Load(text);
    Reader reader(name, table);
    return ReadScenario(reader, root);
  } catch (const YAML::Exception& e) {
    return core::Status::InvalidArgument(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                         std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const LoadError& e) {
    return core::Status::InvalidArgument(e.what());
  }
}

}  // namespace

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

core::Result<ScenarioConfig> LoadScenarioText(const std::string& text, const std::string& name,
                                              const std::vector<std::string>& overrides) {
  return Load(text, name, overrides);
}

core::Result<ScenarioConfig> LoadScenarioFile(const std::string& path,
                                              const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::InvalidArgument("'" + path + "' is a directory, not a scenario file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::NotFound("cannot open scenario file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return Load(ss.str(), path, overrides);
}

}  // namespace s3rdma::sim
