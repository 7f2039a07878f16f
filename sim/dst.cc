// The DST world: storage nodes, clients, faults, and the checks (see dst.h).
#include "sim/dst.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include "core/rng.h"
#include "core/virtual_runtime.h"
#include "emu/inproc_fabric.h"
#include "emu/verbs.h"
#include "proto/client_common.h"
#include "proto/direct_transport.h"
#include "proto/fs_store.h"
#include "proto/hash.h"
#include "proto/memory_store.h"
#include "proto/rdma_client.h"
#include "proto/rdma_server.h"
#include "proto/rdma_token.h"
#include "proto/s3_error.h"
#include "proto/s3_service.h"
#include "sim/dst_model.h"
#include "sim/sim_fs.h"

namespace s3rdma::sim {
namespace {

using core::Duration;
using core::Time;
using Reply = core::Result<proto::ClientResponse>;

constexpr int64_t kUnixBase = 1'700'000'000;  // the servers' wall clock at virtual time 0
constexpr int64_t kSkewWindowSeconds = 15 * 60;
constexpr char kBucket[] = "dst";
constexpr char kDataDir[] = "/data";
constexpr uint64_t kMinPartBytes = 1024;
constexpr size_t kMaxFailuresPerSeed = 8;
const Duration kQuietPhase = Duration::Seconds(10);
const Duration kVerifyPhase = Duration::Seconds(10);
const Time kHardLimit = Time::Zero() + Duration::Seconds(3600);
// A client gives up on an HTTP request with no reply after this long (and retries a PUT, GET
// or DELETE once). Far above any reply time without a slow drive (2 x 2 ms latency, a paced
// 48 KiB body in 1 KiB pieces ~25 ms), below a slow drive's worst (an fsync 1000x slower,
// and the queue behind it).
const Duration kRequestTimeout = Duration::Milliseconds(100);
// RDMA client buffers: [guard | region | back guard] in one allocation, all of it one
// registered memory region; the token (Get/Put at offset kGuard with the region's length)
// names only the region. A GET's back guard is as large as any object, so a server that
// writes past the token lands in registered memory (the NIC lets it) and the rdma-memory
// check, not the NIC, must catch it.
constexpr size_t kGuard = 64;
constexpr char kGuardByte = '\xA5';
constexpr char kFillByte = '\x5C';  // a GET region before the transfer
constexpr uint64_t kGetBufferBytes = 49152;  // holds every object dst writes (<= 48192 B)
constexpr size_t kGetBackGuard = kGetBufferBytes;

// How a request ended, as the client saw it.
enum class Delivery {
  kAnswered,  // the server replied (Reply holds the reply or the error it carried)
  kRefused,   // the node was down: never reached a server
  kCut,       // the node crashed with the request in flight: it may have been processed
  kTimedOut,  // the client gave up waiting: the server may still be working on it
};

// The file system as one server process sees it: after Kill() (the process died) every
// call fails, so work left over from a dead incarnation never touches the disk again.
class ProcessEnv final : public proto::FsEnv {
 public:
  explicit ProcessEnv(SimFs& fs) : fs_(fs) {}
  void Kill() { dead_ = true; }

  core::Result<std::unique_ptr<proto::FsFile>> CreateFile(const std::string& p) override {
    if (dead_) return Dead();
    return fs_.CreateFile(p);
  }
  core::Result<std::unique_ptr<proto::FsFile>> OpenFile(const std::string& p) override {
    if (dead_) return Dead();
    return fs_.OpenFile(p);
  }
  core::Status CreateDir(const std::string& p) override { return dead_ ? Dead() : fs_.CreateDir(p); }
  core::Status CreateDirs(const std::string& p) override {
    return dead_ ? Dead() : fs_.CreateDirs(p);
  }
  core::Result<std::vector<proto::FsDirEntry>> ListDir(const std::string& p) override {
    if (dead_) return Dead();
    return fs_.ListDir(p);
  }
  core::Status Rename(const std::string& a, const std::string& b) override {
    return dead_ ? Dead() : fs_.Rename(a, b);
  }
  core::Status Unlink(const std::string& p) override { return dead_ ? Dead() : fs_.Unlink(p); }
  core::Status RemoveAll(const std::string& p) override {
    return dead_ ? Dead() : fs_.RemoveAll(p);
  }
  core::Status SyncDir(const std::string& p) override { return dead_ ? Dead() : fs_.SyncDir(p); }
  bool Exists(const std::string& p) override { return !dead_ && fs_.Exists(p); }

 private:
  static core::Status Dead() { return core::Status::IOError("process is dead"); }
  SimFs& fs_;
  bool dead_ = false;
};

// A fabric decorator for link flaps: while a pair of addresses is cut, every packet
// between them is dropped at send (packets already on the wire still arrive).
class FlapFabric final : public emu::Fabric {
 public:
  explicit FlapFabric(emu::Fabric& inner) : inner_(inner) {}
  core::Result<std::unique_ptr<emu::FabricPort>> Attach(const emu::NodeAddress& address,
                                                        ReceiveCallback on_receive) override {
    S3_ASSIGN_OR_RETURN(auto port, inner_.Attach(address, std::move(on_receive)));
    return std::unique_ptr<emu::FabricPort>(std::make_unique<Port>(*this, std::move(port)));
  }
  core::Runtime& runtime() override { return inner_.runtime(); }
  void Cut(uint32_t a, uint32_t b, Time until) { cuts_[std::minmax(a, b)] = until; }
  void Heal() { cuts_.clear(); }
  bool IsCut(uint32_t a, uint32_t b) const {
    auto it = cuts_.find(std::minmax(a, b));
    return it != cuts_.end() && inner_.runtime().Now() < it->second;
  }
  uint64_t dropped() const { return dropped_; }

 private:
  class Port final : public emu::FabricPort {
   public:
    Port(FlapFabric& f, std::unique_ptr<emu::FabricPort> inner) : f_(f), inner_(std::move(inner)) {}
    emu::NodeAddress address() const override { return inner_->address(); }
    core::Status Send(const emu::NodeAddress& to, emu::RocePacket packet) override {
      if (f_.IsCut(address().ipv4, to.ipv4)) {
        ++f_.dropped_;
        return core::Status::Ok();
      }
      return inner_->Send(to, std::move(packet));
    }
    const emu::PortStats& stats() const override { return inner_->stats(); }
    emu::PacketAddress WireAddress(const emu::NodeAddress& to,
                                   const emu::RocePacket& packet) const override {
      return inner_->WireAddress(to, packet);
    }

   private:
    FlapFabric& f_;
    std::unique_ptr<emu::FabricPort> inner_;
  };
  emu::Fabric& inner_;
  std::map<std::pair<uint32_t, uint32_t>, Time> cuts_;
  uint64_t dropped_ = 0;
};

uint32_t NodeIp(int i) { return (10u << 24) | (1u << 16) | static_cast<uint32_t>(i + 1); }
// Client i's address in its incarnation `inc` (a restarted client process gets a new
// NIC at a new address, so packets the servers still send to the dead one go nowhere).
uint32_t ClientIp(int i, uint64_t inc) {
  return (10u << 24) | (static_cast<uint32_t>(2 + inc % 200) << 16) |
         static_cast<uint32_t>(i + 1);
}

class World;
struct Node;

struct Client {
  int index = 0;
  int64_t skew_seconds = 0;
  bool skewed = false;  // far beyond the SigV4 window: every signed request must be refused
  int concurrency = 1;
  Duration latency;
  Duration think;  // mean pause between operations
  core::Rng rng{0};
  // RDMA: a share of GET / ranged GET / PUT / UploadPart goes over RDMA (its own Rng, so the
  // HTTP-only choices of a seed stay as they were).
  core::Rng rdma_rng{0};
  double rdma_share = 0;
  std::unique_ptr<emu::Device> device;
  std::vector<std::unique_ptr<proto::S3Transport>> links;     // by node index
  std::vector<std::unique_ptr<proto::RdmaClient>> rdma;       // by node index
  // Bumped when the client process crashes: callbacks of an older incarnation are dropped.
  uint64_t incarnation = 0;
  uint32_t ip = 0;
};

struct Node {
  int index = 0;
  bool durable = false;  // FsStore on SimFs (crashes), else MemoryStore (never crashes)
  std::unique_ptr<SimFs> fs;
  std::unique_ptr<ProcessEnv> env;
  std::unique_ptr<proto::ObjectStore> store;
  std::unique_ptr<proto::S3Service> service;
  std::vector<std::unique_ptr<proto::DirectTransport>> transports;  // by client index
  bool up = false;
  uint64_t incarnation = 0;
  SimFsFaults faults;
  size_t chunk_bytes = 64 << 10;
  Duration chunk_interval;  // between request body pieces (0: a body arrives at once)
  int64_t skew_seconds = 0;  // the server's clock error
  // The process's NIC and RDMA server: destroyed at a crash, made anew at a restart.
  std::unique_ptr<emu::Device> device;
  std::unique_ptr<proto::RdmaServer> rdma;
};

std::string Secs(Time t) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", t.ToSeconds());
  return buf;
}

std::string StripQuotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

class World {
 public:
  World(uint64_t seed, const DstOptions& options);
  ~World();
  DstResult Run();

 private:
  // `usable`: the node answered and the reply passed the clock-skew checks, so its content
  // may be checked against the model.
  using Done = std::function<void(Reply, Delivery, bool usable)>;

  void Build();
  std::unique_ptr<proto::DirectTransport> MakeTransport(Node& n, const Client& c);
  core::Status StartNode(Node& n);
  void CrashNode(Node& n);
  void Restart(Node& n);
  void ScheduleCrash();
  void StartQuiet();

  // After a timeout (Delivery::kTimedOut), `late` runs when the server's real outcome
  // arrives (reply, or the crash that cut it): writes end in the model only then.
  using Late = std::function<void(Reply, Delivery)>;
  void Send(Client& c, Node& n, proto::ClientRequest req, std::string what, Done done,
            Late late = nullptr);
  bool Skewed(const Client& c, const Node& n) const {
    const int64_t d = c.skew_seconds - n.skew_seconds;
    return d > kSkewWindowSeconds || d < -kSkewWindowSeconds;
  }
  bool Partitioned(const Client& c, const Node& n) const {
    auto it = partitions_.find({c.index, n.index});
    return it != partitions_.end() && rt_->Now() < it->second;
  }
  void SchedulePartition();
  void ScheduleSlowDrive();
  void ScheduleClientCrash();
  // The client process dies mid-request and a new one starts: its connections close, its
  // NIC, QPs and registered buffers vanish, its outstanding operations are abandoned (their
  // writes stay in flight in the model forever).
  void CrashClient(Client& c);
  // The client's RDMA side (NIC at c.ip, one RdmaClient per node).
  void StartClientRdma(Client& c);
  void Complete(uint64_t rid, Reply reply, Delivery how);
  // The transport's reply to request `rid` reached the client: held until the node's drive
  // has done the I/O issued before the server replied, then lost if a partition cut the
  // pair, else delivered.
  void Arrive(uint64_t rid, Client* c, Node* n, Reply r);
  void Deliver(uint64_t rid, Client* c, Node* n, Reply r);

  void ScheduleNext(Client& c);
  void StartOp(Client& c);
  void FinishOp(Client& c, uint64_t op);
  void DoPut(Client& c, Node& n, const std::string& key, std::function<void()> finish,
             std::optional<Segment> retry_of = std::nullopt);
  void DoGet(Client& c, Node& n, const std::string& key, bool ranged,
             std::function<void()> finish, int attempt = 0);
  void DoDelete(Client& c, Node& n, const std::string& key, std::function<void()> finish,
                int attempt = 0);
  void DoList(Client& c, Node& n, std::function<void()> finish);
  void DoMultipart(Client& c, Node& n, const std::string& key, std::function<void()> finish);
  void Verify(size_t node, size_t key);
  // Shared by HTTP and RDMA GETs: checks a GET / ranged GET reply against the model.
  void CheckGetReply(const std::string& what, const std::string& mkey, Time invoke,
                     uint64_t offset, bool ranged, const Reply& r);

 public:
  // The RDMA client's transport to a node: the node's current DirectTransport, with the
  // same crash cuts and partitions as World::Send.
  void LinkSend(Client& c, Node& n, proto::ClientRequest req, proto::S3Transport::Callback done);
  core::Runtime& runtime() { return *rt_; }

 private:
  // RDMA data path (a share of the operations).
  struct RdmaSlot {
    std::unique_ptr<char[]> mem;  // kGuard + region + back_guard
    size_t region = 0;
    size_t back_guard = kGuard;
    proto::RdmaBuffer buffer;  // front guard + region
    std::string what;
    int client = 0;
  };
  uint64_t NewSlot(Client& c, Node& n, size_t region, const std::string& bytes,
                   const std::string& what, size_t back_guard = kGuard);
  // Checks the guards (and, for a GET, that nothing beyond `written` changed), frees it.
  void EndSlot(uint64_t slot, std::optional<uint64_t> written);
  bool UseRdma(Client& c) { return c.rdma_share > 0 && c.rdma_rng.NextDouble() < c.rdma_share; }
  bool CheckRdmaAuth(const Client& c, const Node& n, const core::Status& st,
                     const std::string& what);
  void CheckRdmaFailure(const core::Status& st, const std::string& what);
  void DoRdmaPut(Client& c, Node& n, const std::string& key, Segment seg,
                 std::function<void()> finish);
  void DoRdmaGet(Client& c, Node& n, const std::string& key, bool ranged,
                 std::function<void()> finish);
  void ScheduleFlap();
  void NoteRdma(bool ok) {
    ++result_.rdma_ops;
    if (ok) ++result_.rdma_ok;
  }

  // Skew checks shared by every reply; false if the reply carries no information to check.
  bool CheckAuth(const Client& c, const Node& n, const Reply& r, Delivery how,
                 const std::string& what);
  void EndWrite(DstModel::WriteId id, const Reply& r, Delivery how, bool absent_ok);
  // A write whose client timed out: the server finished (or crashed) now; the client
  // never learned the outcome.
  void EndLateWrite(DstModel::WriteId id) {
    ++result_.unknown_writes;
    model_.EndWrite(id, WriteOutcome::kUnknown, rt_->Now());
  }
  void CheckRead(const std::string& what, const std::string& problem);
  void Fail(const std::string& invariant, const std::string& detail);
  void Trace(const std::string& line);
  std::string ModelKey(const Node& n, const std::string& key) const {
    return std::to_string(n.index) + "/" + key;
  }
  uint64_t PickSize(core::Rng& rng);

  uint64_t seed_;
  DstOptions options_;
  core::Rng rng_;
  proto::FsStoreBug plant_ = proto::FsStoreBug::kNone;
  proto::CredentialStore credentials_;
  proto::Credential credential_{"DSTACCESSKEY0000", "dst-secret-key-0000"};
  DstModel model_;
  DstResult result_;
  std::vector<std::string> keys_;

  // Dead incarnations' objects: kept until the end, after the runtime, so tasks the dead
  // process left queued never see freed memory. Declared before the nodes and runtime
  // (destroyed after them); services before stores (a service refers to its store).
  std::vector<std::unique_ptr<ProcessEnv>> dead_envs_;
  std::vector<std::unique_ptr<proto::ObjectStore>> dead_stores_;
  std::vector<std::unique_ptr<proto::S3Service>> dead_services_;
  // Transports of crashed clients (see CrashClient), destroyed before the services.
  std::vector<std::unique_ptr<proto::DirectTransport>> dead_transports_;
  // The RDMA fabric: InProcFabric (seeded loss/dup/reorder/corruption) under link flaps.
  std::unique_ptr<emu::InProcFabric> fabric_;
  std::unique_ptr<FlapFabric> flaps_;
  emu::FaultConfig fabric_faults_;
  core::Rng rdma_rng_{0};
  core::TimerHandle flap_timer_;
  std::map<uint64_t, RdmaSlot> slots_;
  uint64_t next_slot_ = 1;
  std::deque<Node> nodes_;
  std::deque<Client> clients_;  // the last one is the checker (no skew), used at the end
  std::unique_ptr<core::VirtualRuntime> rt_;

  struct InFlight {
    int client = 0;
    int node = 0;
    Done done;
    Late late;               // after a timeout
    bool timed_out = false;  // done already ran with Delivery::kTimedOut
  };
  std::map<uint64_t, InFlight> inflight_;
  uint64_t next_rid_ = 1;
  struct OpenOp {
    int client = 0;
    std::string what;  // for the liveness report
  };
  std::map<uint64_t, OpenOp> open_ops_;
  uint64_t next_op_ = 1;
  uint64_t issued_ = 0;
  uint64_t next_gen_ = 1;
  bool quiet_ = false;
  Time quiet_start_;
  core::TimerHandle crash_timer_;
  core::TimerHandle partition_timer_;
  // Slow drives: a seed has them (slow_drives_) or not; their own Rng, so the other
  // choices of a seed do not move.
  core::Rng drive_rng_{0};
  bool slow_drives_ = false;
  core::TimerHandle slow_timer_;
  core::Rng client_crash_rng_{0};
  bool client_crashes_ = false;
  core::TimerHandle client_crash_timer_;
  std::map<std::pair<int, int>, Time> partitions_;  // (client, node) -> cut off until
  std::vector<std::shared_ptr<std::function<void(int)>>> chains_;  // multipart step chains
  bool verify_done_ = false;
};

class NodeLink final : public proto::S3Transport {
 public:
  NodeLink(World& w, Client& c, Node& n) : w_(w), c_(c), n_(n) {}
  void Send(proto::ClientRequest request, Callback done) override {
    w_.LinkSend(c_, n_, std::move(request), std::move(done));
  }
  int64_t NowUnix() const override {
    return kUnixBase + c_.skew_seconds + w_.runtime().Now().ps() / 1'000'000'000'000;
  }
  core::Runtime& runtime() override { return w_.runtime(); }

 private:
  World& w_;
  Client& c_;
  Node& n_;
};

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
    d.bytes_per_second = 1e9 * (1 + 2 * drive_rng_.NextDouble());
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
  // Its HTTP connections close: each node gets a new transport for the new process. The
  // old one is parked, not destroyed: DirectTransport::Finish's completion touches the
  // transport before checking it is alive, so destroying it while an RDMA transfer of the
  // server is still running (which a client crash does, unlike a node crash) is a
  // use-after-free (found by this; reported). Parked, it finishes what the server had (a
  // paced body keeps arriving) and its replies find no request here and are dropped.
  for (Node& n : nodes_) {
    if (!n.up) continue;
    auto& t = n.transports.at(static_cast<size_t>(c.index));
    dead_transports_.push_back(std::move(t));
    t = MakeTransport(n, c);
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
    const double factor = std::pow(10.0, 1.0 + 2.0 * drive_rng_.NextDouble());
    const auto span = Duration::Microseconds(static_cast<int64_t>(1000 + drive_rng_.Below(39000)));
    n.fs->SlowDown(factor, rt_->Now() + span);
    ++result_.slow_drive_periods;
    char line[128];
    std::snprintf(line, sizeof(line), "SLOW DRIVE node%d: %.0fx for %lld us", n.index, factor,
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
  if (!n.up || Partitioned(c, n)) {
    rt_->Post([checked = std::move(checked), up = n.up] {
      checked(core::Status::Unavailable(up ? "connect timeout: partitioned"
                                           : "connection refused: node down"),
              Delivery::kRefused, false);
    });
    return;
  }
  const uint64_t rid = next_rid_++;
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
    Done done = std::move(it->second.done);
    done(core::Status::Unavailable("timeout: no reply within " +
                                   std::to_string(kRequestTimeout.us() / 1000) + " ms"),
         Delivery::kTimedOut, false);
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

void World::DoPut(Client& c, Node& n, const std::string& key, std::function<void()> finish,
                  std::optional<Segment> retry_of) {
  const Segment seg = retry_of ? *retry_of : Segment{next_gen_++, PickSize(c.rng)};
  if (!retry_of && seg.size > 0 && UseRdma(c)) {
    DoRdmaPut(c, n, key, seg, std::move(finish));
    return;
  }
  proto::ClientRequest req;
  req.method = "PUT";
  req.bucket = kBucket;
  req.key = key;
  req.body = GenerateBytes(seg.gen, seg.size);
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), false, {seg}, rt_->Now());
  const std::string what = "PUT node" + std::to_string(n.index) + "/" + key + " (" +
                           std::to_string(seg.size) + " B)" + (retry_of ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(
      c, n, std::move(req), what,
      [this, id, finish, client, node, key, seg, retried = retry_of.has_value()](
          Reply r, Delivery how, bool) {
        if (how == Delivery::kTimedOut) {
          // The write stays in flight in the model until the server's outcome arrives.
          if (!retried) {
            DoPut(*client, *node, key, finish, seg);
          } else {
            finish();
          }
          return;
        }
        EndWrite(id, r, how, false);
        finish();
      },
      [this, id](Reply, Delivery) { EndLateWrite(id); });
}

void World::DoDelete(Client& c, Node& n, const std::string& key, std::function<void()> finish,
                     int attempt) {
  proto::ClientRequest req;
  req.method = "DELETE";
  req.bucket = kBucket;
  req.key = key;
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), true, {}, rt_->Now());
  const std::string what =
      "DELETE node" + std::to_string(n.index) + "/" + key + (attempt > 0 ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(
      c, n, std::move(req), what,
      [this, id, finish, client, node, key, attempt](Reply r, Delivery how, bool) {
        if (how == Delivery::kTimedOut) {
          if (attempt == 0) {
            DoDelete(*client, *node, key, finish, 1);
          } else {
            finish();
          }
          return;
        }
        EndWrite(id, r, how, true);
        finish();
      },
      [this, id](Reply, Delivery) { EndLateWrite(id); });
}

void World::DoGet(Client& c, Node& n, const std::string& key, bool ranged,
                  std::function<void()> finish, int attempt) {
  proto::ClientRequest req;
  req.method = "GET";
  req.bucket = kBucket;
  req.key = key;
  uint64_t offset = 0;
  if (ranged) {
    offset = c.rng.Below(20000);
    const uint64_t len = 1 + c.rng.Below(9000);
    req.headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-" +
                                          std::to_string(offset + len - 1));
  }
  const Time invoke = rt_->Now();
  const std::string mkey = ModelKey(n, key);
  const std::string what = std::string(ranged ? "RANGE GET" : "GET") + " node" +
                           std::to_string(n.index) + "/" + key + (attempt > 0 ? " retry" : "");
  Client* client = &c;
  Node* node = &n;
  Send(c, n, std::move(req), what,
       [this, invoke, mkey, what, offset, ranged, finish, client, node, key, attempt](
           Reply r, Delivery how, bool usable) {
         if (how == Delivery::kTimedOut && attempt == 0) {
           DoGet(*client, *node, key, ranged, finish, 1);
           return;
         }
         if (usable) CheckGetReply(what, mkey, invoke, offset, ranged, r);
         finish();
       });
}

void World::CheckGetReply(const std::string& what, const std::string& mkey, Time invoke,
                        uint64_t offset, bool ranged, const Reply& r) {
  const Time end = rt_->Now();
  if (r.ok() && r->status == 206) {
    const std::string* cr = r->Header("content-range");
    const size_t slash = cr ? cr->rfind('/') : std::string::npos;
    if (slash == std::string::npos) {
      Fail("read", what + ": 206 without a Content-Range total");
    } else {
      const uint64_t total = std::strtoull(cr->c_str() + slash + 1, nullptr, 10);
      CheckRead(what, model_.CheckRange(mkey, invoke, end, offset, r->body, total));
    }
  } else if (r.ok()) {
    CheckRead(what, model_.CheckGet(mkey, invoke, end, r->body));
    const std::string* etag = r->Header("etag");
    if (etag == nullptr) {
      Fail("read", what + ": no ETag");
    } else if (StripQuotes(*etag).find('-') == std::string::npos &&
               StripQuotes(*etag) != proto::HexEncode(proto::Md5(r->body))) {
      Fail("read", what + ": served " + std::to_string(r->body.size()) +
                       " bytes whose MD5 is not their ETag " + *etag);
    }
  } else if (proto::IsS3Error(r.status(), proto::S3Err::kNoSuchKey)) {
    CheckRead(what, model_.CheckGet(mkey, invoke, end, std::nullopt));
  } else if (ranged && proto::IsS3Error(r.status(), proto::S3Err::kInvalidRange)) {
    CheckRead(what, model_.CheckUnsatisfiableRange(mkey, invoke, end, offset));
  }
}

void World::LinkSend(Client& c, Node& n, proto::ClientRequest req,
                     proto::S3Transport::Callback done) {
  ++result_.requests;
  if (!n.up || Partitioned(c, n)) {
    rt_->Post([done = std::move(done), up = n.up] {
      done(core::Status::Unavailable(up ? "connect timeout: partitioned"
                                        : "connection refused: node down"));
    });
    return;
  }
  const uint64_t rid = next_rid_++;
  // No client timeout on the RDMA path: the request's buffer must stay registered while
  // the server may still RDMA into it (RdmaClient has no cancel), so it waits.
  inflight_[rid] = InFlight{c.index, n.index,
                            [done = std::move(done)](Reply r, Delivery, bool) {
                              done(std::move(r));
                            },
                            nullptr, false};
  Client* client = &c;
  Node* node = &n;
  n.transports.at(static_cast<size_t>(c.index))->Send(std::move(req), [this, rid, client, node](
                                                                           Reply r) {
    Arrive(rid, client, node, std::move(r));
  });
}

uint64_t World::NewSlot(Client& c, Node& n, size_t region, const std::string& bytes,
                        const std::string& what, size_t back_guard) {
  const uint64_t id = next_slot_++;
  RdmaSlot& s = slots_[id];
  s.region = region;
  s.back_guard = back_guard;
  s.what = what;
  s.client = c.index;
  const size_t total = kGuard + region + back_guard;
  s.mem = std::make_unique<char[]>(total);
  std::fill_n(s.mem.get(), total, kGuardByte);
  std::fill_n(s.mem.get() + kGuard, region, kFillByte);
  std::copy(bytes.begin(), bytes.end(), s.mem.get() + kGuard);
  auto buf = c.rdma.at(static_cast<size_t>(n.index))->RegisterBuffer(s.mem.get(), total);
  S3_CHECK_MSG(buf.ok(), "dst: RegisterBuffer: " + buf.status().ToString());
  s.buffer = std::move(buf).value();
  return id;
}

void World::EndSlot(uint64_t slot, std::optional<uint64_t> written) {
  auto it = slots_.find(slot);
  if (it == slots_.end()) return;
  const RdmaSlot& s = it->second;
  const char* m = s.mem.get();
  auto guard_ok = [](const char* p, size_t n) {
    return std::all_of(p, p + n, [](char x) { return x == kGuardByte; });
  };
  if (!guard_ok(m, kGuard) || !guard_ok(m + kGuard + s.region, s.back_guard)) {
    Fail("rdma-memory", s.what + ": registered bytes outside the token's " +
                            std::to_string(s.region) + " B (the guards around it) were " +
                            "overwritten");
  }
  if (written) {
    const uint64_t w = std::min<uint64_t>(*written, s.region);
    if (!std::all_of(m + kGuard + w, m + kGuard + s.region,
                     [](char x) { return x == kFillByte; })) {
      Fail("rdma-memory", s.what + ": the buffer changed beyond the " + std::to_string(*written) +
                              " bytes the reply says were transferred");
    }
  }
  slots_.erase(it);
}

bool World::CheckRdmaAuth(const Client& c, const Node& n, const core::Status& st,
                          const std::string& what) {
  const bool skew_error = !st.ok() && proto::IsS3Error(st, proto::S3Err::kRequestTimeTooSkewed);
  if (Skewed(c, n)) {
    if (skew_error) ++result_.skew_rejections;
    if (st.ok()) {
      Fail("clock-skew", what + " from a client " + std::to_string(c.skew_seconds - n.skew_seconds) +
                             " s off the server's clock succeeded");
    }
    return false;
  }
  if (skew_error) {
    Fail("clock-skew", what + " inside the 15-minute window was refused as skewed");
    return false;
  }
  return true;
}

// The fabric only loses packets the RC engine retransmits, flaps are far shorter than the
// server QP's retry budget (7 x 67 ms) and a crash cuts the request (Unavailable): an
// answered RDMATransferFailed therefore means the server itself broke the transfer.
void World::CheckRdmaFailure(const core::Status& st, const std::string& what) {
  // The client reports the server's error as "<code>: <message>" (its Status code is the
  // HTTP class), so the code is matched in the message.
  if (!st.ok() && (proto::IsRdmaError(st, proto::kErrRdmaTransferFailed) ||
                   st.message().rfind(proto::kErrRdmaTransferFailed, 0) == 0)) {
    Fail("rdma-transfer", what + ": " + st.ToString() +
                              " (no fault of this world can exhaust the RC retries)");
  }
}

void World::DoRdmaPut(Client& c, Node& n, const std::string& key, Segment seg,
                      std::function<void()> finish) {
  const std::string what = "RDMA PUT node" + std::to_string(n.index) + "/" + key + " (" +
                           std::to_string(seg.size) + " B)";
  const uint64_t slot = NewSlot(c, n, seg.size, GenerateBytes(seg.gen, seg.size), what);
  const DstModel::WriteId id = model_.BeginWrite(ModelKey(n, key), false, {seg}, rt_->Now());
  Client* client = &c;
  Node* node = &n;
  c.rdma.at(static_cast<size_t>(n.index))
      ->Put(kBucket, key, slots_.at(slot).buffer, kGuard, seg.size, {},
            [this, client, node, slot, id, what, finish](core::Result<proto::RdmaResult> r) {
              EndSlot(slot, std::nullopt);
              NoteRdma(r.ok());
              Trace("client" + std::to_string(client->index) + " " + what + " -> " +
                    (r.ok() ? std::to_string(r->status) : r.status().ToString()));
              const core::Status st = r.ok() ? core::Status::Ok() : r.status();
              if (CheckRdmaAuth(*client, *node, st, what)) CheckRdmaFailure(st, what);
              // 2xx acked; a 4xx S3 error refused it; anything else (cut, 5xx) is unknown.
              WriteOutcome outcome = WriteOutcome::kUnknown;
              if (r.ok()) {
                outcome = WriteOutcome::kAcked;
                ++result_.acked_writes;
              } else {
                const int http = proto::ToS3Error(r.status()).http_status;
                if (http >= 400 && http < 500 &&
                    r.status().code() != core::StatusCode::kUnavailable) {
                  outcome = WriteOutcome::kFailed;
                } else {
                  ++result_.unknown_writes;
                }
              }
              model_.EndWrite(id, outcome, rt_->Now());
              finish();
            });
}

void World::DoRdmaGet(Client& c, Node& n, const std::string& key, bool ranged,
                      std::function<void()> finish) {
  std::optional<proto::ByteRange> range;
  uint64_t offset = 0;
  uint64_t len = 0;
  if (ranged) {
    offset = c.rng.Below(20000);
    len = 1 + c.rng.Below(9000);
    range = proto::ByteRange{offset, offset + len - 1};
  }
  // The token asks for the bytes wanted: a range's length, or a buffer every object fits;
  // sometimes a smaller one (RDMABufferTooSmall is then legal).
  const bool small = c.rdma_rng.Below(100) < 15;
  const size_t region = small ? 1 + c.rdma_rng.Below(8192) : ranged ? len : kGetBufferBytes;
  const std::string mkey = ModelKey(n, key);
  const std::string what = std::string(ranged ? "RDMA RANGE GET" : "RDMA GET") + " node" +
                           std::to_string(n.index) + "/" + key + " into " +
                           std::to_string(region) + " B";
  const uint64_t slot = NewSlot(c, n, region, "", what, kGetBackGuard);
  const Time invoke = rt_->Now();
  Client* client = &c;
  Node* node = &n;
  c.rdma.at(static_cast<size_t>(n.index))
      ->Get(kBucket, key, range, slots_.at(slot).buffer, kGuard, region,
            [this, client, node, slot, invoke, mkey, what, offset, ranged, finish](
                core::Result<proto::RdmaResult> r) {
              Trace("client" + std::to_string(client->index) + " " + what + " -> " +
                    (r.ok() ? std::to_string(r->status) + " " + std::to_string(r->bytes) + " B"
                            : r.status().ToString()));
              const RdmaSlot& s = slots_.at(slot);
              Reply reply = core::Status::Unavailable("placeholder");
              if (!r.ok()) reply = r.status();
              if (r.ok()) {
                proto::ClientResponse resp;
                resp.status = r->status;
                resp.headers = r->headers;
                resp.body.assign(s.mem.get() + kGuard, std::min<uint64_t>(r->bytes, s.region));
                reply = std::move(resp);
                result_.history_hash = core::Mix64(result_.history_hash ^ Fingerprint(reply->body));
              }
              // A refused GET (4xx: no key, bad range, buffer too small) wrote nothing; a
              // served one wrote exactly its bytes.
              std::optional<uint64_t> written;
              if (r.ok()) written = r->bytes;
              const core::Status st = r.ok() ? core::Status::Ok() : r.status();
              const int http = r.ok() ? 200 : proto::ToS3Error(st).http_status;
              if (!r.ok() && http >= 400 && http < 500 && st.code() != core::StatusCode::kUnavailable) {
                written = 0;
              }
              if (CheckRdmaAuth(*client, *node, st, what)) {
                CheckRdmaFailure(st, what);
                CheckGetReply(what, mkey, invoke, offset, ranged, reply);
              }
              EndSlot(slot, written);
              NoteRdma(r.ok());
              finish();
            });
}

void World::ScheduleFlap() {
  const auto delay = Duration::Microseconds(static_cast<int64_t>(rdma_rng_.Exponential(25000.0)));
  flap_timer_ = rt_->After(delay, [this] {
    if (quiet_) return;
    const int c = static_cast<int>(rdma_rng_.Below(clients_.size() - 1));
    const int n = static_cast<int>(rdma_rng_.Below(nodes_.size()));
    const auto span = Duration::Microseconds(static_cast<int64_t>(100 + rdma_rng_.Below(20000)));
    flaps_->Cut(clients_[static_cast<size_t>(c)].ip, NodeIp(n), rt_->Now() + span);
    Trace("FLAP client" + std::to_string(c) + " <-> node" + std::to_string(n) + " link down for " +
          std::to_string(span.us()) + " us");
    ScheduleFlap();
  });
}

void World::DoList(Client& c, Node& n, std::function<void()> finish) {
  proto::ClientRequest req;
  req.method = "GET";
  req.bucket = kBucket;
  const uint64_t p = c.rng.Below(3);
  const std::string prefix = p == 0 ? "" : p == 1 ? "a/" : "b/";
  req.query = {{"list-type", "2"}, {"prefix", prefix}};
  const Time invoke = rt_->Now();
  const std::string what = "LIST node" + std::to_string(n.index) + " prefix '" + prefix + "'";
  Node* node = &n;
  Send(c, n, std::move(req), what, [this, node, invoke, prefix, what, finish](
                                       Reply r, Delivery, bool usable) {
    if (usable && r.ok()) {
      std::map<std::string, uint64_t> listed;
      const std::string& xml = r->body;
      size_t pos = 0;
      while ((pos = xml.find("<Contents>", pos)) != std::string::npos) {
        const size_t end = xml.find("</Contents>", pos);
        if (end == std::string::npos) break;
        const std::string entry = xml.substr(pos, end - pos);
        listed[proto::XmlTag(entry, "Key")] =
            std::strtoull(proto::XmlTag(entry, "Size").c_str(), nullptr, 10);
        pos = end;
      }
      for (const auto& [k, size] : listed) {
        if (std::find(keys_.begin(), keys_.end(), k) == keys_.end() ||
            k.compare(0, prefix.size(), prefix) != 0) {
          Fail("list", what + ": lists '" + k + "', a key never written under the prefix");
        }
      }
      for (const std::string& k : keys_) {
        if (k.compare(0, prefix.size(), prefix) != 0) continue;
        auto it = listed.find(k);
        CheckRead(what + " key " + k,
                  model_.CheckListed(ModelKey(*node, k), invoke, rt_->Now(),
                                     it == listed.end() ? std::nullopt
                                                        : std::optional<uint64_t>(it->second)));
      }
    }
    finish();
  });
}

void World::DoMultipart(Client& c, Node& n, const std::string& key,
                        std::function<void()> finish) {
  struct Upload {
    std::string id;
    int parts = 0;
    std::vector<Segment> segments;
    std::string xml = "<CompleteMultipartUpload>";
    bool abort = false;
  };
  auto up = std::make_shared<Upload>();
  up->parts = 1 + static_cast<int>(c.rng.Below(3));
  up->abort = c.rng.Below(100) < 10;
  for (int i = 0; i < up->parts; ++i) {
    const bool last = i + 1 == up->parts;
    up->segments.push_back(
        {next_gen_++, last ? c.rng.Below(3000) : kMinPartBytes + c.rng.Below(3000)});
  }
  const std::string what = "MULTIPART node" + std::to_string(n.index) + "/" + key;
  Node* node = &n;
  // Each step continues from the reply of the previous one. The chain is owned by the
  // world (chains_), the callbacks hold it weakly: no reference cycle, whatever happens.
  auto owned = std::make_shared<std::function<void(int)>>();
  chains_.push_back(owned);
  std::weak_ptr<std::function<void(int)>> step = owned;
  auto abort = [this, &c, node, key, up, what, finish] {
    proto::ClientRequest req;
    req.method = "DELETE";
    req.bucket = kBucket;
    req.key = key;
    req.query = {{"uploadId", up->id}};
    Send(c, *node, std::move(req), what + " abort", [finish](Reply, Delivery, bool) {
      finish();
    });
  };
  *owned = [this, &c, node, key, up, what, finish, step, abort](int part) {
    proto::ClientRequest req;
    req.bucket = kBucket;
    req.key = key;
    if (part <= up->parts) {
      const Segment& seg = up->segments[static_cast<size_t>(part - 1)];
      auto next_part = [up, part, step, abort](bool usable, const std::string* etag) {
        if (!usable || etag == nullptr) {
          abort();
          return;
        }
        up->xml += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                   *etag + "</ETag></Part>";
        if (auto next = step.lock()) (*next)(part + 1);
      };
      if (seg.size > 0 && UseRdma(c)) {
        const std::string pwhat = "RDMA " + what + " part " + std::to_string(part);
        const uint64_t slot = NewSlot(c, *node, seg.size, GenerateBytes(seg.gen, seg.size), pwhat);
        c.rdma.at(static_cast<size_t>(node->index))
            ->UploadPart(kBucket, key, up->id, part, slots_.at(slot).buffer, kGuard, seg.size,
                         [this, &c, node, slot, pwhat, next_part](core::Result<proto::RdmaResult> r) {
                           EndSlot(slot, std::nullopt);
                           NoteRdma(r.ok());
                           Trace("client" + std::to_string(c.index) + " " + pwhat + " -> " +
                                 (r.ok() ? std::to_string(r->status) : r.status().ToString()));
                           const core::Status st = r.ok() ? core::Status::Ok() : r.status();
                           const bool usable = CheckRdmaAuth(c, *node, st, pwhat);
                           if (usable) CheckRdmaFailure(st, pwhat);
                           next_part(usable && r.ok(), r.ok() ? &r->etag : nullptr);
                         });
        return;
      }
      req.method = "PUT";
      req.query = {{"partNumber", std::to_string(part)}, {"uploadId", up->id}};
      req.body = GenerateBytes(seg.gen, seg.size);
      Send(c, *node, std::move(req), what + " part " + std::to_string(part),
           [next_part](Reply r, Delivery, bool usable) {
             next_part(usable && r.ok(), r.ok() ? r->Header("etag") : nullptr);
           });
      return;
    }
    if (up->abort) {
      Trace("client" + std::to_string(c.index) + " " + what + " -> abort on purpose");
      abort();
      return;
    }
    req.method = "POST";
    req.query = {{"uploadId", up->id}};
    req.body = up->xml + "</CompleteMultipartUpload>";
    const DstModel::WriteId id =
        model_.BeginWrite(ModelKey(*node, key), false, up->segments, rt_->Now());
    Send(c, *node, std::move(req), what + " complete",
         [this, id, what, finish](Reply r, Delivery how, bool usable) {
           if (how == Delivery::kTimedOut) {  // in flight in the model until it ends
             finish();
             return;
           }
           EndWrite(id, r, how, false);
           if (usable && (proto::IsS3Error(r.status(), proto::S3Err::kNoSuchUpload) ||
                          proto::IsS3Error(r.status(), proto::S3Err::kInvalidPart))) {
             Fail("durability", what + ": every part was acknowledged, yet completing says " +
                                    r.status().ToString());
           }
           finish();
         },
         [this, id](Reply, Delivery) { EndLateWrite(id); });
  };
  proto::ClientRequest req;
  req.method = "POST";
  req.bucket = kBucket;
  req.key = key;
  req.query = {{"uploads", ""}};
  Send(c, n, std::move(req), what + " create",
       [up, step, finish](Reply r, Delivery, bool usable) {
         if (usable && r.ok()) up->id = proto::XmlTag(r->body, "UploadId");
         if (up->id.empty()) {
           finish();
           return;
         }
         if (auto first = step.lock()) (*first)(1);
       });
}

void World::Verify(size_t node, size_t key) {
  if (node >= nodes_.size()) {
    verify_done_ = true;
    return;
  }
  Client& checker = clients_.back();
  Node& n = nodes_[node];
  if (key >= keys_.size()) {
    DoList(checker, n, [this, node] { Verify(node + 1, 0); });
    return;
  }
  DoGet(checker, n, keys_[key], false, [this, node, key] { Verify(node, key + 1); });
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

}  // namespace

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
