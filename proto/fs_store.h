// FsStore: a durable object store in a directory.
//
// Layout under the data directory:
//   buckets/<bucket>/_bucket            creation time
//   buckets/<bucket>/<sha256(key)>.obj  object bytes followed by a trailer (see fs_store.cc)
//   uploads/<upload id>/_upload         the multipart upload (bucket, key, headers)
//   uploads/<upload id>/<n>.part        one part, same format as an object
//   tmp/                                files and directories being written
// Durability: every new file is written under tmp/, fsync'ed, renamed into place, and the
// parent directory fsync'ed before the call returns, so a crash leaves each object either in
// its old or its new version, never torn. Object file names are hashes of the keys and bucket
// names and upload ids are validated, so no request can reach outside the directory.
// Open() deletes everything in tmp/ (leftovers of interrupted writes) and rebuilds an
// in-memory index (keys, sizes, ETags) from the files; listings come from that index.
// Every file-system call goes through an FsEnv (fs_env.h): the real disk by default, SimFs
// in deterministic simulation tests, which crash the store and reopen it on what survived.
//
// Planted bugs (docs/dst.md): when the build has S3RDMA_PLANT_BUGS, PlantBugForTesting()
// switches on a known durability bug so the simulation tests can show their checkers catch
// it. Without the build option the hooks are constant-false and compile away.
#ifndef S3RDMA_PROTO_FS_STORE_H_
#define S3RDMA_PROTO_FS_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/rng.h"
#include "proto/fs_env.h"
#include "proto/object_store.h"

namespace s3rdma::proto {

#ifndef S3RDMA_PLANT_BUGS
#define S3RDMA_PLANT_BUGS 0
#endif
// True when this build compiles the planted-bug hooks in (CMake option S3RDMA_PLANT_BUGS).
inline constexpr bool kPlantedBugsBuilt = S3RDMA_PLANT_BUGS != 0;

enum class FsStoreBug {
  kNone,
  // Commit acknowledges without fsync'ing the file or the directory entry.
  kAckBeforeFsync,
  // Commit renames the file into place and syncs the directory before the file's bytes are
  // durable (the classic "rename without fsync" zero-length-file bug).
  kTornCommit,
};

class FsStore final : public ObjectStore {
 public:
  // Opens or creates the store in `dir` on `env` (which must outlive the store). `seed` feeds
  // upload ids and temp names.
  static core::Result<std::unique_ptr<FsStore>> Open(const std::string& dir, uint64_t seed,
                                                     FsEnv& env = DefaultFsEnv());

  core::Status CreateBucket(const std::string& bucket, int64_t now_unix) override;
  core::Status DeleteBucket(const std::string& bucket) override;
  core::Status HeadBucket(const std::string& bucket) override;
  std::vector<BucketInfo> ListBuckets() override;
  core::Result<std::unique_ptr<ObjectWriter>> BeginPut(const std::string& bucket,
                                                       const std::string& key) override;
  core::Result<std::unique_ptr<ObjectReader>> Open(const std::string& bucket,
                                                   const std::string& key) override;
  core::Result<ObjectMeta> Stat(const std::string& bucket, const std::string& key) override;
  core::Status Delete(const std::string& bucket, const std::string& key) override;
  core::Result<std::vector<ObjectMeta>> List(const std::string& bucket, std::string_view prefix,
                                             std::string_view from, size_t limit) override;
  core::Result<std::string> CreateUpload(const std::string& bucket, const std::string& key,
                                         ObjectMeta meta, int64_t now_unix) override;
  core::Result<std::unique_ptr<ObjectWriter>> BeginPart(const std::string& bucket,
                                                        const std::string& key,
                                                        const std::string& upload_id,
                                                        int part_number) override;
  core::Result<UploadInfo> GetUpload(const std::string& bucket, const std::string& key,
                                     const std::string& upload_id) override;
  core::Result<std::vector<PartInfo>> ListParts(const std::string& bucket, const std::string& key,
                                                const std::string& upload_id) override;
  core::Result<ObjectMeta> CompleteUpload(const std::string& bucket, const std::string& key,
                                          const std::string& upload_id,
                                          const std::vector<CompletedPart>& parts,
                                          uint64_t min_part_size, int64_t now_unix) override;
  core::Status AbortUpload(const std::string& bucket, const std::string& key,
                           const std::string& upload_id) override;
  core::Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket) override;

  // Entries found in tmp/ and removed by Open().
  size_t leftovers_removed() const { return leftovers_removed_; }
  // Object and part files Open() found unreadable (torn or foreign) and ignored.
  size_t unreadable_files() const { return unreadable_files_; }

  // Switches a planted bug on (no effect unless kPlantedBugsBuilt).
  void PlantBugForTesting(FsStoreBug bug) { planted_ = bug; }
  // True if `bug` is planted in this store (constant false when not built in).
  bool Planted(FsStoreBug bug) const {
    if constexpr (kPlantedBugsBuilt) {
      return planted_ == bug;
    } else {
      return false;
    }
  }

 private:
  struct BucketIdx {
    int64_t created_unix = 0;
    std::map<std::string, ObjectMeta> objects;
  };
  struct UploadIdx {
    UploadInfo info;
    std::map<int, PartInfo> parts;
  };
  FsStore(std::string dir, uint64_t seed, FsEnv& env);
  core::Status Load();
  std::string TmpName(std::string_view suffix);
  std::string BucketDir(const std::string& bucket) const;
  std::string ObjectPath(const std::string& bucket, const std::string& key) const;
  std::string UploadDir(const std::string& id) const;
  core::Result<BucketIdx*> FindBucket(const std::string& bucket);
  core::Result<UploadIdx*> FindUpload(const std::string& bucket, const std::string& key,
                                      const std::string& upload_id);
  core::Status RemoveUploadDir(const std::string& id);
  // Writes `content` to a new file at `path` and syncs it.
  core::Status WriteNewFile(const std::string& path, std::string_view content);
  core::Result<std::string> ReadSmallFile(const std::string& path);
  core::Result<ObjectMeta> ReadTrailerAt(const std::string& path);
  // rename(from, to), then sync the directory of `to`. `*renamed` (if given) tells whether
  // the rename happened: then `to` names the new file even when the sync failed after it,
  // and the caller's index must follow.
  core::Status RenameDurably(const std::string& from, const std::string& to,
                             bool* renamed = nullptr);
  // Makes the object file at `tmp` (fully written, trailer included, via `file`) the version
  // at `dest`: sync the file, rename, sync the directory; the planted bugs change this order.
  // `*visible` as `*renamed` above.
  core::Status Publish(FsFile& file, const std::string& tmp, const std::string& dest,
                       bool* visible);
  core::Result<std::unique_ptr<ObjectWriter>> NewWriter(
      const std::string& key,
      std::function<core::Status(FsFile& file, const std::string& tmp_path,
                                 const ObjectMeta& meta)> commit);

  std::string dir_;
  FsEnv& env_;
  core::Rng rng_;
  FsStoreBug planted_ = FsStoreBug::kNone;
  size_t unreadable_files_ = 0;
  std::map<std::string, BucketIdx> buckets_;
  std::map<std::string, UploadIdx> uploads_;
  size_t leftovers_removed_ = 0;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_FS_STORE_H_
