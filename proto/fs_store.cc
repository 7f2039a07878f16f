// File format of objects and parts: the bytes, then the trailer
//   EncodeMeta(meta) | u64 LE length of the encoded meta | "S3RDOBJ1"
// The trailer goes last so the data can be streamed to disk before the ETag is known.
#include "proto/fs_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

#include <spdlog/spdlog.h>

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'S', '3', 'R', 'D', 'O', 'B', 'J', '1'};
constexpr size_t kTrailerFixed = 16;

core::Status Errno(const std::string& what) {
  return S3Error(S3Err::kInternalError, what + ": " + std::strerror(errno));
}

core::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return core::Status::Ok();
}

core::Result<size_t> PRead(int fd, char* dst, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, dst + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("pread");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

core::Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync " + path);
  return core::Status::Ok();
}

core::Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename " + from + " " + to);
  return FsyncPath(fs::path(to).parent_path().string());
}

// Writes `content` to a new file at `path` and fsyncs it.
core::Status WriteNewFile(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + path);
  core::Status st = WriteAll(fd, content);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("fsync " + path);
  ::close(fd);
  return st;
}

core::Result<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) break;
  }
  ::close(fd);
  return out;
}

// Reads and checks the trailer of an object or part file.
core::Result<ObjectMeta> ReadTrailer(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("fstat");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kTrailerFixed) return core::Status::Corruption("object file too short");
  char fixed[kTrailerFixed];
  S3_ASSIGN_OR_RETURN(size_t n, PRead(fd, fixed, kTrailerFixed, file_size - kTrailerFixed));
  if (n != kTrailerFixed || std::memcmp(fixed + 8, kMagic, 8) != 0) {
    return core::Status::Corruption("bad object trailer");
  }
  uint64_t meta_len = 0;
  for (int i = 0; i < 8; ++i) meta_len |= uint64_t(static_cast<unsigned char>(fixed[i])) << (8 * i);
  if (meta_len > file_size - kTrailerFixed || meta_len > (16u << 20)) {
    return core::Status::Corruption("bad object meta length");
  }
  std::string meta_bytes(meta_len, '\0');
  S3_ASSIGN_OR_RETURN(n, PRead(fd, meta_bytes.data(), meta_len,
                               file_size - kTrailerFixed - meta_len));
  if (n != meta_len) return core::Status::Corruption("short meta read");
  S3_ASSIGN_OR_RETURN(ObjectMeta meta, DecodeMeta(meta_bytes));
  if (meta.size != file_size - kTrailerFixed - meta_len) {
    return core::Status::Corruption("object size does not match its file");
  }
  return meta;
}

core::Result<ObjectMeta> ReadTrailerAt(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path);
  auto meta = ReadTrailer(fd);
  ::close(fd);
  return meta;
}

std::string Trailer(const ObjectMeta& meta) {
  std::string t = EncodeMeta(meta);
  const uint64_t len = t.size();
  for (int i = 0; i < 8; ++i) t.push_back(static_cast<char>(len >> (8 * i)));
  t.append(kMagic, 8);
  return t;
}

class FsWriter final : public ObjectWriter {
 public:
  using CommitFn = std::function<core::Status(const std::string&, const ObjectMeta&)>;
  FsWriter(int fd, std::string tmp_path, std::string key, CommitFn commit)
      : fd_(fd), tmp_path_(std::move(tmp_path)), key_(std::move(key)), commit_(std::move(commit)) {}
  ~FsWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_path_.c_str());
  }
  core::Status Append(std::string_view data) override {
    S3_CHECK_MSG(fd_ >= 0 && !committed_, "Append after Commit");
    S3_RETURN_IF_ERROR(WriteAll(fd_, data));
    written_ += data.size();
    return core::Status::Ok();
  }
  uint64_t bytes_written() const override { return written_; }
  core::Status Commit(ObjectMeta meta) override {
    S3_CHECK_MSG(fd_ >= 0 && !committed_, "Commit twice");
    S3_CHECK_MSG(meta.size == written_, "Commit with a size that differs from the data");
    meta.key = key_;
    S3_RETURN_IF_ERROR(WriteAll(fd_, Trailer(meta)));
    if (::fsync(fd_) != 0) return Errno("fsync");
    ::close(fd_);
    fd_ = -1;
    S3_RETURN_IF_ERROR(commit_(tmp_path_, meta));
    committed_ = true;
    return core::Status::Ok();
  }

 private:
  int fd_;
  std::string tmp_path_;
  std::string key_;
  CommitFn commit_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

class FsReader final : public ObjectReader {
 public:
  FsReader(int fd, ObjectMeta meta) : fd_(fd), meta_(std::move(meta)) {}
  ~FsReader() override { ::close(fd_); }
  const ObjectMeta& meta() const override { return meta_; }
  core::Result<size_t> Read(uint64_t offset, char* dst, size_t len) override {
    if (offset >= meta_.size) return size_t{0};
    len = std::min<uint64_t>(len, meta_.size - offset);
    return PRead(fd_, dst, len, offset);
  }
  int FileDescriptor() const override { return fd_; }

 private:
  int fd_;
  ObjectMeta meta_;
};

std::string EncodeUpload(const UploadInfo& u) {
  ObjectMeta m = u.meta;
  // Reuse the meta encoding: bucket and upload id travel as reserved headers.
  m.key = u.key;
  m.last_modified_unix = u.initiated_unix;
  m.headers[":bucket"] = u.bucket;
  m.headers[":upload-id"] = u.upload_id;
  return EncodeMeta(m);
}

core::Result<UploadInfo> DecodeUpload(std::string_view data) {
  S3_ASSIGN_OR_RETURN(ObjectMeta m, DecodeMeta(data));
  UploadInfo u;
  u.bucket = m.headers[":bucket"];
  u.upload_id = m.headers[":upload-id"];
  m.headers.erase(":bucket");
  m.headers.erase(":upload-id");
  u.key = m.key;
  u.initiated_unix = m.last_modified_unix;
  m.last_modified_unix = 0;
  u.meta = std::move(m);
  return u;
}

}  // namespace

FsStore::FsStore(std::string dir, uint64_t seed) : dir_(std::move(dir)), rng_(seed) {}

core::Result<std::unique_ptr<FsStore>> FsStore::Open(const std::string& dir, uint64_t seed) {
  std::unique_ptr<FsStore> store(new FsStore(dir, seed));
  S3_RETURN_IF_ERROR(store->Load());
  return store;
}

std::string FsStore::TmpName(std::string_view suffix) {
  return dir_ + "/tmp/" + MakeUploadId(rng_.NextU64(), rng_.NextU64()) + std::string(suffix);
}
std::string FsStore::BucketDir(const std::string& bucket) const {
  return dir_ + "/buckets/" + bucket;
}
std::string FsStore::ObjectPath(const std::string& bucket, const std::string& key) const {
  return BucketDir(bucket) + "/" + HexEncode(Sha256(key)) + ".obj";
}
std::string FsStore::UploadDir(const std::string& id) const { return dir_ + "/uploads/" + id; }

core::Status FsStore::Load() {
  std::error_code ec;
  for (const char* sub : {"", "/buckets", "/uploads", "/tmp"}) {
    fs::create_directories(dir_ + sub, ec);
    if (ec) return S3Error(S3Err::kInternalError, "create " + dir_ + sub + ": " + ec.message());
  }
  for (const auto& e : fs::directory_iterator(dir_ + "/tmp", ec)) {
    fs::remove_all(e.path(), ec);
    ++leftovers_removed_;
  }
  if (leftovers_removed_ > 0) {
    spdlog::info("fs store {}: removed {} leftovers of interrupted writes", dir_,
                 leftovers_removed_);
  }
  for (const auto& b : fs::directory_iterator(dir_ + "/buckets", ec)) {
    const std::string name = b.path().filename().string();
    if (!ValidateBucketName(name).ok() || !b.is_directory()) continue;
    auto created = ReadSmallFile(b.path().string() + "/_bucket");
    if (!created.ok()) {
      spdlog::warn("fs store: skipping bucket dir without _bucket: {}", b.path().string());
      continue;
    }
    BucketIdx& idx = buckets_[name];
    idx.created_unix = std::strtoll(created->c_str(), nullptr, 10);
    for (const auto& f : fs::directory_iterator(b.path(), ec)) {
      if (f.path().extension() != ".obj") continue;
      auto meta = ReadTrailerAt(f.path().string());
      if (!meta.ok() || f.path().filename().string() != HexEncode(Sha256(meta->key)) + ".obj") {
        spdlog::warn("fs store: ignoring unreadable object file {}", f.path().string());
        continue;
      }
      idx.objects[meta->key] = *meta;
    }
  }
  for (const auto& u : fs::directory_iterator(dir_ + "/uploads", ec)) {
    const std::string id = u.path().filename().string();
    if (!ValidUploadId(id)) continue;
    auto data = ReadSmallFile(u.path().string() + "/_upload");
    if (!data.ok()) continue;
    auto info = DecodeUpload(*data);
    if (!info.ok() || info->upload_id != id || buckets_.count(info->bucket) == 0) continue;
    UploadIdx& idx = uploads_[id];
    idx.info = *info;
    for (const auto& f : fs::directory_iterator(u.path(), ec)) {
      if (f.path().extension() != ".part") continue;
      const int n = std::atoi(f.path().stem().string().c_str());
      auto meta = ReadTrailerAt(f.path().string());
      if (!ValidatePartNumber(n).ok() || !meta.ok()) continue;
      idx.parts[n] = PartInfo{n, meta->size, meta->etag, meta->last_modified_unix};
    }
  }
  if (ec) return S3Error(S3Err::kInternalError, "scan " + dir_ + ": " + ec.message());
  return core::Status::Ok();
}

core::Result<FsStore::BucketIdx*> FsStore::FindBucket(const std::string& bucket) {
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) return S3Error(S3Err::kNoSuchBucket);
  return &it->second;
}

core::Status FsStore::CreateBucket(const std::string& bucket, int64_t now_unix) {
  S3_RETURN_IF_ERROR(ValidateBucketName(bucket));
  if (buckets_.count(bucket) != 0) return S3Error(S3Err::kBucketAlreadyOwnedByYou);
  const std::string tmp = TmpName(".bucket");
  if (::mkdir(tmp.c_str(), 0755) != 0) return Errno("mkdir " + tmp);
  S3_RETURN_IF_ERROR(WriteNewFile(tmp + "/_bucket", std::to_string(now_unix)));
  S3_RETURN_IF_ERROR(FsyncPath(tmp));
  S3_RETURN_IF_ERROR(RenameDurably(tmp, BucketDir(bucket)));
  buckets_[bucket].created_unix = now_unix;
  return core::Status::Ok();
}

core::Status FsStore::DeleteBucket(const std::string& bucket) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  if (!b->objects.empty()) return S3Error(S3Err::kBucketNotEmpty);
  std::vector<std::string> ids;
  for (const auto& [id, u] : uploads_) {
    if (u.info.bucket == bucket) ids.push_back(id);
  }
  for (const auto& id : ids) S3_RETURN_IF_ERROR(RemoveUploadDir(id));
  const std::string tmp = TmpName(".deleted");
  S3_RETURN_IF_ERROR(RenameDurably(BucketDir(bucket), tmp));
  S3_RETURN_IF_ERROR(FsyncPath(dir_ + "/buckets"));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  buckets_.erase(bucket);
  return core::Status::Ok();
}

core::Status FsStore::HeadBucket(const std::string& bucket) {
  return FindBucket(bucket).status();
}

std::vector<BucketInfo> FsStore::ListBuckets() {
  std::vector<BucketInfo> out;
  for (const auto& [name, b] : buckets_) out.push_back({name, b.created_unix});
  return out;
}

core::Result<std::unique_ptr<ObjectWriter>> FsStore::NewWriter(
    const std::string& key,
    std::function<core::Status(const std::string&, const ObjectMeta&)> commit) {
  const std::string tmp = TmpName(".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + tmp);
  return std::unique_ptr<ObjectWriter>(new FsWriter(fd, tmp, key, std::move(commit)));
}

core::Result<std::unique_ptr<ObjectWriter>> FsStore::BeginPut(const std::string& bucket,
                                                              const std::string& key) {
  S3_RETURN_IF_ERROR(ValidateKey(key));
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  return NewWriter(key, [this, bucket, key](const std::string& tmp, const ObjectMeta& meta)
                       -> core::Status {
    S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
    S3_RETURN_IF_ERROR(RenameDurably(tmp, ObjectPath(bucket, key)));
    b->objects[key] = meta;
    return core::Status::Ok();
  });
}

core::Result<std::unique_ptr<ObjectReader>> FsStore::Open(const std::string& bucket,
                                                          const std::string& key) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  if (b->objects.count(key) == 0) return S3Error(S3Err::kNoSuchKey);
  const std::string path = ObjectPath(bucket, key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return S3Error(S3Err::kNoSuchKey);
    return Errno("open " + path);
  }
  // The index entry describes this file: both change together in one Commit on the store's
  // thread, and files only ever appear complete (fsync'ed, then renamed). So the trailer need
  // not be re-read: a size check guards against outside tampering.
  const ObjectMeta& meta = b->objects.at(key);
  struct stat st {};
  if (::fstat(fd, &st) != 0 ||
      static_cast<uint64_t>(st.st_size) < meta.size + kTrailerFixed) {
    ::close(fd);
    return S3Error(S3Err::kInternalError, "corrupt object file for key");
  }
  return std::unique_ptr<ObjectReader>(new FsReader(fd, meta));
}

core::Result<ObjectMeta> FsStore::Stat(const std::string& bucket, const std::string& key) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  auto it = b->objects.find(key);
  if (it == b->objects.end()) return S3Error(S3Err::kNoSuchKey);
  return it->second;
}

core::Status FsStore::Delete(const std::string& bucket, const std::string& key) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  if (b->objects.count(key) == 0) return S3Error(S3Err::kNoSuchKey);
  const std::string path = ObjectPath(bucket, key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("unlink " + path);
  S3_RETURN_IF_ERROR(FsyncPath(BucketDir(bucket)));
  b->objects.erase(key);
  return core::Status::Ok();
}

core::Result<std::vector<ObjectMeta>> FsStore::List(const std::string& bucket,
                                                    std::string_view prefix,
                                                    std::string_view from, size_t limit) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  std::vector<ObjectMeta> out;
  const std::string start = std::max(std::string(from), std::string(prefix));
  for (auto it = b->objects.lower_bound(start); it != b->objects.end() && out.size() < limit;
       ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->second);
  }
  return out;
}

core::Result<std::string> FsStore::CreateUpload(const std::string& bucket, const std::string& key,
                                                ObjectMeta meta, int64_t now_unix) {
  S3_RETURN_IF_ERROR(ValidateKey(key));
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  std::string id;
  do {
    id = MakeUploadId(rng_.NextU64(), rng_.NextU64());
  } while (uploads_.count(id) != 0 || fs::exists(UploadDir(id)));
  UploadInfo info;
  info.upload_id = id;
  info.bucket = bucket;
  info.key = key;
  info.initiated_unix = now_unix;
  meta.key = key;
  info.meta = std::move(meta);
  const std::string tmp = TmpName(".upload");
  if (::mkdir(tmp.c_str(), 0755) != 0) return Errno("mkdir " + tmp);
  S3_RETURN_IF_ERROR(WriteNewFile(tmp + "/_upload", EncodeUpload(info)));
  S3_RETURN_IF_ERROR(FsyncPath(tmp));
  S3_RETURN_IF_ERROR(RenameDurably(tmp, UploadDir(id)));
  uploads_[id].info = std::move(info);
  return id;
}

core::Result<FsStore::UploadIdx*> FsStore::FindUpload(const std::string& bucket,
                                                      const std::string& key,
                                                      const std::string& upload_id) {
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.info.bucket != bucket || it->second.info.key != key) {
    return S3Error(S3Err::kNoSuchUpload);
  }
  return &it->second;
}

core::Result<std::unique_ptr<ObjectWriter>> FsStore::BeginPart(const std::string& bucket,
                                                               const std::string& key,
                                                               const std::string& upload_id,
                                                               int part_number) {
  S3_RETURN_IF_ERROR(ValidatePartNumber(part_number));
  S3_RETURN_IF_ERROR(FindUpload(bucket, key, upload_id).status());
  return NewWriter(key, [this, bucket, key, upload_id, part_number](
                       const std::string& tmp, const ObjectMeta& meta) -> core::Status {
    S3_ASSIGN_OR_RETURN(UploadIdx * u, FindUpload(bucket, key, upload_id));
    S3_RETURN_IF_ERROR(RenameDurably(
        tmp, UploadDir(upload_id) + "/" + std::to_string(part_number) + ".part"));
    u->parts[part_number] = PartInfo{part_number, meta.size, meta.etag, meta.last_modified_unix};
    return core::Status::Ok();
  });
}

core::Result<UploadInfo> FsStore::GetUpload(const std::string& bucket, const std::string& key,
                                            const std::string& upload_id) {
  S3_ASSIGN_OR_RETURN(UploadIdx * u, FindUpload(bucket, key, upload_id));
  return u->info;
}

core::Result<std::vector<PartInfo>> FsStore::ListParts(const std::string& bucket,
                                                       const std::string& key,
                                                       const std::string& upload_id) {
  S3_ASSIGN_OR_RETURN(UploadIdx * u, FindUpload(bucket, key, upload_id));
  std::vector<PartInfo> out;
  for (const auto& [n, p] : u->parts) out.push_back(p);
  return out;
}

core::Result<ObjectMeta> FsStore::CompleteUpload(const std::string& bucket,
                                                 const std::string& key,
                                                 const std::string& upload_id,
                                                 const std::vector<CompletedPart>& parts,
                                                 uint64_t min_part_size, int64_t now_unix) {
  S3_ASSIGN_OR_RETURN(UploadIdx * u, FindUpload(bucket, key, upload_id));
  S3_ASSIGN_OR_RETURN(auto have, ListParts(bucket, key, upload_id));
  S3_ASSIGN_OR_RETURN(auto plan, PlanCompletion(have, parts, min_part_size));
  ObjectMeta meta = u->info.meta;
  meta.key = key;
  meta.size = 0;
  for (const auto& p : plan) meta.size += p.size;
  meta.etag = MultipartEtag(plan);
  meta.last_modified_unix = now_unix;

  const std::string tmp = TmpName(".tmp");
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) return Errno("create " + tmp);
  auto fail = [&](core::Status st) {
    ::close(out);
    ::unlink(tmp.c_str());
    return st;
  };
  std::string buf(1 << 20, '\0');
  for (const auto& p : plan) {
    const std::string path = UploadDir(upload_id) + "/" + std::to_string(p.number) + ".part";
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return fail(Errno("open " + path));
    uint64_t off = 0;
    while (off < p.size) {
      auto n = PRead(in, buf.data(), std::min<uint64_t>(buf.size(), p.size - off), off);
      if (!n.ok() || *n == 0) {
        ::close(in);
        return fail(n.ok() ? core::Status::Corruption("part shorter than recorded") : n.status());
      }
      core::Status st = WriteAll(out, std::string_view(buf.data(), *n));
      if (!st.ok()) {
        ::close(in);
        return fail(st);
      }
      off += *n;
    }
    ::close(in);
  }
  if (core::Status st = WriteAll(out, Trailer(meta)); !st.ok()) return fail(st);
  if (::fsync(out) != 0) return fail(Errno("fsync"));
  ::close(out);
  if (core::Status st = RenameDurably(tmp, ObjectPath(bucket, key)); !st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  buckets_.at(bucket).objects[key] = meta;
  S3_RETURN_IF_ERROR(RemoveUploadDir(upload_id));
  return meta;
}

core::Status FsStore::RemoveUploadDir(const std::string& id) {
  const std::string tmp = TmpName(".deleted");
  S3_RETURN_IF_ERROR(RenameDurably(UploadDir(id), tmp));
  S3_RETURN_IF_ERROR(FsyncPath(dir_ + "/uploads"));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  uploads_.erase(id);
  return core::Status::Ok();
}

core::Status FsStore::AbortUpload(const std::string& bucket, const std::string& key,
                                  const std::string& upload_id) {
  S3_RETURN_IF_ERROR(FindUpload(bucket, key, upload_id).status());
  return RemoveUploadDir(upload_id);
}

core::Result<std::vector<UploadInfo>> FsStore::ListUploads(const std::string& bucket) {
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
