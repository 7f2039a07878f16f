// The DST world: storage nodes, clients, faults, and the checks (see dst.h; the World class
// is in dst_world.h, its operations in dst_ops.cc and dst_rdma.cc).
#include "sim/dst.h"

#include <cmath>
#include <cstdio>

#include "sim/dst_world.h"

namespace s3rdma::sim {
namespace dst_internal {

World::World(uint64_t seed, const DstOptions& options)
    : seed_(seed), options_(options), rng_(core::Rng(seed).Fork("dst-world")),
      rt_(std::make_unique<core::VirtualRuntime>()) {
  result_.seed = seed;
  credentials_.Add(credential_);
  if (options_.plant == "ack-before-fsync") plant_ = proto::FsStoreBug::kAckBeforeFsync;
  if (options_.plant == "torn-commit") plant_ = proto::FsStoreBug::kTornCommit;
  rdma_rng_ = core::Rng(seed).Fork("dst-rdma");
  drive_rng_ = core::Rng(seed).Fork("dst-drive");
  client_crash_rng_ = core::Rng(seed).Fork("dst-client-crash");
}

World::~World() {
  // RDMA first: buffers before their clients, clients and servers before their devices,
  // devices before the fabric.
  slots_.clear();
  for (Client& c : clients_) c.rdma.clear();
  for (Node& n : nodes_) {
    if (n.service) n.service->SetRdmaServer(nullptr);
    n.rdma.reset();
    n.device.reset();
  }
  for (Client& c : clients_) c.device.reset();
  flaps_.reset();
  fabric_.reset();
  // Queued tasks (and the exchanges and writers they hold) go first, while the services,
  // stores and file systems they refer to still exist.
  rt_.reset();
  for (Node& n : nodes_) n.transports.clear();
}

void World::Fail(const std::string& invariant, const std::string& detail) {
  if (result_.failures.size() < kMaxFailuresPerSeed) {
    result_.failures.push_back(invariant + " (t=" + Secs(rt_->Now()) + "s): " + detail);
  }
  Trace("FAIL " + invariant + ": " + detail);
}

void World::Trace(const std::string& line) {
  if (options_.trace) options_.trace("t=" + Secs(rt_->Now()) + " " + line);
}

uint64_t World::PickSize(core::Rng& rng) {
  const uint64_t r = rng.Below(100);
  if (r < 8) return 0;
  if (r < 45) return 1 + rng.Below(256);
  if (r < 85) return 1 + rng.Below(8192);
  return 8192 + rng.Below(40000);
}

void World::Build() {
  const int node_count = 1 + static_cast<int>(rng_.Below(3));
  const int client_count = 2 + static_cast<int>(rng_.Below(4));
  const int key_count = 2 + static_cast<int>(rng_.Below(6));
  for (int i = 0; i < key_count; ++i) {
    keys_.push_back(std::string(i % 2 == 0 ? "a/" : "b/") + "k" + std::to_string(i));
  }
  std::string world = "nodes=[";
  for (int i = 0; i < node_count; ++i) {
    Node& n = nodes_.emplace_back();
    n.index = i;
    n.durable = rng_.Below(100) < 85;
    n.chunk_bytes = size_t{1} << (10 + rng_.Below(7));
    if (rng_.Below(100) < 25) {
      n.skew_seconds = (rng_.Bernoulli(0.5) ? 1 : -1) * static_cast<int64_t>(rng_.Below(301));
    }
    if (n.durable) {
      n.fs = std::make_unique<SimFs>(core::Mix64(seed_ * 131 + static_cast<uint64_t>(i)));
      if (rng_.Below(100) < 30) {
        n.faults.append_error_probability = 0.002;
        n.faults.sync_error_probability = 0.01 + 0.03 * rng_.NextDouble();
      }
    }
    world += std::string(i ? "," : "") + (n.durable ? "fs" : "mem") +
             (n.faults.sync_error_probability > 0 ? "+eio" : "") +
             (n.skew_seconds != 0 ? (n.skew_seconds > 0 ? "+" : "") +
                                        std::to_string(n.skew_seconds) + "s"
                                  : "");
  }
  world += "] clients=[";
  for (int i = 0; i <= client_count; ++i) {
    Client& c = clients_.emplace_back();
    c.index = i;
    c.rng = rng_.Fork(static_cast<uint64_t>(1000 + i));
    c.concurrency = 1 + static_cast<int>(c.rng.Below(3));
    c.latency = Duration::Microseconds(static_cast<int64_t>(10 + c.rng.Below(2000)));
    c.think = Duration::Microseconds(static_cast<int64_t>(100 + c.rng.Below(3000)));
    if (i == client_count) break;  // the checker: correct clock
    const uint64_t r = c.rng.Below(100);
    const int64_t sign = c.rng.Bernoulli(0.5) ? 1 : -1;
    // Servers are at most 300 s off, so a client within 480 s is >= 60 s inside the 900 s
    // window of every server and one beyond 1260 s is >= 60 s outside: no borderline case.
    if (r < 12) {
      c.skewed = true;
      c.skew_seconds = sign * (kSkewWindowSeconds + 360 + static_cast<int64_t>(c.rng.Below(7200)));
    } else if (r < 40) {
      c.skew_seconds = sign * static_cast<int64_t>(c.rng.Below(481));
    }
    world += std::string(i ? "," : "") + "skew" + (c.skew_seconds >= 0 ? "+" : "") +
             std::to_string(c.skew_seconds) + "s" + (c.skewed ? "!" : "") + "x" +
             std::to_string(c.concurrency);
  }
  world += "] keys=" + std::to_string(key_count);
  // The RDMA fabric: 40% of the seeds clean, the others with seeded packet faults.
  emu::InProcConfig fc;
  fc.latency = Duration::Microseconds(static_cast<int64_t>(1 + rdma_rng_.Below(20)));
  fc.seed = rdma_rng_.NextU64();
  if (rdma_rng_.Below(100) >= 40) {
    fabric_faults_.drop_probability = 0.02 * rdma_rng_.NextDouble();
    fabric_faults_.duplicate_probability = 0.01 * rdma_rng_.NextDouble();
    fabric_faults_.reorder_probability = 0.02 * rdma_rng_.NextDouble();
    fabric_faults_.corrupt_probability = 0.01 * rdma_rng_.NextDouble();
    fabric_faults_.max_extra_delay = Duration::Microseconds(static_cast<int64_t>(
        5 + rdma_rng_.Below(200)));
  }
  fc.faults = fabric_faults_;
  // Half the nodes receive request bodies piece by piece, so crashes land mid-upload.
  for (Node& n : nodes_) {
    if (rdma_rng_.Bernoulli(0.5)) {
      n.chunk_interval = Duration::Microseconds(static_cast<int64_t>(20 + rdma_rng_.Below(500)));
    }
  }
  fabric_ = std::make_unique<emu::InProcFabric>(*rt_, fc);
  flaps_ = std::make_unique<FlapFabric>(*fabric_);
  char faults[96];
  std::snprintf(faults, sizeof(faults), " fabric=loss%.2f%%,dup%.2f%%,reorder%.2f%%,corrupt%.2f%%",
                100 * fabric_faults_.drop_probability, 100 * fabric_faults_.duplicate_probability,
                100 * fabric_faults_.reorder_probability,
                100 * fabric_faults_.corrupt_probability);
  world += fabric_faults_.any() ? faults : " fabric=clean";
  // Drives: every SimFs node's calls take time on an NVMe-like drive of its own; in half the
  // seeds drives also slow down for a while (ScheduleSlowDrive).
  bool any_fs = false;
  for (Node& n : nodes_) {
    if (!n.fs) continue;
    any_fs = true;
    SimDrive d;
    d.metadata = Duration::Microseconds(static_cast<int64_t>(2 + drive_rng_.Below(9)));
    d.read = Duration::Microseconds(static_cast<int64_t>(10 + drive_rng_.Below(71)));
    d.append = Duration::Microseconds(static_cast<int64_t>(1 + drive_rng_.Below(5)));
    d.sync = Duration::Microseconds(static_cast<int64_t>(20 + drive_rng_.Below(181)));
    d.rate = core::DataRate::BytesPerSecond(
        static_cast<int64_t>(1'000'000'000 + drive_rng_.Below(2'000'000'001)));
    n.fs->AttachDrive(*rt_, d);
  }
  slow_drives_ = any_fs && drive_rng_.Bernoulli(0.5);
  if (any_fs) world += slow_drives_ ? " drives=slow" : " drives=steady";
  for (Node& n : nodes_) {
    core::Status st = StartNode(n);
    S3_CHECK_MSG(st.ok(), "dst: first start of node failed: " + st.ToString());
    S3_CHECK(n.store->CreateBucket(kBucket, kUnixBase).ok());
    if (n.fs) n.fs->set_faults(n.faults);
  }
  world += " rdma=[";
  for (Client& c : clients_) {
    c.rdma_rng = rdma_rng_.Fork(static_cast<uint64_t>(c.index));
    const bool checker = c.index + 1 == static_cast<int>(clients_.size());
    // Per client: HTTP only (25%), some RDMA, or mostly RDMA; the checker reads over HTTP.
    const uint64_t r = c.rdma_rng.Below(100);
    c.rdma_share = checker ? 0.0 : r < 25 ? 0.0 : r < 60 ? 0.4 : 0.85;
    if (!checker) {
      world += std::string(c.index ? "," : "") + std::to_string(static_cast<int>(c.rdma_share * 100)) + "%";
    }
    for (Node& n : nodes_) c.links.push_back(std::make_unique<NodeLink>(*this, c, n));
    StartClientRdma(c);
  }
  world += "]";
  // Client process crashes in half the seeds (never the checker).
  client_crashes_ = client_crash_rng_.Bernoulli(0.5);
  if (client_crashes_) world += " client-crashes";
  result_.world = world;
}

void World::StartClientRdma(Client& c) {
  c.ip = ClientIp(c.index, c.incarnation);
  auto dev = emu::Device::Open(*flaps_, {c.ip, emu::kRoceUdpPort});
  S3_CHECK_MSG(dev.ok(), "dst: client device: " + dev.status().ToString());
  c.device = std::move(dev).value();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    proto::RdmaClientOptions o;
    o.connections = 1 + static_cast<int>(c.rdma_rng.Below(2));
    o.seed = c.rdma_rng.NextU64();
    o.plant_get_token_whole_buffer = options_.plant == "get-token-whole-buffer";
    o.request_timeout = kRdmaRequestTimeout;
    auto rc = proto::RdmaClient::Create(*c.device, {c.links.at(i).get()}, o);
    S3_CHECK_MSG(rc.ok(), "dst: RDMA client: " + rc.status().ToString());
    c.rdma.push_back(std::move(rc).value());
  }
}

void World::CrashClient(Client& c) {
  ++result_.client_crashes;
  ++c.incarnation;
  // Its operations are abandoned: no callback of theirs runs again, and writes among them
  // never end in the model (in flight forever: they may still land, now or never).
  int abandoned = 0;
  for (auto it = open_ops_.begin(); it != open_ops_.end();) {
    if (it->second.client == c.index) {
      ++abandoned;
      ++result_.abandoned_ops;
      it = open_ops_.erase(it);
    } else {
      ++it;
    }
  }
  size_t cut = 0;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->second.client == c.index) {
      ++cut;
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  // Its HTTP connections close: each node gets a new transport for the new process and the
  // old one is destroyed, as a TCP close would: a paced body stops mid-way (the server's
  // exchange is dropped unfinished, so nothing may be committed) and replies to it vanish.
  for (Node& n : nodes_) {
    if (!n.up) continue;
    n.transports.at(static_cast<size_t>(c.index)) = MakeTransport(n, c);
  }
  // Its NIC dies: buffers (memory regions) first, then the RDMA clients, then the device.
  size_t buffers = 0;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->second.client == c.index) {
      ++buffers;
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
  c.rdma.clear();
  c.device.reset();
  Trace("CLIENT CRASH client" + std::to_string(c.index) + ": " + std::to_string(abandoned) +
        " operations abandoned, " + std::to_string(cut) + " requests cut, " +
        std::to_string(buffers) + " RDMA buffers gone; restarts as incarnation " +
        std::to_string(c.incarnation));
  StartClientRdma(c);
  // The new process picks up the abandoned operation slots.
  for (int i = 0; i < abandoned; ++i) ScheduleNext(c);
}

void World::ScheduleClientCrash() {
  if (!client_crashes_) return;
  const auto delay =
      Duration::Microseconds(static_cast<int64_t>(client_crash_rng_.Exponential(60000.0)));
  client_crash_timer_ = rt_->After(delay, [this] {
    if (quiet_) return;
    CrashClient(clients_[client_crash_rng_.Below(clients_.size() - 1)]);
    ScheduleClientCrash();
  });
}

std::unique_ptr<proto::DirectTransport> World::MakeTransport(Node& n, const Client& c) {
  proto::ClientOptions o;
  o.credential = credential_;
  o.unix_time_at_runtime_zero = kUnixBase + c.skew_seconds;
  proto::DirectTransportOptions d;
  d.latency = c.latency;
  d.body_chunk_bytes = n.chunk_bytes;
  d.body_chunk_interval = n.chunk_interval;
  return std::make_unique<proto::DirectTransport>(*n.service, *rt_, o, d);
}

core::Status World::StartNode(Node& n) {
  if (n.durable) {
    n.env = std::make_unique<ProcessEnv>(*n.fs);
    // I/O errors from the first restart on (the initial start and bucket are set up clean).
    if (!quiet_ && n.incarnation > 0) n.fs->set_faults(n.faults);
    auto store = proto::FsStore::Open(kDataDir, core::Mix64(seed_ ^ (n.incarnation << 8) ^
                                                            static_cast<uint64_t>(n.index)),
                                      *n.env);
    if (!store.ok()) {
      n.env->Kill();
      dead_envs_.push_back(std::move(n.env));
      return store.status();
    }
    (*store)->PlantBugForTesting(plant_);
    n.store = std::move(*store);
  } else {
    n.store = std::make_unique<proto::MemoryStore>(seed_ + static_cast<uint64_t>(n.index));
  }
  proto::ServiceConfig config;
  config.min_part_bytes = kMinPartBytes;
  config.unix_time_at_runtime_zero = kUnixBase + n.skew_seconds;
  n.service = std::make_unique<proto::S3Service>(config, *n.store, credentials_, *rt_);
  // The process's NIC and RDMA server (the old ones died with the previous incarnation).
  emu::DeviceOptions dopts;
  dopts.plant_reuse_psn = options_.plant == "reuse-psn";
  auto dev = emu::Device::Open(*flaps_, {NodeIp(n.index), emu::kRoceUdpPort}, dopts);
  S3_CHECK_MSG(dev.ok(), "dst: node device: " + dev.status().ToString());
  n.device = std::move(dev).value();
  proto::RdmaServerOptions ro;
  ro.staging_bytes = 256 << 10;
  ro.chunk_bytes = 16 << 10;
  ro.zero_copy_wr_bytes = 16 << 10;
  ro.max_connections = 64;
  // Connections of crashed clients (and ones whose connect reply was lost) must not live
  // forever: idle ones are closed after 1 s, which the end-of-run check relies on.
  ro.idle_timeout = Duration::Seconds(1);
  ro.psn_seed = core::Mix64(seed_ ^ (n.incarnation << 16) ^ (static_cast<uint64_t>(n.index) << 40));
  ro.plant_skip_token_range_check = options_.plant == "skip-token-range-check";
  auto rdma = proto::RdmaServer::Create(*n.device, ro);
  S3_CHECK_MSG(rdma.ok(), "dst: RDMA server: " + rdma.status().ToString());
  n.rdma = std::move(rdma).value();
  n.service->SetRdmaServer(n.rdma.get());
  n.transports.clear();
  for (const Client& c : clients_) n.transports.push_back(MakeTransport(n, c));
  n.up = true;
  ++n.incarnation;
  return core::Status::Ok();
}

void World::CrashNode(Node& n) {
  ++result_.crashes;
  model_.NoteCrash(std::to_string(n.index), rt_->Now());
  n.up = false;
  // The process dies: its connections reset, queued work never runs again.
  n.transports.clear();
  std::vector<uint64_t> cut;
  for (const auto& [rid, f] : inflight_) {
    if (f.node == n.index) cut.push_back(rid);
  }
  for (uint64_t rid : cut) {
    rt_->Post([this, rid] {
      Complete(rid, core::Status::Unavailable("connection reset: node crashed"), Delivery::kCut);
    });
  }
  n.env->Kill();
  // The NIC dies with the process: its QPs vanish, clients must reconnect.
  n.service->SetRdmaServer(nullptr);
  n.rdma.reset();
  n.device.reset();
  dead_services_.push_back(std::move(n.service));
  dead_stores_.push_back(std::move(n.store));
  dead_envs_.push_back(std::move(n.env));
  const SimFsCrashStats st = n.fs->Crash();
  Trace("CRASH node" + std::to_string(n.index) + ": files lost/kept/torn " +
        std::to_string(st.files_lost) + "/" + std::to_string(st.files_kept) + "/" +
        std::to_string(st.files_torn) + ", namespace ops lost/kept " +
        std::to_string(st.ops_lost) + "/" + std::to_string(st.ops_kept) + ", " +
        std::to_string(cut.size()) + " requests cut");
  const Duration down = Duration::Microseconds(static_cast<int64_t>(500 + rng_.Below(20000)));
  rt_->After(down, [this, &n] { Restart(n); });
}

void World::Restart(Node& n) {
  core::Status st = StartNode(n);
  if (st.ok()) {
    const auto* fs_store = static_cast<proto::FsStore*>(n.store.get());
    Trace("RESTART node" + std::to_string(n.index) + ": recovery removed " +
          std::to_string(fs_store->leftovers_removed()) + " leftovers, ignored " +
          std::to_string(fs_store->unreadable_files()) + " unreadable files");
    return;
  }
  Trace("RESTART node" + std::to_string(n.index) + " failed: " + st.ToString());
  if (quiet_ && n.fs->faults().sync_error_probability <= 0 &&
      n.fs->faults().append_error_probability <= 0) {
    Fail("recovery", "node" + std::to_string(n.index) + " cannot reopen its store: " +
                         st.ToString());
    return;
  }
  rt_->After(Duration::Milliseconds(5), [this, &n] { Restart(n); });
}

void World::ScheduleCrash() {
  std::vector<Node*> durable;
  for (Node& n : nodes_) {
    if (n.durable) durable.push_back(&n);
  }
  if (durable.empty()) return;
  const auto delay = Duration::Microseconds(static_cast<int64_t>(rng_.Exponential(30000.0)));
  crash_timer_ = rt_->After(delay, [this, durable] {
    if (quiet_) return;
    Node& n = *durable[rng_.Below(durable.size())];
    if (n.up) CrashNode(n);
    ScheduleCrash();
  });
}

void World::SchedulePartition() {
  const auto delay = Duration::Microseconds(static_cast<int64_t>(rng_.Exponential(40000.0)));
  partition_timer_ = rt_->After(delay, [this] {
    if (quiet_) return;
    const int c = static_cast<int>(rng_.Below(clients_.size() - 1));  // never the checker
    const int n = static_cast<int>(rng_.Below(nodes_.size()));
    const auto span = Duration::Microseconds(static_cast<int64_t>(1000 + rng_.Below(20000)));
    partitions_[{c, n}] = rt_->Now() + span;
    ++result_.partitions;
    Trace("PARTITION client" + std::to_string(c) + " | node" + std::to_string(n) + " for " +
          std::to_string(span.us()) + " us");
    SchedulePartition();
  });
}

void World::ScheduleSlowDrive() {
  if (!slow_drives_) return;
  const auto delay = Duration::Microseconds(static_cast<int64_t>(drive_rng_.Exponential(50000.0)));
  slow_timer_ = rt_->After(delay, [this] {
    if (quiet_) return;
    std::vector<Node*> durable;
    for (Node& n : nodes_) {
      if (n.fs) durable.push_back(&n);
    }
    Node& n = *durable[drive_rng_.Below(durable.size())];
    // 10x to 1000x (log-uniform) for 1-40 ms: SSD garbage collection up to a failing disk
    // (an fsync of 20 us - 200 ms). The backlog of a worst period drains in a few seconds,
    // inside the quiet phase's 10 s.
    const auto factor =
        static_cast<int64_t>(std::llround(std::pow(10.0, 1.0 + 2.0 * drive_rng_.NextDouble())));
    const auto span = Duration::Microseconds(static_cast<int64_t>(1000 + drive_rng_.Below(39000)));
    n.fs->SlowDown(factor, rt_->Now() + span);
    ++result_.slow_drive_periods;
    char line[128];
    std::snprintf(line, sizeof(line), "SLOW DRIVE node%d: %lldx for %lld us", n.index,
                  static_cast<long long>(factor),
                  static_cast<long long>(span.us()));
    Trace(line);
    ScheduleSlowDrive();
  });
}

void World::StartQuiet() {
  quiet_ = true;
  quiet_start_ = rt_->Now();
  // Return from Run's RunEvents batch now: it would otherwise run on into far-future
  // timers (the RDMA server's idle sweep) before the quiet phase's deadline is set.
  rt_->Stop();
  crash_timer_.Cancel();
  partition_timer_.Cancel();
  partitions_.clear();
  flap_timer_.Cancel();
  flaps_->Heal();
  slow_timer_.Cancel();
  client_crash_timer_.Cancel();
  fabric_->SetFaults({});
  for (Node& n : nodes_) {
    if (n.fs) {
      n.fs->set_faults({});
      n.fs->EndSlowDown();
    }
  }
  Trace("QUIET: faults stop");
}

void World::Send(Client& c, Node& n, proto::ClientRequest req, std::string what, Done done,
                 Late late) {
  ++result_.requests;
  Client* client = &c;
  Node* node = &n;
  Done checked = [this, client, node, inc = c.incarnation, what = std::move(what),
                  done = std::move(done)](Reply r, Delivery how, bool) {
    if (client->incarnation != inc) return;  // the client process died meanwhile
    const bool usable = CheckAuth(*client, *node, r, how, what);
    Trace("client" + std::to_string(client->index) + " " + what + " -> " +
          (how == Delivery::kCut           ? "cut: "
           : how == Delivery::kRefused     ? "refused: "
           : how == Delivery::kTimedOut    ? "timed out: "
                                           : "") +
          (r.ok() ? std::to_string(r->status) + " " + std::to_string(r->body.size()) + " B"
                  : r.status().ToString()));
    done(std::move(r), how, usable);
  };
  const uint64_t rid = next_rid_++;
  if (!n.up || Partitioned(c, n)) {
    rt_->Post([this, rid, checked = std::move(checked), up = n.up]() mutable {
      TellClient(rid, std::move(checked),
                 core::Status::Unavailable(up ? "connect timeout: partitioned"
                                              : "connection refused: node down"),
                 Delivery::kRefused);
    });
    return;
  }
  inflight_[rid] = InFlight{c.index, n.index, std::move(checked), std::move(late), false};
  n.transports.at(static_cast<size_t>(c.index))->Send(std::move(req), [this, rid, client, node](
                                                                           Reply r) {
    Arrive(rid, client, node, std::move(r));
  });
  // The client's timeout. The request stays in inflight_ (the server may still be working
  // on it) until its real outcome arrives, which `late` then reports.
  rt_->After(kRequestTimeout, [this, rid] {
    auto it = inflight_.find(rid);
    if (it == inflight_.end() || it->second.timed_out) return;
    it->second.timed_out = true;
    ++result_.timeouts;
    TellClient(rid, std::move(it->second.done),
               core::Status::Unavailable("timeout: no reply within " +
                                         std::to_string(kRequestTimeout.us() / 1000) + " ms"),
               Delivery::kTimedOut);
  });
}

void World::Arrive(uint64_t rid, Client* c, Node* n, Reply r) {
  const Time now = rt_->Now();
  if (n->fs) {
    // The server replied at now - latency; its reply leaves once the drive has finished
    // the I/O issued until then (FsEnv calls are synchronous, their time is not).
    const Time ready = n->fs->IdleAt(now - c->latency) + c->latency;
    if (ready > now) {
      rt_->After(ready - now, [this, rid, c, n, r = std::move(r)]() mutable {
        Deliver(rid, c, n, std::move(r));
      });
      return;
    }
  }
  Deliver(rid, c, n, std::move(r));
}

void World::Deliver(uint64_t rid, Client* c, Node* n, Reply r) {
  if (!inflight_.count(rid)) return;  // cut by a crash while the drive was busy
  // A reply that meets a partition is lost: the client cannot tell what happened.
  if (Partitioned(*c, *n)) {
    Complete(rid, core::Status::Unavailable("timeout: reply lost in a partition"),
             Delivery::kCut);
    return;
  }
  Complete(rid, std::move(r), Delivery::kAnswered);
}

void World::Complete(uint64_t rid, Reply reply, Delivery how) {
  auto it = inflight_.find(rid);
  if (it == inflight_.end()) return;
  if (it->second.timed_out) {
    // The client gave up on it already; the outcome only closes the write in the model.
    Late late = std::move(it->second.late);
    inflight_.erase(it);
    if (late) late(std::move(reply), how);
    return;
  }
  Done done = std::move(it->second.done);
  inflight_.erase(it);
  TellClient(rid, std::move(done), std::move(reply), how);
}

void World::TellClient(uint64_t rid, Done done, Reply reply, Delivery how) {
  // What the clients saw, in order: replays must see the same (the trace hash covers only
  // event times, not the bytes).
  uint64_t h = result_.history_hash ^ core::Mix64(rid) ^ static_cast<uint64_t>(how);
  h = core::Mix64(h ^ static_cast<uint64_t>(rt_->Now().ps()));
  if (reply.ok()) {
    h = core::Mix64(h ^ static_cast<uint64_t>(reply->status) ^ Fingerprint(reply->body));
  } else {
    h = core::Mix64(h ^ Fingerprint(reply.status().ToString()));
  }
  result_.history_hash = h;
  done(std::move(reply), how, false);
}

bool World::CheckAuth(const Client& c, const Node& n, const Reply& r, Delivery how,
                      const std::string& what) {
  if (how != Delivery::kAnswered) return false;
  const bool skew_error =
      !r.ok() && proto::IsS3Error(r.status(), proto::S3Err::kRequestTimeTooSkewed);
  const std::string off = std::to_string(c.skew_seconds - n.skew_seconds);
  if (Skewed(c, n)) {
    if (skew_error) {
      ++result_.skew_rejections;
    } else {
      Fail("clock-skew", what + " from a client " + off + " s off the server's clock was " +
                             "not refused as RequestTimeTooSkewed: " +
                             (r.ok() ? "succeeded" : r.status().ToString()));
    }
    return false;
  }
  if (skew_error) {
    Fail("clock-skew", what + " from a client " + off + " s off the server's clock " +
                           "(inside the 15-minute window) was refused as skewed");
    return false;
  }
  return true;
}

void World::EndWrite(DstModel::WriteId id, const Reply& r, Delivery how, bool absent_ok) {
  WriteOutcome outcome = WriteOutcome::kUnknown;
  if (how == Delivery::kRefused) {
    outcome = WriteOutcome::kFailed;
  } else if (how == Delivery::kAnswered) {
    if (r.ok() || (absent_ok && proto::IsS3Error(r.status(), proto::S3Err::kNoSuchKey))) {
      outcome = WriteOutcome::kAcked;
    } else {
      // A 4xx S3 error is a refusal before any change; a 5xx may have half-happened.
      const proto::S3ErrorInfo info = proto::ToS3Error(r.status());
      if (info.http_status >= 400 && info.http_status < 500) outcome = WriteOutcome::kFailed;
    }
  }
  if (outcome == WriteOutcome::kAcked) ++result_.acked_writes;
  if (outcome == WriteOutcome::kUnknown) ++result_.unknown_writes;
  model_.EndWrite(id, outcome, rt_->Now());
}

void World::CheckRead(const std::string& what, const std::string& problem) {
  ++result_.checked_reads;
  if (!problem.empty()) Fail("read", what + ": " + problem);
}

void World::ScheduleNext(Client& c) {
  if (issued_ >= options_.ops) return;
  ++issued_;
  if (issued_ == options_.ops) StartQuiet();
  const auto pause = Duration::Picoseconds(static_cast<int64_t>(
      c.rng.Exponential(static_cast<double>(c.think.ps()))));
  rt_->After(pause, [this, &c] { StartOp(c); });
}

void World::StartOp(Client& c) {
  Node& n = nodes_[c.rng.Below(nodes_.size())];
  const std::string& key = keys_[c.rng.Below(keys_.size())];
  const uint64_t op = next_op_++;
  const uint64_t r = c.rng.Below(100);
  const char* kind = r < 30 ? "PUT" : r < 52 ? "GET" : r < 62 ? "RANGE" : r < 72 ? "DELETE"
                   : r < 82 ? "LIST" : "MULTIPART";
  open_ops_[op].client = c.index;
  open_ops_[op].what = std::string(kind) + " client" + std::to_string(c.index) + " node" +
                  std::to_string(n.index) + "/" + key + " since " + Secs(rt_->Now());
  auto finish = [this, &c, op] { FinishOp(c, op); };
  if (r < 30) DoPut(c, n, key, finish);
  else if (r < 52 && UseRdma(c)) DoRdmaGet(c, n, key, false, finish);
  else if (r < 52) DoGet(c, n, key, false, finish);
  else if (r < 62 && UseRdma(c)) DoRdmaGet(c, n, key, true, finish);
  else if (r < 62) DoGet(c, n, key, true, finish);
  else if (r < 72) DoDelete(c, n, key, finish);
  else if (r < 82) DoList(c, n, finish);
  else DoMultipart(c, n, key, finish);
}

void World::FinishOp(Client& c, uint64_t op) {
  if (open_ops_.erase(op) == 0) return;  // abandoned by a client crash
  ++result_.ops;
  ScheduleNext(c);
}

DstResult World::Run() {
  Build();
  ScheduleCrash();
  SchedulePartition();
  ScheduleFlap();
  ScheduleSlowDrive();
  ScheduleClientCrash();
  for (size_t i = 0; i + 1 < clients_.size(); ++i) {
    for (int k = 0; k < clients_[i].concurrency; ++k) ScheduleNext(clients_[i]);
  }
  while (!quiet_ && rt_->pending() > 0 && rt_->Now() < kHardLimit) rt_->RunEvents(4096);
  if (!quiet_) {
    Fail("liveness", "the clients stopped before issuing all operations");
  } else {
    rt_->RunUntil(quiet_start_ + kQuietPhase);
    if (!open_ops_.empty()) {
      Fail("liveness", std::to_string(open_ops_.size()) + " operations still outstanding " +
                           "10 s into the quiet phase, e.g. " + open_ops_.begin()->second.what);
    }
    for (Node& n : nodes_) {
      if (!n.up) Fail("liveness", "node" + std::to_string(n.index) + " is still down");
    }
    if (!inflight_.empty()) {
      Fail("liveness", std::to_string(inflight_.size()) + " requests still unanswered by " +
                           "their server 10 s into the quiet phase (timed-out ones included)");
    }
    if (result_.failures.empty()) {
      Trace("VERIFY: final reads of every key");
      const Time verify_start = rt_->Now();
      Verify(0, 0);
      rt_->RunUntil(verify_start + kVerifyPhase);
      if (!verify_done_) Fail("liveness", "the final reads did not finish within 10 s");
      // RDMA cleanup: long after the last RDMA request, no server still holds a connection
      // (dead clients' QPs included: their transfers failed, or they idled out).
      for (Node& n : nodes_) {
        if (n.rdma && n.rdma->connection_count() > 0) {
          Fail("rdma-cleanup", "node" + std::to_string(n.index) + " still holds " +
                                   std::to_string(n.rdma->connection_count()) +
                                   " RDMA connections at the end, >= 10 s after the last " +
                                   "RDMA request (idle timeout 1 s)");
        }
      }
    }
  }
  for (Node& n : nodes_) {
    if (n.fs) {
      result_.injected_io_errors += n.fs->stats().injected_errors;
      result_.max_drive_wait_ms =
          std::max(result_.max_drive_wait_ms, n.fs->stats().max_wait.ToSeconds() * 1e3);
    }
  }
  for (const Client& c : clients_) {
    for (const auto& rc : c.rdma) result_.rdma_reconnects += rc->stats().reconnects;
  }
  for (Node& n : nodes_) {
    if (n.rdma) result_.rdma_dead_connections += n.rdma->stats().connections_failed;
  }
  const emu::InProcStats& fs = fabric_->stats();
  result_.fabric_faults = fs.dropped + fs.duplicated + fs.reordered + fs.corrupted;
  result_.flap_drops = flaps_->dropped();
  result_.events = rt_->stats().executed;
  result_.trace_hash = rt_->TraceHash();
  result_.virtual_seconds = rt_->Now().ToSeconds();
  return result_;
}

}  // namespace dst_internal

using dst_internal::World;


std::vector<PlantableBug> PlantableBugs() {
  return {
      {"ack-before-fsync",
       "proto/fs_store.cc FsStore::Publish: acknowledge without fsync of the file or directory",
       proto::kPlantedBugsBuilt},
      {"torn-commit",
       "proto/fs_store.cc FsStore::Publish: rename into place (and sync the directory) before "
       "the file's bytes are durable",
       proto::kPlantedBugsBuilt},
      {"skip-token-range-check",
       "proto/rdma_server_service.cc StartRdmaGet (RdmaServerOptions::"
       "plant_skip_token_range_check): RDMA WRITE an object or range larger than the token's "
       "buffer past its end",
       proto::kPlantedBugsBuilt},
      {"get-token-whole-buffer",
       "proto/rdma_client.cc RdmaClient::Get (RdmaClientOptions::"
       "plant_get_token_whole_buffer, the clients): the token names the rest of the registered "
       "buffer instead of the bytes asked, so an object longer than them is written past them",
       proto::kPlantedBugsBuilt},
      {"reuse-psn",
       "emu/qp_requester.cc RcQp::StartWqe (DeviceOptions::plant_reuse_psn, the storage nodes' "
       "NICs): after a retransmission, start the next message one PSN back, reusing a PSN",
       proto::kPlantedBugsBuilt && emu::kEmuPlantedBugsBuilt},
  };
}

core::Status ValidatePlant(const std::string& name) {
  if (name.empty()) return core::Status::Ok();
  std::string names;
  for (const PlantableBug& b : PlantableBugs()) {
    if (b.name == name) {
      if (b.available) return core::Status::Ok();
      return core::Status::InvalidArgument(
          "planted bug '" + name + "' is not available in this build" +
          (proto::kPlantedBugsBuilt ? " (its hook is not wired into dst yet)"
                                    : " (configure with -DS3RDMA_PLANT_BUGS=ON)"));
    }
    names += (names.empty() ? "" : ", ") + b.name;
  }
  return core::Status::InvalidArgument("unknown planted bug '" + name + "' (known: " + names +
                                       ")");
}

DstResult RunDstSeed(uint64_t seed, const DstOptions& options) {
  S3_CHECK_MSG(ValidatePlant(options.plant).ok(), "RunDstSeed: invalid plant");
  S3_CHECK(options.ops >= 1);
  World world(seed, options);
  return world.Run();
}

std::string ReplayCommand(uint64_t seed, const DstOptions& options) {
  std::string cmd = "s3rdma dst --seed " + std::to_string(seed) + " --ops " +
                    std::to_string(options.ops);
  if (!options.plant.empty()) cmd += " --plant " + options.plant;
  return cmd;
}

}  // namespace s3rdma::sim
