// MemoryStore: every object in RAM (anonymous memory files), nothing durable. Readers share
// the object's bytes (Contiguous() and FileDescriptor() are zero-copy), so an overwrite
// never disturbs a GET in progress.
#ifndef S3RDMA_PROTO_MEMORY_STORE_H_
#define S3RDMA_PROTO_MEMORY_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/rng.h"
#include "proto/object_store.h"

namespace s3rdma::proto {

class MemoryStore final : public ObjectStore {
 public:
  // `seed` makes upload ids deterministic. Writers and readers must not outlive the store;
  // a writer re-checks its bucket (and upload) at Commit.
  explicit MemoryStore(uint64_t seed = 1);

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

  // The stored bytes of one object version (defined in memory_store.cc): an anonymous
  // memory file (memfd), mapped read-only, so GETs can sendfile(2) it or use the mapping.
  struct Blob;

 private:
  struct Upload {
    UploadInfo info;
    std::map<int, std::shared_ptr<const Blob>> parts;
  };
  struct Bucket {
    int64_t created_unix = 0;
    std::map<std::string, std::shared_ptr<const Blob>> objects;
  };
  core::Result<Bucket*> FindBucket(const std::string& bucket);
  core::Result<Upload*> FindUpload(const std::string& bucket, const std::string& key,
                                   const std::string& upload_id);

  core::Rng rng_;
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, Upload> uploads_;
};

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_MEMORY_STORE_H_
