#include "sim/sim_fs.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <set>

#include "core/check.h"

namespace s3rdma::sim {

namespace {
constexpr uint64_t kRoot = 0;
constexpr uint64_t kNoDir = ~uint64_t{0};
constexpr uint64_t kBlockBytes = 4096;

core::Status Stale(const std::string& path) {
  return core::Status::IOError(path + ": file opened before a crash");
}
}  // namespace

// Bytes of one file; durable_len bytes of them survive any crash (files only grow).
struct SimFs::FileNode {
  std::string data;
  uint64_t durable_len = 0;
};

class SimFs::Handle final : public proto::FsFile {
 public:
  Handle(SimFs& fs, std::shared_ptr<FileNode> node, bool writable, std::string path)
      : fs_(fs), node_(std::move(node)), generation_(fs.generation_),
        opened_in_(*fs.generation_), writable_(writable), path_(std::move(path)) {}

  core::Status Append(std::string_view data) override {
    if (*generation_ != opened_in_) return Stale(path_);
    if (!writable_) return core::Status::IOError("append " + path_ + ": opened read-only");
    if (fs_.InjectFault(fs_.faults_.append_error_probability)) {
      return core::Status::IOError("append " + path_ + ": injected I/O error");
    }
    node_->data.append(data);
    fs_.Charge(fs_.drive_.append, data.size());
    ++fs_.stats_.appends;
    fs_.stats_.bytes_appended += data.size();
    return core::Status::Ok();
  }
  core::Result<size_t> PRead(uint64_t offset, char* dst, size_t len) override {
    if (*generation_ != opened_in_) return Stale(path_);
    if (offset >= node_->data.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(len, node_->data.size() - offset);
    std::memcpy(dst, node_->data.data() + offset, n);
    fs_.Charge(fs_.drive_.read, n);
    return n;
  }
  core::Result<uint64_t> Size() override {
    if (*generation_ != opened_in_) return Stale(path_);
    return uint64_t{node_->data.size()};
  }
  core::Status Sync() override {
    if (*generation_ != opened_in_) return Stale(path_);
    if (fs_.InjectFault(fs_.faults_.sync_error_probability)) {
      return core::Status::IOError("fsync " + path_ + ": injected I/O error");
    }
    ++fs_.stats_.syncs;
    fs_.Charge(fs_.drive_.sync);
    node_->durable_len = node_->data.size();
    return core::Status::Ok();
  }

 private:
  SimFs& fs_;
  std::shared_ptr<FileNode> node_;
  std::shared_ptr<uint64_t> generation_;
  uint64_t opened_in_;
  bool writable_;
  std::string path_;
};

SimFs::SimFs(uint64_t seed)
    : crash_rng_(core::Rng(seed).Fork("simfs-crash")),
      fault_rng_(core::Rng(seed).Fork("simfs-faults")),
      generation_(std::make_shared<uint64_t>(0)) {
  dirs_[kRoot];
  durable_dirs_[kRoot];
}

SimFs::~SimFs() = default;

void SimFs::AttachDrive(const core::Runtime& runtime, const SimDrive& drive) {
  S3_CHECK(drive.rate.bps() > 0);
  drive_rt_ = &runtime;
  drive_ = drive;
  busy_until_ = runtime.Now();
}

void SimFs::SlowDown(int64_t factor, core::Time until) {
  S3_CHECK(factor >= 1);
  slow_factor_ = factor;
  slow_until_ = until;
  ++stats_.slow_periods;
}

void SimFs::Charge(core::Duration base, uint64_t bytes) {
  if (drive_rt_ == nullptr) return;
  const core::Time now = drive_rt_->Now();
  core::Duration cost =
      base + drive_.rate.TransmitTime(core::Bytes(static_cast<int64_t>(bytes)));
  if (now < slow_until_) {
    cost = cost * slow_factor_;
    ++stats_.slowed_calls;
  }
  const core::Time start = std::max(now, busy_until_);
  stats_.max_wait = std::max(stats_.max_wait, start - now);
  stats_.busy += cost;
  busy_until_ = start + cost;
  idle_history_[now] = busy_until_;
  // Keep one second of history (replies are held at most a client latency after the call).
  const core::Time horizon = now - core::Duration::Seconds(1);
  while (idle_history_.size() > 1 && std::next(idle_history_.begin())->first <= horizon) {
    idle_history_.erase(idle_history_.begin());
  }
}

core::Time SimFs::IdleAt(core::Time t) const {
  auto it = idle_history_.upper_bound(t);
  if (it == idle_history_.begin()) return t;
  return std::max(t, std::prev(it)->second);
}

bool SimFs::InjectFault(double probability) {
  if (probability <= 0.0 || !fault_rng_.Bernoulli(probability)) return false;
  ++stats_.injected_errors;
  return true;
}

core::Result<SimFs::Resolved> SimFs::Resolve(const std::string& path) const {
  std::vector<std::string_view> parts;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return core::Status::InvalidArgument(path + ": '..' is not supported");
    parts.push_back(part);
  }
  Resolved r;
  if (parts.empty()) {
    r.exists = true;
    r.node = Node{kRoot, true};
    r.parent = kRoot;
    return r;
  }
  uint64_t dir = kRoot;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const Entries& entries = dirs_.at(dir);
    auto it = entries.find(std::string(parts[i]));
    if (it == entries.end() || !it->second.is_dir) {
      return core::Status::NotFound(path + ": no such directory: " + std::string(parts[i]));
    }
    dir = it->second.id;
  }
  r.parent = dir;
  r.name = std::string(parts.back());
  const Entries& entries = dirs_.at(dir);
  auto it = entries.find(r.name);
  if (it != entries.end()) {
    r.exists = true;
    r.node = it->second;
  }
  return r;
}

core::Result<uint64_t> SimFs::ResolveDir(const std::string& path) const {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (!r.exists) return core::Status::NotFound(path + ": no such directory");
  if (!r.node.is_dir) return core::Status::IOError(path + ": not a directory");
  return r.node.id;
}

bool SimFs::IsAncestor(uint64_t dir, uint64_t maybe_descendant) const {
  if (dir == maybe_descendant) return true;
  for (const auto& [name, child] : dirs_.at(dir)) {
    if (child.is_dir && IsAncestor(child.id, maybe_descendant)) return true;
  }
  return false;
}

void SimFs::Journal(Op op) {
  pending_.push_back(std::move(op));
  if (files_.size() + dirs_.size() > gc_threshold_) {
    CollectGarbage();
    gc_threshold_ = std::max<size_t>(1024, 2 * (files_.size() + dirs_.size()));
  }
}

void SimFs::ApplyDurable(const Op& op) {
  if (op.kind == Op::Kind::kUnlink) {
    auto dir = durable_dirs_.find(op.src_dir);
    if (dir == durable_dirs_.end()) return;
    auto it = dir->second.find(op.src_name);
    if (it != dir->second.end() && it->second == op.node) {
      dir->second.erase(it);
      durable_loc_.erase(op.node.id);
    }
    return;
  }
  // A link moves the node: it has at most one durable name.
  if (auto loc = durable_loc_.find(op.node.id); loc != durable_loc_.end()) {
    auto dir = durable_dirs_.find(loc->second.dir);
    if (dir != durable_dirs_.end()) dir->second.erase(loc->second.name);
    durable_loc_.erase(loc);
  }
  Entries& dst = durable_dirs_[op.dst_dir];
  if (auto old = dst.find(op.dst_name); old != dst.end()) durable_loc_.erase(old->second.id);
  dst[op.dst_name] = op.node;
  durable_loc_[op.node.id] = Location{op.dst_dir, op.dst_name};
}

core::Result<std::unique_ptr<proto::FsFile>> SimFs::CreateFile(const std::string& path) {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (r.exists) return core::Status::AlreadyExists("create " + path + ": exists");
  const Node node{NewId(), false};
  auto file = std::make_shared<FileNode>();
  files_[node.id] = file;
  dirs_[r.parent][r.name] = node;
  Journal(Op{Op::Kind::kLink, node, kNoDir, {}, r.parent, r.name});
  Charge(drive_.metadata);
  return std::unique_ptr<proto::FsFile>(new Handle(*this, std::move(file), true, path));
}

core::Result<std::unique_ptr<proto::FsFile>> SimFs::OpenFile(const std::string& path) {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (!r.exists) return core::Status::NotFound("open " + path + ": no such file");
  if (r.node.is_dir) return core::Status::IOError("open " + path + ": is a directory");
  Charge(drive_.metadata);
  return std::unique_ptr<proto::FsFile>(new Handle(*this, files_.at(r.node.id), false, path));
}

core::Status SimFs::CreateDir(const std::string& path) {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (r.exists) return core::Status::AlreadyExists("mkdir " + path + ": exists");
  const Node node{NewId(), true};
  dirs_[node.id];
  durable_dirs_[node.id];
  dirs_[r.parent][r.name] = node;
  Journal(Op{Op::Kind::kLink, node, kNoDir, {}, r.parent, r.name});
  Charge(drive_.metadata);
  return core::Status::Ok();
}

core::Status SimFs::CreateDirs(const std::string& path) {
  std::string prefix;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t slash = std::min(path.find('/', pos), path.size());
    prefix = path.substr(0, slash);
    pos = slash + 1;
    if (prefix.empty() || prefix.back() == '/') continue;
    S3_ASSIGN_OR_RETURN(Resolved r, Resolve(prefix));
    if (r.exists) {
      if (!r.node.is_dir) return core::Status::IOError("mkdir " + prefix + ": not a directory");
      continue;
    }
    S3_RETURN_IF_ERROR(CreateDir(prefix));
  }
  return core::Status::Ok();
}

core::Result<std::vector<proto::FsDirEntry>> SimFs::ListDir(const std::string& path) {
  S3_ASSIGN_OR_RETURN(uint64_t dir, ResolveDir(path));
  std::vector<proto::FsDirEntry> out;
  for (const auto& [name, node] : dirs_.at(dir)) out.push_back({name, node.is_dir});
  Charge(drive_.metadata);
  return out;
}

core::Status SimFs::Rename(const std::string& from, const std::string& to) {
  S3_ASSIGN_OR_RETURN(Resolved src, Resolve(from));
  if (!src.exists) return core::Status::NotFound("rename " + from + ": no such file");
  S3_ASSIGN_OR_RETURN(Resolved dst, Resolve(to));
  if (src.node.id == kRoot) return core::Status::InvalidArgument("rename of the root");
  if (dst.exists && dst.node == src.node) return core::Status::Ok();
  if (src.node.is_dir) {
    if (IsAncestor(src.node.id, dst.parent)) {
      return core::Status::InvalidArgument("rename " + from + " into itself: " + to);
    }
    if (dst.exists && (!dst.node.is_dir || !dirs_.at(dst.node.id).empty())) {
      return core::Status::IOError("rename " + from + " " + to + ": target not an empty dir");
    }
  } else if (dst.exists && dst.node.is_dir) {
    return core::Status::IOError("rename " + from + " " + to + ": target is a directory");
  }
  dirs_.at(src.parent).erase(src.name);
  dirs_.at(dst.parent)[dst.name] = src.node;
  Journal(Op{Op::Kind::kLink, src.node, src.parent, src.name, dst.parent, dst.name});
  Charge(drive_.metadata);
  return core::Status::Ok();
}

core::Status SimFs::Unlink(const std::string& path) {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (!r.exists) return core::Status::NotFound("unlink " + path + ": no such file");
  if (r.node.is_dir) return core::Status::IOError("unlink " + path + ": is a directory");
  dirs_.at(r.parent).erase(r.name);
  Journal(Op{Op::Kind::kUnlink, r.node, r.parent, r.name, kNoDir, {}});
  Charge(drive_.metadata);
  return core::Status::Ok();
}

void SimFs::RemoveTree(uint64_t dir_id) {
  const Entries children = dirs_.at(dir_id);
  for (const auto& [name, child] : children) {
    if (child.is_dir) RemoveTree(child.id);
    dirs_.at(dir_id).erase(name);
    Journal(Op{Op::Kind::kUnlink, child, dir_id, name, kNoDir, {}});
  }
}

core::Status SimFs::RemoveAll(const std::string& path) {
  auto r = Resolve(path);
  if (!r.ok()) {
    return r.status().code() == core::StatusCode::kNotFound ? core::Status::Ok() : r.status();
  }
  if (!r->exists) return core::Status::Ok();
  if (r->node.id == kRoot) return core::Status::InvalidArgument("remove of the root");
  if (r->node.is_dir) RemoveTree(r->node.id);
  dirs_.at(r->parent).erase(r->name);
  Journal(Op{Op::Kind::kUnlink, r->node, r->parent, r->name, kNoDir, {}});
  Charge(drive_.metadata);
  return core::Status::Ok();
}

core::Status SimFs::SyncDir(const std::string& path) {
  S3_ASSIGN_OR_RETURN(uint64_t dir, ResolveDir(path));
  if (InjectFault(faults_.sync_error_probability)) {
    return core::Status::IOError("fsync " + path + ": injected I/O error");
  }
  ++stats_.syncs;
  Charge(drive_.sync);
  auto touches = [dir](const Op& op) { return op.src_dir == dir || op.dst_dir == dir; };
  size_t last = pending_.size();
  std::set<uint64_t> nodes;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (touches(pending_[i])) {
      last = i;
      nodes.insert(pending_[i].node.id);
    }
  }
  if (last == pending_.size()) return core::Status::Ok();
  // Apply, in journal order, the operations on this directory and the earlier ones on the
  // same nodes (a rename made durable must not be undone by an older create of its source).
  std::vector<Op> rest;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (i <= last && (touches(pending_[i]) || nodes.count(pending_[i].node.id) != 0)) {
      ApplyDurable(pending_[i]);
    } else {
      rest.push_back(std::move(pending_[i]));
    }
  }
  pending_ = std::move(rest);
  return core::Status::Ok();
}

bool SimFs::Exists(const std::string& path) {
  auto r = Resolve(path);
  return r.ok() && r->exists;
}

void SimFs::ResolveFileAtCrash(FileNode& f, SimFsCrashStats& stats) {
  const uint64_t durable = f.durable_len;
  const uint64_t unsynced = f.data.size() - durable;
  if (unsynced == 0) return;
  const uint64_t fate = crash_rng_.Below(3);
  if (fate == 0) {
    f.data.resize(durable);
    ++stats.files_lost;
  } else if (fate == 1) {
    ++stats.files_kept;
  } else if (crash_rng_.Bernoulli(0.5)) {
    // A strict prefix of the unsynced bytes made it.
    f.data.resize(durable + crash_rng_.Below(unsynced));
    ++stats.files_torn;
  } else {
    // The size made it (often all of it, as when the inode was written back but not all of
    // the data: ext4 data=writeback), some data blocks did not: they read as zeros.
    const uint64_t len =
        crash_rng_.Bernoulli(0.5) ? f.data.size() : durable + 1 + crash_rng_.Below(unsynced);
    f.data.resize(len);
    const uint64_t first_block = durable / kBlockBytes;
    const uint64_t blocks = (len + kBlockBytes - 1) / kBlockBytes - first_block;
    const uint64_t forced = first_block + crash_rng_.Below(blocks);
    for (uint64_t b = first_block; b < first_block + blocks; ++b) {
      if (b != forced && crash_rng_.Bernoulli(0.5)) continue;
      const uint64_t lo = std::max(durable, b * kBlockBytes);
      const uint64_t hi = std::min(len, (b + 1) * kBlockBytes);
      std::fill(f.data.begin() + static_cast<std::ptrdiff_t>(lo),
                f.data.begin() + static_cast<std::ptrdiff_t>(hi), '\0');
    }
    ++stats.files_torn;
  }
  f.durable_len = f.data.size();
}

SimFsCrashStats SimFs::Crash() {
  SimFsCrashStats stats;
  ++stats_.crashes;
  // Power loss empties the drive's queue: nothing queued will be waited for.
  if (drive_rt_ != nullptr) {
    busy_until_ = drive_rt_->Now();
    idle_history_.clear();
  }
  for (const Op& op : pending_) {
    if (crash_rng_.Bernoulli(0.5)) {
      ApplyDurable(op);
      ++stats.ops_kept;
    } else {
      ++stats.ops_lost;
    }
  }
  pending_.clear();
  dirs_ = durable_dirs_;
  for (auto& [id, file] : files_) ResolveFileAtCrash(*file, stats);
  ++*generation_;
  CollectGarbage();
  return stats;
}

void SimFs::CollectGarbage() {
  std::set<uint64_t> live{kRoot};
  std::deque<uint64_t> todo{kRoot};
  for (const Op& op : pending_) {
    if (live.insert(op.node.id).second && op.node.is_dir) todo.push_back(op.node.id);
  }
  auto visit = [&](const std::map<uint64_t, Entries>& tree, uint64_t dir) {
    auto it = tree.find(dir);
    if (it == tree.end()) return;
    for (const auto& [name, child] : it->second) {
      if (live.insert(child.id).second && child.is_dir) todo.push_back(child.id);
    }
  };
  while (!todo.empty()) {
    const uint64_t dir = todo.front();
    todo.pop_front();
    visit(dirs_, dir);
    visit(durable_dirs_, dir);
  }
  auto prune = [&](auto& table) {
    for (auto it = table.begin(); it != table.end();) {
      it = live.count(it->first) != 0 ? std::next(it) : table.erase(it);
    }
  };
  prune(files_);
  prune(dirs_);
  prune(durable_dirs_);
  prune(durable_loc_);
}

uint64_t SimFs::NotDurableForTesting() const {
  uint64_t n = pending_.size();
  for (const auto& [id, f] : files_) n += f->data.size() - f->durable_len;
  return n;
}

core::Result<std::string> SimFs::ReadFileForTesting(const std::string& path) {
  S3_ASSIGN_OR_RETURN(Resolved r, Resolve(path));
  if (!r.exists || r.node.is_dir) return core::Status::NotFound(path + ": no such file");
  return files_.at(r.node.id)->data;
}

}  // namespace s3rdma::sim
