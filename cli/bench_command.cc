// `s3rdma bench s3`: load generator for an S3 server, over plain HTTP (--transport tcp) or
// S3-over-RDMA on the UDP software NIC (--transport rdma), like a small warp/s3-benchmark.
//
// --concurrency N workers each keep one request outstanding, each on its own HTTP connection
// (S3Client runs one request at a time per connection); with RDMA they share one RdmaClient
// with --connections RC QPs (default: one per worker, at most 16). Each worker first does one
// unmeasured request (connection set-up, QP connect), then requests are timed from issue to
// callback until --count requests (total) are done or --duration has passed.
// Reports GB/s and req/s over the measured phase, latency p50/p99, the client's CPU seconds
// (getrusage) and, with --server-pid, the server's CPU seconds per GB moved from
// /proc/PID/stat (utime + stime) read before and after the measured phase.
// GET reads one object of --size (uploaded over HTTP before the run); PUT writes
// bench/<run>/<worker>-<n>. Bytes land in / come from a per-worker buffer in both modes
// (TCP copies the body into it; RDMA registers it once).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/real_runtime.h"
#include "core/units.h"
#include "emu/udp_fabric.h"
#include "emu/verbs.h"
#include "proto/rdma_client.h"
#include "proto/s3_client.h"
#include "proto/s3_error.h"

namespace s3rdma::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string endpoint;
  std::string transport = "tcp";
  std::string op = "get";
  std::string size = "4KiB";
  int concurrency = 1;
  std::string count;
  std::string duration;
  std::string bucket = "s3rdma-bench";
  std::string rdma = "udp";
  int connections = 0;
  int server_pid = 0;
  std::string region = "us-east-1";
  bool no_sign = false;
  bool json = false;
};

// utime + stime of `pid` in seconds, from /proc/PID/stat; nullopt if unreadable.
std::optional<double> ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const size_t paren = line.rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(paren + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at field 3 (state); utime is field 14, stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  const long tick = ::sysconf(_SC_CLK_TCK);
  if (tick <= 0) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(tick);
}

double SelfCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

class Bench {
 public:
  Bench(const BenchOptions& o, uint64_t size) : o_(o), size_(size) {}

  int Run() {
    proto::ClientOptions co;
    std::string endpoint = o_.endpoint;
    if (endpoint.empty()) {
      const char* env = std::getenv("S3RDMA_ENDPOINT");
      endpoint = env != nullptr ? env : "http://127.0.0.1:9000";
    }
    if (auto st = proto::ParseEndpoint(endpoint, co); !st.ok()) return Fail("bench: " + st.message(), 2);
    co.region = o_.region;
    co.anonymous = o_.no_sign;
    if (!o_.no_sign) {
      const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
      const char* sk = std::getenv("AWS_SECRET_ACCESS_KEY");
      if (ak == nullptr || sk == nullptr || *ak == '\0' || *sk == '\0') {
        return Fail("bench: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or use --no-sign-request", 2);
      }
      co.credential = {ak, sk};
    }
    co.unix_time_at_runtime_zero =
        static_cast<int64_t>(std::time(nullptr)) - runtime_.Now().ps() / 1'000'000'000'000;
    for (int i = 0; i < o_.concurrency; ++i) {
      clients_.push_back(std::make_unique<proto::S3Client>(runtime_, co));
    }
    rdma_ = o_.transport == "rdma";
    if (rdma_) {
      if (auto st = OpenRdma(co.host); !st.ok()) return Fail("bench: " + st.message(), 2);
    }
    workers_.resize(o_.concurrency);
    for (auto& w : workers_) {
      w.memory.assign(std::max<uint64_t>(size_, 1), '\0');
      for (size_t i = 0; i < w.memory.size(); ++i) w.memory[i] = static_cast<char>(i * 31 + 7);
      if (rdma_) {
        auto b = rdma_client_->RegisterBuffer(w.memory.data(), w.memory.size());
        if (!b.ok()) return Fail("bench: " + b.status().message());
        w.buffer = std::move(*b);
      }
    }
    if (auto st = Prepare(); !st.ok()) return Fail("bench: " + st.message());

    // Warm-up: one unmeasured request per worker.
    warmup_ = true;
    StartAll();
    if (!error_.ok()) return Fail("bench: warm-up: " + error_.message());
    warmup_ = false;
    const auto server_cpu0 = o_.server_pid > 0 ? ProcessCpuSeconds(o_.server_pid) : std::nullopt;
    if (o_.server_pid > 0 && !server_cpu0) {
      return Fail("bench: cannot read /proc/" + std::to_string(o_.server_pid) + "/stat", 2);
    }
    const double self_cpu0 = SelfCpuSeconds();
    start_ = Clock::now();
    StartAll();
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    const double self_cpu = SelfCpuSeconds() - self_cpu0;
    const auto server_cpu1 = o_.server_pid > 0 ? ProcessCpuSeconds(o_.server_pid) : std::nullopt;
    CloseRdma();
    if (!error_.ok()) return Fail("bench: " + error_.message());

    const double bytes = static_cast<double>(done_) * static_cast<double>(size_);
    const double gbs = bytes / secs / 1e9;
    const double rps = static_cast<double>(done_) / secs;
    const double p50 = Percentile(latencies_us_, 0.50);
    const double p99 = Percentile(latencies_us_, 0.99);
    std::optional<double> server_cpu;
    if (server_cpu0 && server_cpu1) server_cpu = *server_cpu1 - *server_cpu0;
    const std::string size_text = core::ToString(core::Bytes(static_cast<int64_t>(size_)));
    if (o_.json) {
      nlohmann::json j;
      j["op"] = o_.op;
      j["transport"] = o_.transport;
      j["size_bytes"] = size_;
      j["concurrency"] = o_.concurrency;
      j["connections"] = rdma_ ? connections_ : 0;
      j["requests"] = done_;
      j["seconds"] = secs;
      j["gbytes_per_s"] = gbs;
      j["requests_per_s"] = rps;
      j["latency_p50_us"] = p50;
      j["latency_p99_us"] = p99;
      j["client_cpu_s"] = self_cpu;
      if (server_cpu) {
        j["server_cpu_s"] = *server_cpu;
        j["server_cpu_s_per_gb"] = bytes > 0 ? *server_cpu / (bytes / 1e9) : 0.0;
      }
      if (rdma_) {
        j["rdma_fallbacks"] = rdma_client_->stats().http_fallbacks;
        j["rdma_reconnects"] = rdma_client_->stats().reconnects;
      }
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("bench s3: %s %s over %s, concurrency %d%s: %llu requests in %.3f s\n",
                  o_.op.c_str(), size_text.c_str(), rdma_ ? "RDMA (UDP software NIC)" : "TCP",
                  o_.concurrency,
                  rdma_ ? (", " + std::to_string(connections_) + " QPs").c_str() : "",
                  static_cast<unsigned long long>(done_), secs);
      std::printf("  %.3f GB/s  %.0f req/s  latency p50 %.1f us  p99 %.1f us  client CPU %.2f s\n",
                  gbs, rps, p50, p99, self_cpu);
      if (server_cpu) {
        std::printf("  server CPU %.2f s = %.3f s/GB\n", *server_cpu,
                    bytes > 0 ? *server_cpu / (bytes / 1e9) : 0.0);
      }
    }
    return 0;
  }

  ~Bench() {
    for (auto& w : workers_) w.buffer = proto::RdmaBuffer();
    rdma_client_.reset();
    device_.reset();
    udp_.reset();
  }

 private:
  struct Worker {
    std::vector<char> memory;
    proto::RdmaBuffer buffer;
    uint64_t issued = 0;
  };

  core::Status OpenRdma(const std::string& host) {
    S3_ASSIGN_OR_RETURN(emu::NodeAddress addr, proto::ClientRdmaAddress(o_.rdma, host, ::getpid()));
    udp_ = std::make_unique<emu::UdpFabric>(runtime_);
    S3_ASSIGN_OR_RETURN(device_, emu::Device::Open(*udp_, addr));
    connections_ = o_.connections > 0 ? o_.connections : std::min(o_.concurrency, 16);
    proto::RdmaClientOptions ro;
    ro.connections = connections_;
    ro.seed = static_cast<uint64_t>(::getpid()) << 20 ^ static_cast<uint64_t>(std::time(nullptr));
    std::vector<proto::S3Transport*> ts;
    for (auto& c : clients_) ts.push_back(c.get());
    S3_ASSIGN_OR_RETURN(rdma_client_, proto::RdmaClient::Create(*device_, ts, ro));
    return core::Status::Ok();
  }

  void CloseRdma() {
    if (!rdma_client_) return;
    bool closed = false;
    rdma_client_->Close([&] {
      closed = true;
      runtime_.Stop();
    });
    while (!closed) runtime_.Run();
  }

  core::Result<proto::ClientResponse> Send(proto::ClientRequest r) {
    return proto::SendAndWait(runtime_, *clients_[0], std::move(r));
  }

  core::Status Prepare() {
    proto::ClientRequest mb;
    mb.method = "PUT";
    mb.bucket = o_.bucket;
    auto made = Send(std::move(mb));
    if (!made.ok() && !proto::IsS3Error(made.status(), proto::S3Err::kBucketAlreadyOwnedByYou)) {
      return made.status();
    }
    run_id_ = std::to_string(::getpid());
    if (o_.op == "get") {
      object_ = "bench/obj-" + std::to_string(size_);
      proto::ClientRequest put;
      put.method = "PUT";
      put.bucket = o_.bucket;
      put.key = object_;
      put.body.assign(workers_[0].memory.data(), size_);
      S3_RETURN_IF_ERROR(Send(std::move(put)).status());
    }
    return core::Status::Ok();
  }

  bool MoreToDo() const {
    if (warmup_) return false;
    if (max_count_ > 0 && issued_ >= max_count_) return false;
    if (max_duration_s_ > 0 &&
        std::chrono::duration<double>(Clock::now() - start_).count() >= max_duration_s_) {
      return false;
    }
    return error_.ok();
  }

  // Runs one round: every worker issues (one request in warm-up, else until done).
  void StartAll() {
    outstanding_ = 0;
    for (int i = 0; i < o_.concurrency; ++i) Issue(i);
    while (outstanding_ > 0) runtime_.Run();
  }

  void Issue(int i) {
    Worker& w = workers_[i];
    ++outstanding_;
    if (!warmup_) ++issued_;
    const auto t0 = Clock::now();
    auto done = [this, i, t0](core::Status st) {
      --outstanding_;
      if (!st.ok()) {
        if (error_.ok()) error_ = st;
      } else if (!warmup_) {
        ++done_;
        latencies_us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      if (MoreToDo()) {
        Issue(i);
      } else if (outstanding_ == 0) {
        runtime_.Stop();
      }
    };
    const std::string key = o_.op == "get" ? object_
                                           : "bench/" + run_id_ + "/" + std::to_string(i) + "-" +
                                                 std::to_string(w.issued++ % 64);
    if (rdma_) {
      auto cb = [this, done](core::Result<proto::RdmaResult> r) {
        if (r.ok() && !r->via_rdma) return done(core::Status::Internal("server fell back to HTTP"));
        if (r.ok() && r->bytes != size_) return done(core::Status::Internal("short transfer"));
        done(r.status());
      };
      if (o_.op == "get") {
        rdma_client_->Get(o_.bucket, key, std::nullopt, w.buffer, 0, cb);
      } else {
        rdma_client_->Put(o_.bucket, key, w.buffer, 0, size_, {}, cb);
      }
      return;
    }
    proto::ClientRequest r;
    r.bucket = o_.bucket;
    r.key = key;
    auto received = std::make_shared<uint64_t>(0);
    if (o_.op == "get") {
      char* dst = w.memory.data();
      const uint64_t cap = w.memory.size();
      r.body_sink = [dst, cap, received](std::string_view d) {
        if (d.size() > cap - *received) return core::Status::Internal("object larger than --size");
        std::memcpy(dst + *received, d.data(), d.size());
        *received += d.size();
        return core::Status::Ok();
      };
    } else {
      r.method = "PUT";
      r.body.assign(w.memory.data(), size_);
    }
    const bool is_get = o_.op == "get";
    clients_[i]->Send(std::move(r), [this, done, received, is_get](core::Result<proto::ClientResponse> resp) {
      if (resp.ok() && is_get && *received != size_) return done(core::Status::Internal("short body"));
      done(resp.status());
    });
  }

 public:
  uint64_t max_count_ = 0;
  double max_duration_s_ = 0;

 private:
  BenchOptions o_;
  uint64_t size_;
  core::RealRuntime runtime_;
  std::vector<std::unique_ptr<proto::S3Client>> clients_;
  std::unique_ptr<emu::UdpFabric> udp_;
  std::unique_ptr<emu::Device> device_;
  std::unique_ptr<proto::RdmaClient> rdma_client_;
  std::vector<Worker> workers_;
  bool rdma_ = false;
  int connections_ = 0;
  bool warmup_ = false;
  std::string object_;
  std::string run_id_;
  int outstanding_ = 0;
  uint64_t issued_ = 0;
  uint64_t done_ = 0;
  Clock::time_point start_;
  std::vector<double> latencies_us_;
  core::Status error_;
};

int RunBenchS3(const BenchOptions& o) {
  if (o.transport != "tcp" && o.transport != "rdma") {
    return Fail("bench s3: --transport must be rdma or tcp", 2);
  }
  if (o.op != "get" && o.op != "put") return Fail("bench s3: --op must be get or put", 2);
  if (o.concurrency < 1 || o.concurrency > 256) {
    return Fail("bench s3: --concurrency must be 1..256", 2);
  }
  if (o.connections < 0 || o.connections > 64) {
    return Fail("bench s3: --connections must be 1..64", 2);
  }
  auto size = core::ParseBytes(o.size);
  if (!size.ok() || size->count() < 1 || size->count() > (int64_t{4} << 30)) {
    return Fail("bench s3: bad --size '" + o.size + "' (1 B .. 4 GiB)", 2);
  }
  if (!o.count.empty() && !o.duration.empty()) {
    return Fail("bench s3: give --count or --duration, not both", 2);
  }
  Bench bench(o, static_cast<uint64_t>(size->count()));
  if (!o.duration.empty()) {
    auto d = core::ParseDuration(o.duration);
    if (!d.ok() || d->ns() <= 0) return Fail("bench s3: bad --duration '" + o.duration + "'", 2);
    bench.max_duration_s_ = static_cast<double>(d->ns()) / 1e9;
  } else {
    auto c = core::ParseCount(o.count.empty() ? "1000" : o.count);
    if (!c.ok() || *c < 1) return Fail("bench s3: bad --count '" + o.count + "'", 2);
    bench.max_count_ = static_cast<uint64_t>(*c);
  }
  return bench.Run();
}

}  // namespace

void AddBenchCommand(CLI::App& app, CommandRunner& run) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks against a running server");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchOptions>();
  CLI::App* s3 = bench->add_subcommand(
      "s3", "Load an S3 server with GETs or PUTs over TCP or S3-over-RDMA; reports GB/s, req/s, "
            "latency p50/p99 and (with --server-pid) server CPU seconds per GB");
  s3->add_option("--endpoint", o->endpoint,
                 "Server, http://HOST:PORT (default $S3RDMA_ENDPOINT or http://127.0.0.1:9000)");
  s3->add_option("--transport", o->transport, "rdma or tcp (default tcp)");
  s3->add_option("--op", o->op, "get or put (default get)");
  s3->add_option("--size", o->size, "Object size (default 4KiB)");
  s3->add_option("--concurrency", o->concurrency, "Requests outstanding (workers; default 1)");
  s3->add_option("--count", o->count, "Measured requests in total (default 1000)");
  s3->add_option("--duration", o->duration, "Measure for this long instead, e.g. 5s");
  s3->add_option("--bucket", o->bucket, "Bucket to use, created if missing (default s3rdma-bench)");
  s3->add_option("--rdma", o->rdma, "The client's RDMA address: udp or udp:ADDR[:PORT] (default udp)");
  s3->add_option("--connections", o->connections,
                 "RC connections with --transport rdma (default: concurrency, at most 16)");
  s3->add_option("--server-pid", o->server_pid,
                 "The server's pid: report its CPU seconds per GB from /proc/PID/stat");
  s3->add_option("--region", o->region, "Region to sign for (default us-east-1)");
  s3->add_flag("--no-sign-request", o->no_sign, "Send anonymous requests");
  s3->add_flag("--json", o->json, "One JSON object instead of text");
  s3->callback([&run, o] { run = [o] { return RunBenchS3(*o); }; });
}

}  // namespace s3rdma::cli
