#include "proto/memory_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <tuple>

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {

struct MemoryStore::Blob {
  ObjectMeta meta;
  int fd = -1;
  const char* data = nullptr;  // read-only mapping of fd, size meta.size
  ~Blob() {
    if (data != nullptr) ::munmap(const_cast<char*>(data), meta.size);
    if (fd >= 0) ::close(fd);
  }
  std::string_view view() const { return {data == nullptr ? "" : data, meta.size}; }
};

namespace {

using Blob = MemoryStore::Blob;

core::Status WriteAll(int fd, std::string_view d) {
  while (!d.empty()) {
    const ssize_t n = ::write(fd, d.data(), d.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return S3Error(S3Err::kInternalError, std::string("memfd write: ") + std::strerror(errno));
    }
    d.remove_prefix(static_cast<size_t>(n));
  }
  return core::Status::Ok();
}

core::Result<int> NewMemFd() {
  const int fd = ::memfd_create("s3rdma-object", MFD_CLOEXEC);
  if (fd < 0) {
    return S3Error(S3Err::kInternalError, std::string("memfd_create: ") + std::strerror(errno));
  }
  return fd;
}

// Seals a blob whose fd holds meta.size bytes: maps it read-only.
core::Status Map(Blob& blob) {
  if (blob.meta.size == 0) return core::Status::Ok();
  void* p = ::mmap(nullptr, blob.meta.size, PROT_READ, MAP_SHARED, blob.fd, 0);
  if (p == MAP_FAILED) {
    return S3Error(S3Err::kInternalError, std::string("mmap: ") + std::strerror(errno));
  }
  blob.data = static_cast<const char*>(p);
  return core::Status::Ok();
}

class MemWriter final : public ObjectWriter {
 public:
  using CommitFn = std::function<core::Status(std::shared_ptr<const Blob>)>;
  MemWriter(std::string key, int fd, CommitFn commit)
      : key_(std::move(key)), commit_(std::move(commit)), blob_(std::make_shared<Blob>()) {
    blob_->fd = fd;
  }
  core::Status Append(std::string_view data) override {
    S3_CHECK_MSG(!done_, "Append after Commit");
    S3_RETURN_IF_ERROR(WriteAll(blob_->fd, data));
    written_ += data.size();
    return core::Status::Ok();
  }
  uint64_t bytes_written() const override { return written_; }
  core::Status Commit(ObjectMeta meta) override {
    S3_CHECK_MSG(!done_, "Commit twice");
    S3_CHECK_MSG(meta.size == written_, "Commit with a size that differs from the data");
    done_ = true;
    blob_->meta = std::move(meta);
    blob_->meta.key = key_;
    S3_RETURN_IF_ERROR(Map(*blob_));
    return commit_(std::move(blob_));
  }

 private:
  std::string key_;
  CommitFn commit_;
  std::shared_ptr<Blob> blob_;
  uint64_t written_ = 0;
  bool done_ = false;
};

class MemReader final : public ObjectReader {
 public:
  explicit MemReader(std::shared_ptr<const Blob> blob) : blob_(std::move(blob)) {}
  const ObjectMeta& meta() const override { return blob_->meta; }
  core::Result<size_t> Read(uint64_t offset, char* dst, size_t len) override {
    if (offset >= blob_->meta.size) return size_t{0};
    const size_t n = std::min<uint64_t>(len, blob_->meta.size - offset);
    std::memcpy(dst, blob_->data + offset, n);
    return n;
  }
  std::optional<std::string_view> Contiguous() const override { return blob_->view(); }
  int FileDescriptor() const override { return blob_->fd; }

 private:
  std::shared_ptr<const Blob> blob_;
};

}  // namespace

MemoryStore::MemoryStore(uint64_t seed) : rng_(seed) {}

core::Result<MemoryStore::Bucket*> MemoryStore::FindBucket(const std::string& bucket) {
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) return S3Error(S3Err::kNoSuchBucket);
  return &it->second;
}

core::Status MemoryStore::CreateBucket(const std::string& bucket, int64_t now_unix) {
  S3_RETURN_IF_ERROR(ValidateBucketName(bucket));
  if (buckets_.count(bucket) != 0) return S3Error(S3Err::kBucketAlreadyOwnedByYou);
  buckets_[bucket].created_unix = now_unix;
  return core::Status::Ok();
}

core::Status MemoryStore::DeleteBucket(const std::string& bucket) {
  S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
  if (!b->objects.empty()) return S3Error(S3Err::kBucketNotEmpty);
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    if (it->second.info.bucket == bucket) it = uploads_.erase(it);
    else ++it;
  }
  buckets_.erase(bucket);
  return core::Status::Ok();
}

core::Status MemoryStore::HeadBucket(const std::string& bucket) {
  return FindBucket(bucket).status();
}

std::vector<BucketInfo> MemoryStore::ListBuckets() {
  std::vector<BucketInfo> out;
  for (const auto& [name, b] : buckets_) out.push_back({name, b.created_unix});
  return out;
}

core::Result<std::unique_ptr<ObjectWriter>> MemoryStore::BeginPut(const std::string& bucket,
                                                                  const std::string& key) {
  S3_RETURN_IF_ERROR(ValidateKey(key));
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  S3_ASSIGN_OR_RETURN(int fd, NewMemFd());
  return std::unique_ptr<ObjectWriter>(
      new MemWriter(key, fd, [this, bucket, key](std::shared_ptr<const Blob> blob) -> core::Status {
        S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
        b->objects[key] = std::move(blob);
        return core::Status::Ok();
      }));
}

core::Result<std::unique_ptr<ObjectReader>> MemoryStore::Open(const std::string& bucket,
                                                              const std::string& key) {
  S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
  auto it = b->objects.find(key);
  if (it == b->objects.end()) return S3Error(S3Err::kNoSuchKey);
  return std::unique_ptr<ObjectReader>(new MemReader(it->second));
}

core::Result<ObjectMeta> MemoryStore::Stat(const std::string& bucket, const std::string& key) {
  S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
  auto it = b->objects.find(key);
  if (it == b->objects.end()) return S3Error(S3Err::kNoSuchKey);
  return it->second->meta;
}

core::Status MemoryStore::Delete(const std::string& bucket, const std::string& key) {
  S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
  if (b->objects.erase(key) == 0) return S3Error(S3Err::kNoSuchKey);
  return core::Status::Ok();
}

core::Result<std::vector<ObjectMeta>> MemoryStore::List(const std::string& bucket,
                                                        std::string_view prefix,
                                                        std::string_view from, size_t limit) {
  S3_ASSIGN_OR_RETURN(Bucket * b, FindBucket(bucket));
  std::vector<ObjectMeta> out;
  const std::string start = std::max(std::string(from), std::string(prefix));
  for (auto it = b->objects.lower_bound(start); it != b->objects.end() && out.size() < limit;
       ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->second->meta);
  }
  return out;
}

core::Result<std::string> MemoryStore::CreateUpload(const std::string& bucket,
                                                    const std::string& key, ObjectMeta meta,
                                                    int64_t now_unix) {
  S3_RETURN_IF_ERROR(ValidateKey(key));
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  std::string id;
  do {
    id = MakeUploadId(rng_.NextU64(), rng_.NextU64());
  } while (uploads_.count(id) != 0);
  Upload& u = uploads_[id];
  u.info.upload_id = id;
  u.info.bucket = bucket;
  u.info.key = key;
  u.info.initiated_unix = now_unix;
  meta.key = key;
  u.info.meta = std::move(meta);
  return id;
}

core::Result<MemoryStore::Upload*> MemoryStore::FindUpload(const std::string& bucket,
                                                           const std::string& key,
                                                           const std::string& upload_id) {
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.info.bucket != bucket || it->second.info.key != key) {
    return S3Error(S3Err::kNoSuchUpload);
  }
  return &it->second;
}

core::Result<std::unique_ptr<ObjectWriter>> MemoryStore::BeginPart(const std::string& bucket,
                                                                   const std::string& key,
                                                                   const std::string& upload_id,
                                                                   int part_number) {
  S3_RETURN_IF_ERROR(ValidatePartNumber(part_number));
  S3_RETURN_IF_ERROR(FindUpload(bucket, key, upload_id).status());
  S3_ASSIGN_OR_RETURN(int fd, NewMemFd());
  return std::unique_ptr<ObjectWriter>(new MemWriter(
      key, fd, [this, bucket, key, upload_id, part_number](std::shared_ptr<const Blob> blob)
          -> core::Status {
        S3_ASSIGN_OR_RETURN(Upload * u, FindUpload(bucket, key, upload_id));
        u->parts[part_number] = std::move(blob);
        return core::Status::Ok();
      }));
}

core::Result<UploadInfo> MemoryStore::GetUpload(const std::string& bucket, const std::string& key,
                                                const std::string& upload_id) {
  S3_ASSIGN_OR_RETURN(Upload * u, FindUpload(bucket, key, upload_id));
  return u->info;
}

core::Result<std::vector<PartInfo>> MemoryStore::ListParts(const std::string& bucket,
                                                           const std::string& key,
                                                           const std::string& upload_id) {
  S3_ASSIGN_OR_RETURN(Upload * u, FindUpload(bucket, key, upload_id));
  std::vector<PartInfo> out;
  for (const auto& [n, blob] : u->parts) {
    out.push_back({n, blob->meta.size, blob->meta.etag, blob->meta.last_modified_unix});
  }
  return out;
}

core::Result<ObjectMeta> MemoryStore::CompleteUpload(const std::string& bucket,
                                                     const std::string& key,
                                                     const std::string& upload_id,
                                                     const std::vector<CompletedPart>& parts,
                                                     uint64_t min_part_size, int64_t now_unix) {
  S3_ASSIGN_OR_RETURN(Upload * u, FindUpload(bucket, key, upload_id));
  S3_ASSIGN_OR_RETURN(auto have, ListParts(bucket, key, upload_id));
  S3_ASSIGN_OR_RETURN(auto plan, PlanCompletion(have, parts, min_part_size));
  auto blob = std::make_shared<Blob>();
  S3_ASSIGN_OR_RETURN(blob->fd, NewMemFd());
  uint64_t total = 0;
  for (const auto& p : plan) {
    S3_RETURN_IF_ERROR(WriteAll(blob->fd, u->parts.at(p.number)->view()));
    total += p.size;
  }
  blob->meta = u->info.meta;
  blob->meta.key = key;
  blob->meta.size = total;
  blob->meta.etag = MultipartEtag(plan);
  blob->meta.last_modified_unix = now_unix;
  S3_RETURN_IF_ERROR(Map(*blob));
  ObjectMeta result = blob->meta;
  buckets_.at(bucket).objects[key] = std::move(blob);
  uploads_.erase(upload_id);
  return result;
}

core::Status MemoryStore::AbortUpload(const std::string& bucket, const std::string& key,
                                      const std::string& upload_id) {
  S3_RETURN_IF_ERROR(FindUpload(bucket, key, upload_id).status());
  uploads_.erase(upload_id);
  return core::Status::Ok();
}

core::Result<std::vector<UploadInfo>> MemoryStore::ListUploads(const std::string& bucket) {
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  std::vector<UploadInfo> out;
  for (const auto& [id, u] : uploads_) {
    if (u.info.bucket == bucket) out.push_back(u.info);
  }
  std::sort(out.begin(), out.end(), [](const UploadInfo& a, const UploadInfo& b) {
    return std::tie(a.key, a.initiated_unix, a.upload_id) <
           std::tie(b.key, b.initiated_unix, b.upload_id);
  });
  return out;
}

}  // namespace s3rdma::proto
