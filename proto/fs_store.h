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
#ifndef S3RDMA_PROTO_FS_STORE_H_
#define S3RDMA_PROTO_FS_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/rng.h"
#include "proto/object_store.h"

namespace s3rdma::proto {

class FsStore final : public ObjectStore {
 public:
  // Opens or creates the store in `dir`. `seed` feeds upload ids and temp names.
  static core::Result<std::unique_ptr<FsStore>> Open(const std::string& dir, uint64_t seed);

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

 private:
  struct BucketIdx {
    int64_t created_unix = 0;
    std::map<std::string, ObjectMeta> objects;
  };
  struct UploadIdx {
    UploadInfo info;
    std::map<int, PartInfo> parts;
  };
  FsStore(std::string dir, uint64_t seed);
  core::Status Load();
  std::string TmpName(std::string_view suffix);
  std::string BucketDir(const std::string& bucket) const;
  std::string ObjectPath(const std::string& bucket, const std::string& key) const;
  std::string UploadDir(const std::string& id) const;
  core::Result<BucketIdx*> FindBucket(const std::string& bucket);
  core::Result<UploadIdx*> FindUpload(const std::string& bucket, const std::string& key,
                                      const std::string& upload_id);
  core::Status RemoveUploadDir(const std::string& id);
  core::Result<std::unique_ptr<ObjectWriter>> NewWriter(
      const std::string& key, std::function<core::Status(const std::string& tmp_path, const ObjectMeta& meta)> commit);

  std::string dir_;
  core::Rng rng_;
  std::map<std::string, BucketIdx> buckets_;
  std::map<std::string, UploadIdx> uploads_;
  size_t leftovers_removed_ = 0;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_FS_STORE_H_
