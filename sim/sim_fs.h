// SimFs: an in-memory file system (a proto::FsEnv) that crashes like a real disk.
//
// Modelled on FoundationDB's simulated files (AsyncFileNonDurable): whatever the program
// did not make durable is, at Crash(), lost, kept or torn, as a seeded Rng decides.
//
// File bytes. Files only grow by Append. Sync() makes the current bytes durable. At Crash()
// every file with unsynced bytes becomes one of (independently, per file):
//   lost  - back to its last synced length,
//   kept  - everything written survives,
//   torn  - a random prefix of the unsynced bytes survives, or the file keeps a random
//           length with some of its unsynced 4 KiB blocks zeroed (blocks the disk never
//           wrote, as with ext4 data=writeback).
// Synced bytes always survive.
//
// Names. CreateFile, CreateDir, Rename, Unlink and RemoveAll are namespace operations on a
// journal. SyncDir(d) makes durable every pending operation whose source or destination
// directory is d (with the earlier operations on the same files or directories it depends
// on). At Crash() each remaining operation is independently kept or lost; the kept ones
// are applied in order. An operation is atomic (a rename never leaves both names or
// neither), and every file or directory has at most one name, so a crash can leave an
// older version under a name, a file in its temporary place, or a removed name back, but
// never a directory reachable twice.
//
// After Crash() the file system holds only the surviving state, unreachable files are
// gone, and every FsFile opened before the crash fails with IOError (the process died).
//
// Faults (off by default): Append and Sync/SyncDir fail with IOError with a probability;
// a failed call changes nothing.
//
// Drive latency (off until AttachDrive). FsEnv is synchronous, so a call still returns at
// once and its effect (including durability) is immediate; what the drive adds is *when it
// would have finished*: one FIFO queue per file system, each call costing its SimDrive time
// (times the slow-drive factor while a SlowDown period lasts) after everything queued before
// it. IdleAt(t) is when all the I/O issued up to time t is done; the DST world holds a
// server's reply until then (a server that replies before its fsync finished would be the
// bug being tested). A crash empties the queue.
// Threading: single-threaded. Deterministic: the same seed and calls give the same result.
#ifndef S3RDMA_SIM_SIM_FS_H_
#define S3RDMA_SIM_SIM_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "core/runtime.h"
#include "core/time.h"
#include "core/units.h"
#include "proto/fs_env.h"

namespace s3rdma::sim {

struct SimFsFaults {
  double append_error_probability = 0.0;  // Append returns IOError, writes nothing
  double sync_error_probability = 0.0;    // Sync / SyncDir return IOError, make nothing durable
};

// Service times of one drive (an NVMe SSD by default). A call costs its fixed latency plus
// its bytes at `rate` (appends and reads).
struct SimDrive {
  core::Duration metadata = core::Duration::Microseconds(5);  // create, mkdir, rename, unlink, list
  core::Duration read = core::Duration::Microseconds(10);
  core::Duration append = core::Duration::Microseconds(2);
  core::Duration sync = core::Duration::Microseconds(50);  // Sync and SyncDir
  core::DataRate rate = core::DataRate::BytesPerSecond(2'000'000'000);
};

// What one Crash() did.
struct SimFsCrashStats {
  uint64_t files_lost = 0;  // unsynced bytes dropped
  uint64_t files_kept = 0;  // unsynced bytes all survived
  uint64_t files_torn = 0;  // part of the unsynced bytes survived
  uint64_t ops_lost = 0;    // pending namespace operations dropped
  uint64_t ops_kept = 0;    // pending namespace operations that survived
};

struct SimFsStats {
  uint64_t appends = 0;
  uint64_t bytes_appended = 0;
  uint64_t syncs = 0;  // Sync + SyncDir
  uint64_t injected_errors = 0;
  uint64_t crashes = 0;
  uint64_t slow_periods = 0;   // SlowDown calls
  uint64_t slowed_calls = 0;   // calls issued while a slow period lasted
  core::Duration busy;         // total drive service time
  core::Duration max_wait;     // longest a call waited in the queue before its service began
};

class SimFs final : public proto::FsEnv {
 public:
  explicit SimFs(uint64_t seed);
  ~SimFs() override;
  SimFs(const SimFs&) = delete;
  SimFs& operator=(const SimFs&) = delete;

  void set_faults(const SimFsFaults& faults) { faults_ = faults; }
  const SimFsFaults& faults() const { return faults_; }

  // Gives every call a service time on `runtime`'s clock (see the header comment). The
  // runtime must outlive the file system.
  void AttachDrive(const core::Runtime& runtime, const SimDrive& drive);
  // A slow drive: calls issued before `until` cost `factor` (>= 1) times their time, as an
  // SSD under garbage collection or a failing disk does. Replaces a current slow period.
  void SlowDown(int64_t factor, core::Time until);
  // Ends the slow period now (the quiet phase); queued work keeps its cost.
  void EndSlowDown() { slow_until_ = core::Time::Zero(); }
  // When the drive has done all the I/O issued at or before `t` (t itself if none was
  // pending). REQUIRES: t no earlier than ~1 s before the runtime's now.
  core::Time IdleAt(core::Time t) const;

  // Power loss: keeps what is durable, decides the fate of everything else (see above).
  SimFsCrashStats Crash();

  const SimFsStats& stats() const { return stats_; }
  // Unsynced bytes plus pending namespace operations: 0 means a crash would change nothing.
  uint64_t NotDurableForTesting() const;
  // Whole content of a file, or NotFound.
  core::Result<std::string> ReadFileForTesting(const std::string& path);

  core::Result<std::unique_ptr<proto::FsFile>> CreateFile(const std::string& path) override;
  core::Result<std::unique_ptr<proto::FsFile>> OpenFile(const std::string& path) override;
  core::Status CreateDir(const std::string& path) override;
  core::Status CreateDirs(const std::string& path) override;
  core::Result<std::vector<proto::FsDirEntry>> ListDir(const std::string& path) override;
  core::Status Rename(const std::string& from, const std::string& to) override;
  core::Status Unlink(const std::string& path) override;
  core::Status RemoveAll(const std::string& path) override;
  core::Status SyncDir(const std::string& path) override;
  bool Exists(const std::string& path) override;

  struct FileNode;  // defined in sim_fs.cc (shared with open files)

 private:
  class Handle;  // an open FsFile
  struct Node {
    uint64_t id = 0;
    bool is_dir = false;
    friend bool operator==(const Node& a, const Node& b) {
      return a.id == b.id && a.is_dir == b.is_dir;
    }
  };
  using Entries = std::map<std::string, Node>;
  // A namespace operation: link `node` as dst_dir/dst_name (moving it from wherever it was),
  // or remove the name src_dir/src_name if it still names `node`.
  struct Op {
    enum class Kind { kLink, kUnlink } kind = Kind::kLink;
    Node node;
    uint64_t src_dir = 0;  // for a move or unlink: where it was (or kNoDir)
    std::string src_name;
    uint64_t dst_dir = 0;  // for a link: where it goes
    std::string dst_name;
  };
  struct Location {
    uint64_t dir = 0;
    std::string name;
  };
  struct Resolved {
    uint64_t parent = 0;
    std::string name;
    bool exists = false;
    Node node;
  };

  // Splits and walks `path` through the current namespace. InvalidArgument for "..",
  // NotFound if a parent is missing or not a directory.
  core::Result<Resolved> Resolve(const std::string& path) const;
  core::Result<uint64_t> ResolveDir(const std::string& path) const;
  bool IsAncestor(uint64_t dir, uint64_t maybe_descendant) const;
  uint64_t NewId() { return next_id_++; }
  void Journal(Op op);
  // Applies one operation to the durable namespace.
  void ApplyDurable(const Op& op);
  void RemoveTree(uint64_t dir_id);
  bool InjectFault(double probability);
  // Queues one call of service time `base` (+ `bytes` at the drive's bandwidth).
  void Charge(core::Duration base, uint64_t bytes = 0);
  // Drops files and directories no name reaches (current or durable).
  void CollectGarbage();
  void ResolveFileAtCrash(FileNode& f, SimFsCrashStats& stats);

  core::Rng crash_rng_;
  core::Rng fault_rng_;
  SimFsFaults faults_;
  SimFsStats stats_;
  uint64_t next_id_ = 1;  // 0 is the root directory
  // Current namespace: directory id -> entries. Root is id 0.
  std::map<uint64_t, Entries> dirs_;
  // Durable namespace, and where each node durably lives.
  std::map<uint64_t, Entries> durable_dirs_;
  std::map<uint64_t, Location> durable_loc_;
  std::vector<Op> pending_;
  std::map<uint64_t, std::shared_ptr<FileNode>> files_;
  // Bumped by Crash(); open files remember the generation they were opened in.
  std::shared_ptr<uint64_t> generation_;
  size_t gc_threshold_ = 1024;
  // The drive: nullptr runtime = no latency.
  const core::Runtime* drive_rt_ = nullptr;
  SimDrive drive_;
  core::Time busy_until_;
  int64_t slow_factor_ = 1;
  core::Time slow_until_;
  // Issue time -> busy_until_ after the calls issued then (for IdleAt), recent ones only.
  std::map<core::Time, core::Time> idle_history_;
};

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_SIM_FS_H_
