// The object store interface behind the S3 service, and what the stores share.
//
// Two implementations: MemoryStore (memory_store.h) and FsStore (fs_store.h, durable).
// Contract for every store:
// - An object is replaced atomically: a reader (Open) sees either the old or the new version,
//   never a mix; concurrent writers of one key: the last Commit wins.
// - A writer that is destroyed without a successful Commit leaves no trace.
// - Names are validated by the store (ValidBucketName, key length), so no bucket name, key or
//   upload id can make the store touch anything outside its own data.
// - Errors are S3 errors (s3_error.h): NoSuchBucket, NoSuchKey, NoSuchUpload, ...
// Threading: a store is used from one thread (the runtime's); it does no locking.
// Times are Unix seconds supplied by the caller: stores never read a clock.
#ifndef S3RDMA_PROTO_OBJECT_STORE_H_
#define S3RDMA_PROTO_OBJECT_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace s3rdma::proto {

inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr int kMaxPartNumber = 10000;

struct ObjectMeta {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without quotes: hex MD5, or "<hex>-N" for multipart objects
  int64_t last_modified_unix = 0;
  // Stored response headers, lowercase names: content-type, content-encoding,
  // content-disposition, content-language, cache-control, expires, x-amz-meta-*,
  // x-amz-checksum-*.
  std::map<std::string, std::string> headers;
};

struct BucketInfo {
  std::string name;
  int64_t created_unix = 0;
};

struct PartInfo {
  int number = 0;
  uint64_t size = 0;
  std::string etag;  // hex MD5 without quotes
  int64_t last_modified_unix = 0;
};

struct UploadInfo {
  std::string upload_id;
  std::string bucket;
  std::string key;
  int64_t initiated_unix = 0;
  ObjectMeta meta;  // headers to give the completed object
};

struct CompletedPart {
  int number = 0;
  std::string etag;  // as sent by the client; quotes are ignored
};

// Streams the bytes of one new object (or part). REQUIRES: Append before Commit; nothing after.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual core::Status Append(std::string_view data) = 0;
  virtual uint64_t bytes_written() const = 0;
  // Makes the object visible (durably, for FsStore) with `meta`; meta.key is ignored and
  // meta.size must equal bytes_written().
  virtual core::Status Commit(ObjectMeta meta) = 0;
};

// A consistent snapshot of one object version, valid while the reader lives.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual const ObjectMeta& meta() const = 0;
  // Copies up to `len` bytes starting at `offset` into `dst`; returns how many (0 at the end).
  virtual core::Result<size_t> Read(uint64_t offset, char* dst, size_t len) = 0;
  // All bytes in memory, if the store keeps them there (zero-copy sends); else nullopt.
  virtual std::optional<std::string_view> Contiguous() const { return std::nullopt; }
  // A file descriptor whose bytes [0, meta().size) are the object, for sendfile(2); -1 if
  // none. Owned by the reader.
  virtual int FileDescriptor() const { return -1; }
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual core::Status CreateBucket(const std::string& bucket, int64_t now_unix) = 0;
  // BucketNotEmpty if it holds objects; in-progress multipart uploads are aborted.
  virtual core::Status DeleteBucket(const std::string& bucket) = 0;
  virtual core::Status HeadBucket(const std::string& bucket) = 0;
  virtual std::vector<BucketInfo> ListBuckets() = 0;  // sorted by name

  virtual core::Result<std::unique_ptr<ObjectWriter>> BeginPut(const std::string& bucket,
                                                               const std::string& key) = 0;
  virtual core::Result<std::unique_ptr<ObjectReader>> Open(const std::string& bucket,
                                                           const std::string& key) = 0;
  virtual core::Result<ObjectMeta> Stat(const std::string& bucket, const std::string& key) = 0;
  // NoSuchKey if absent.
  virtual core::Status Delete(const std::string& bucket, const std::string& key) = 0;
  // Objects with key >= `from` (byte order) and starting with `prefix`, at most `limit`.
  virtual core::Result<std::vector<ObjectMeta>> List(const std::string& bucket,
                                                     std::string_view prefix,
                                                     std::string_view from, size_t limit) = 0;

  virtual core::Result<std::string> CreateUpload(const std::string& bucket, const std::string& key,
                                                 ObjectMeta meta, int64_t now_unix) = 0;
  // Commit(meta): meta.etag is the part's hex MD5; last_modified_unix its time.
  virtual core::Result<std::unique_ptr<ObjectWriter>> BeginPart(const std::string& bucket,
                                                                const std::string& key,
                                                                const std::string& upload_id,
                                                                int part_number) = 0;
  virtual core::Result<UploadInfo> GetUpload(const std::string& bucket, const std::string& key,
                                             const std::string& upload_id) = 0;
  virtual core::Result<std::vector<PartInfo>> ListParts(const std::string& bucket,
                                                        const std::string& key,
                                                        const std::string& upload_id) = 0;
  // Validates `parts` (see PlanCompletion), assembles the object and removes the upload.
  virtual core::Result<ObjectMeta> CompleteUpload(const std::string& bucket,
                                                  const std::string& key,
                                                  const std::string& upload_id,
                                                  const std::vector<CompletedPart>& parts,
                                                  uint64_t min_part_size, int64_t now_unix) = 0;
  virtual core::Status AbortUpload(const std::string& bucket, const std::string& key,
                                   const std::string& upload_id) = 0;
  // Sorted by (key, initiated, upload id).
  virtual core::Result<std::vector<UploadInfo>> ListUploads(const std::string& bucket) = 0;
};

// S3 bucket naming rules (3-63 chars of [a-z0-9.-], starts and ends alphanumeric, no "..",
// not an IP address). Anything else is InvalidBucketName.
core::Status ValidateBucketName(std::string_view bucket);
// Non-empty, at most kMaxKeyBytes (KeyTooLongError).
core::Status ValidateKey(std::string_view key);
// 1..kMaxPartNumber, else InvalidArgument.
core::Status ValidatePartNumber(int part_number);

// Checks a CompleteMultipartUpload request against the parts that exist: ascending part
// numbers (InvalidPartOrder), each part present with a matching ETag (InvalidPart), every
// part but the last at least `min_part_size` bytes (EntityTooSmall). Returns the chosen
// parts in order. REQUIRES: `have` sorted by number.
core::Result<std::vector<PartInfo>> PlanCompletion(const std::vector<PartInfo>& have,
                                                   const std::vector<CompletedPart>& req,
                                                   uint64_t min_part_size);
// "<hex md5 of the concatenated binary part MD5s>-<N>".
std::string MultipartEtag(const std::vector<PartInfo>& parts);

// Upload ids are 32 lowercase hex digits (safe as a file name).
std::string MakeUploadId(uint64_t a, uint64_t b);
bool ValidUploadId(std::string_view id);

// A compact binary encoding of ObjectMeta (length-prefixed strings), used by FsStore.
std::string EncodeMeta(const ObjectMeta& meta);
core::Result<ObjectMeta> DecodeMeta(std::string_view data);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_OBJECT_STORE_H_
