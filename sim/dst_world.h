// Internal to dst (sim/dst.cc, dst_ops.cc, dst_rdma.cc): the DST world's parts and the
// World class. Not an API: include only from those files.
#ifndef S3RDMA_SIM_DST_WORLD_H_
#define S3RDMA_SIM_DST_WORLD_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
#include "sim/dst.h"
#include "sim/dst_model.h"
#include "sim/sim_fs.h"

namespace s3rdma::sim::dst_internal {

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
// RdmaClientOptions::request_timeout of the clients: above the RC engine's worst recovery
// from a lost packet or a flap (7 x 67 ms), below a slow drive's worst backlog. A timed-out
// RDMA request resets its QP (the buffer is fenced) and is retried by nobody.
const Duration kRdmaRequestTimeout = Duration::Milliseconds(500);
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

inline uint32_t NodeIp(int i) { return (10u << 24) | (1u << 16) | static_cast<uint32_t>(i + 1); }
// Client i's address in its incarnation `inc` (a restarted client process gets a new
// NIC at a new address, so packets the servers still send to the dead one go nowhere).
inline uint32_t ClientIp(int i, uint64_t inc) {
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

inline std::string Secs(Time t) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", t.ToSeconds());
  return buf;
}

inline std::string StripQuotes(std::string s) {
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
  // Every outcome a client sees (answered, cut, refused by a partition... or its own timeout)
  // goes through here: folds it into the history hash, then runs `done`.
  void TellClient(uint64_t rid, Done done, Reply reply, Delivery how);
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
  // `resets_at_start`: RdmaResets(c, n) when the request was started (see CheckRdmaFailure).
  void CheckRdmaFailure(const Client& c, const Node& n, const core::Status& st,
                        const std::string& what, uint64_t resets_at_start);
  // How many connections client c has reset towards node n so far (its request timeouts:
  // each moves the timed-out request's QP to the error state and drops it).
  uint64_t RdmaResets(const Client& c, const Node& n) const {
    return c.rdma.at(static_cast<size_t>(n.index))->stats().timeouts;
  }
  // A DeadlineExceeded from the RDMA client (request_timeout): counts it.
  bool RdmaTimedOut(const core::Status& st) {
    if (st.code() != core::StatusCode::kDeadlineExceeded) return false;
    ++result_.timeouts;
    return true;
  }
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

}  // namespace s3rdma::sim::dst_internal

#endif  // S3RDMA_SIM_DST_WORLD_H_
