// FsEnv: the file-system seam under FsStore (LevelDB's Env, reduced to what FsStore needs).
//
// FsStore does every file-system call through an FsEnv, so the same store code runs on the
// real disk (PosixFsEnv, the default) and on SimFs (sim/sim_fs.h), an in-memory file system
// that loses, keeps or tears whatever was not made durable when the simulated node crashes.
//
// Durability contract (what the store may rely on, and what SimFs enforces):
// - FsFile::Sync() makes the file's bytes and size durable (fsync).
// - A directory entry made by CreateFile / CreateDir / Rename / Unlink becomes durable only
//   when SyncDir() of the directory holding it returns OK.
// - Everything else may be lost, kept or torn (a prefix, or some blocks) by a crash.
// Errors: NotFound when a path (or its parent) does not exist, AlreadyExists when an
// exclusive create finds one, IOError for everything else. Messages name the path.
// Paths are absolute or relative strings with '/' separators; no symlinks are involved.
// Threading: an env is used from one thread (the store's).
#ifndef S3RDMA_PROTO_FS_ENV_H_
#define S3RDMA_PROTO_FS_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace s3rdma::proto {

// An open file. Closing (destruction) never syncs.
class FsFile {
 public:
  virtual ~FsFile() = default;
  // Appends at the end (files are written sequentially by FsStore). REQUIRES: opened for write.
  virtual core::Status Append(std::string_view data) = 0;
  // Reads up to `len` bytes at `offset`; fewer only at the end of the file.
  virtual core::Result<size_t> PRead(uint64_t offset, char* dst, size_t len) = 0;
  virtual core::Result<uint64_t> Size() = 0;
  // fsync(2): the bytes and size written so far are durable when this returns OK.
  virtual core::Status Sync() = 0;
  // A kernel file descriptor for sendfile(2), owned by this object; -1 if there is none
  // (simulated files).
  virtual int NativeFd() const { return -1; }
};

struct FsDirEntry {
  std::string name;
  bool is_dir = false;
};

class FsEnv {
 public:
  virtual ~FsEnv() = default;

  // Creates a new, empty file for writing (O_CREAT | O_EXCL): AlreadyExists if present.
  virtual core::Result<std::unique_ptr<FsFile>> CreateFile(const std::string& path) = 0;
  // Opens an existing file for reading.
  virtual core::Result<std::unique_ptr<FsFile>> OpenFile(const std::string& path) = 0;
  // mkdir(2): AlreadyExists if present, NotFound if the parent is missing.
  virtual core::Status CreateDir(const std::string& path) = 0;
  // mkdir -p: OK if the directory exists already.
  virtual core::Status CreateDirs(const std::string& path) = 0;
  // The entries of a directory (without "." and ".."), sorted by name.
  virtual core::Result<std::vector<FsDirEntry>> ListDir(const std::string& path) = 0;
  // rename(2): atomically replaces `to` if it exists (a file, or an empty directory).
  virtual core::Status Rename(const std::string& from, const std::string& to) = 0;
  // unlink(2) of a file.
  virtual core::Status Unlink(const std::string& path) = 0;
  // rm -rf: OK if absent. Not durable until the parent is synced.
  virtual core::Status RemoveAll(const std::string& path) = 0;
  // fsync(2) of a directory: its entries (names -> files) become durable.
  virtual core::Status SyncDir(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
};

// The real file system (POSIX calls). Stateless; one shared instance is enough.
class PosixFsEnv final : public FsEnv {
 public:
  core::Result<std::unique_ptr<FsFile>> CreateFile(const std::string& path) override;
  core::Result<std::unique_ptr<FsFile>> OpenFile(const std::string& path) override;
  core::Status CreateDir(const std::string& path) override;
  core::Status CreateDirs(const std::string& path) override;
  core::Result<std::vector<FsDirEntry>> ListDir(const std::string& path) override;
  core::Status Rename(const std::string& from, const std::string& to) override;
  core::Status Unlink(const std::string& path) override;
  core::Status RemoveAll(const std::string& path) override;
  core::Status SyncDir(const std::string& path) override;
  bool Exists(const std::string& path) override;
};

// The process-wide PosixFsEnv (it has no state, so sharing it is safe).
FsEnv& DefaultFsEnv();

// "a/b/c" -> "a/b"; "c" -> "."; "/c" -> "/".
std::string ParentPath(std::string_view path);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_FS_ENV_H_
