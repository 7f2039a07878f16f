// File format of objects and parts: the bytes, then the trailer
//   EncodeMeta(meta) | u64 LE length of the encoded meta | "S3RDOBJ1"
// The trailer goes last so the data can be streamed to disk before the ETag is known.
#include "proto/fs_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <tuple>

#include <spdlog/spdlog.h>

#include "proto/hash.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {
namespace {

constexpr char kMagic[8] = {'S', '3', 'R', 'D', 'O', 'B', 'J', '1'};
constexpr size_t kTrailerFixed = 16;

core::Status Internal(const core::Status& st) {
  // Store-level failures travel as S3 InternalError with the env's message.
  return S3Error(S3Err::kInternalError, st.ToString());
}

// Reads and checks the trailer of an object or part file.
core::Result<ObjectMeta> ReadTrailer(FsFile& file) {
  S3_ASSIGN_OR_RETURN(const uint64_t file_size, file.Size());
  if (file_size < kTrailerFixed) return core::Status::Corruption("object file too short");
  char fixed[kTrailerFixed];
  S3_ASSIGN_OR_RETURN(size_t n, file.PRead(file_size - kTrailerFixed, fixed, kTrailerFixed));
  if (n != kTrailerFixed || std::memcmp(fixed + 8, kMagic, 8) != 0) {
    return core::Status::Corruption("bad object trailer");
  }
  uint64_t meta_len = 0;
  for (int i = 0; i < 8; ++i) meta_len |= uint64_t(static_cast<unsigned char>(fixed[i])) << (8 * i);
  if (meta_len > file_size - kTrailerFixed || meta_len > (16u << 20)) {
    return core::Status::Corruption("bad object meta length");
  }
  std::string meta_bytes(meta_len, '\0');
  S3_ASSIGN_OR_RETURN(n, file.PRead(file_size - kTrailerFixed - meta_len, meta_bytes.data(),
                                    meta_len));
  if (n != meta_len) return core::Status::Corruption("short meta read");
  S3_ASSIGN_OR_RETURN(ObjectMeta meta, DecodeMeta(meta_bytes));
  if (meta.size != file_size - kTrailerFixed - meta_len) {
    return core::Status::Corruption("object size does not match its file");
  }
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
  // Publishes the complete file (trailer written) under its final name.
  using CommitFn = std::function<core::Status(FsFile&, const std::string&, const ObjectMeta&)>;
  FsWriter(FsEnv& env, std::unique_ptr<FsFile> file, std::string tmp_path, std::string key,
           CommitFn commit)
      : env_(env), file_(std::move(file)), tmp_path_(std::move(tmp_path)), key_(std::move(key)),
        commit_(std::move(commit)) {}
  ~FsWriter() override {
    file_.reset();
    if (!committed_) (void)env_.Unlink(tmp_path_);
  }
  core::Status Append(std::string_view data) override {
    S3_CHECK_MSG(file_ != nullptr && !committed_, "Append after Commit");
    if (core::Status st = file_->Append(data); !st.ok()) return Internal(st);
    written_ += data.size();
    return core::Status::Ok();
  }
  uint64_t bytes_written() const override { return written_; }
  core::Status Commit(ObjectMeta meta) override {
    S3_CHECK_MSG(file_ != nullptr && !committed_, "Commit twice");
    S3_CHECK_MSG(meta.size == written_, "Commit with a size that differs from the data");
    meta.key = key_;
    if (core::Status st = file_->Append(Trailer(meta)); !st.ok()) return Internal(st);
    S3_RETURN_IF_ERROR(commit_(*file_, tmp_path_, meta));
    file_.reset();
    committed_ = true;
    return core::Status::Ok();
  }

 private:
  FsEnv& env_;
  std::unique_ptr<FsFile> file_;
  std::string tmp_path_;
  std::string key_;
  CommitFn commit_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

class FsReader final : public ObjectReader {
 public:
  FsReader(std::unique_ptr<FsFile> file, ObjectMeta meta)
      : file_(std::move(file)), meta_(std::move(meta)) {}
  const ObjectMeta& meta() const override { return meta_; }
  core::Result<size_t> Read(uint64_t offset, char* dst, size_t len) override {
    if (offset >= meta_.size) return size_t{0};
    len = std::min<uint64_t>(len, meta_.size - offset);
    auto n = file_->PRead(offset, dst, len);
    if (!n.ok()) return Internal(n.status());
    return *n;
  }
  int FileDescriptor() const override { return file_->NativeFd(); }

 private:
  std::unique_ptr<FsFile> file_;
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

FsStore::FsStore(std::string dir, uint64_t seed, FsEnv& env)
    : dir_(std::move(dir)), env_(env), rng_(seed) {}

core::Result<std::unique_ptr<FsStore>> FsStore::Open(const std::string& dir, uint64_t seed,
                                                     FsEnv& env) {
  std::unique_ptr<FsStore> store(new FsStore(dir, seed, env));
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

core::Status FsStore::WriteNewFile(const std::string& path, std::string_view content) {
  auto file = env_.CreateFile(path);
  if (!file.ok()) return Internal(file.status());
  core::Status st = (*file)->Append(content);
  if (st.ok()) st = (*file)->Sync();
  return st.ok() ? st : Internal(st);
}

core::Result<std::string> FsStore::ReadSmallFile(const std::string& path) {
  auto file = env_.OpenFile(path);
  if (!file.ok()) return Internal(file.status());
  std::string out(4096, '\0');
  size_t have = 0;
  for (;;) {
    auto n = (*file)->PRead(have, out.data() + have, out.size() - have);
    if (!n.ok()) return Internal(n.status());
    have += *n;
    if (have < out.size() || out.size() >= (1u << 20)) break;
    out.resize(out.size() * 2);
  }
  out.resize(have);
  return out;
}

core::Result<ObjectMeta> FsStore::ReadTrailerAt(const std::string& path) {
  S3_ASSIGN_OR_RETURN(auto file, env_.OpenFile(path));
  return ReadTrailer(*file);
}

core::Status FsStore::RenameDurably(const std::string& from, const std::string& to,
                                    bool* renamed) {
  if (renamed != nullptr) *renamed = false;
  if (core::Status st = env_.Rename(from, to); !st.ok()) return Internal(st);
  if (renamed != nullptr) *renamed = true;
  if (core::Status st = env_.SyncDir(ParentPath(to)); !st.ok()) return Internal(st);
  return core::Status::Ok();
}

core::Status FsStore::Publish(FsFile& file, const std::string& tmp, const std::string& dest,
                              bool* visible) {
  *visible = false;
  if (Planted(FsStoreBug::kAckBeforeFsync)) {
    // PLANTED BUG: neither the bytes nor the directory entry are durable at the ack.
    core::Status st = env_.Rename(tmp, dest);
    *visible = st.ok();
    return st.ok() ? st : Internal(st);
  }
  if (Planted(FsStoreBug::kTornCommit)) {
    // PLANTED BUG: the name is made durable before the bytes it points to.
    return RenameDurably(tmp, dest, visible);
  }
  if (core::Status st = file.Sync(); !st.ok()) return Internal(st);
  return RenameDurably(tmp, dest, visible);
}

core::Status FsStore::Load() {
  for (const char* sub : {"", "/buckets", "/uploads", "/tmp"}) {
    if (core::Status st = env_.CreateDirs(dir_ + sub); !st.ok()) return Internal(st);
  }
  // The layout's own names must be durable too, or a crash soon after the first start can
  // take buckets/ (with every acknowledged object in it) away. Found by the SimFs tests.
  for (const std::string& d : {ParentPath(dir_), dir_}) {
    if (core::Status st = env_.SyncDir(d); !st.ok()) return Internal(st);
  }
  auto tmp_entries = env_.ListDir(dir_ + "/tmp");
  if (!tmp_entries.ok()) return Internal(tmp_entries.status());
  for (const auto& e : *tmp_entries) {
    (void)env_.RemoveAll(dir_ + "/tmp/" + e.name);
    ++leftovers_removed_;
  }
  if (leftovers_removed_ > 0) {
    spdlog::info("fs store {}: removed {} leftovers of interrupted writes", dir_,
                 leftovers_removed_);
  }
  auto bucket_entries = env_.ListDir(dir_ + "/buckets");
  if (!bucket_entries.ok()) return Internal(bucket_entries.status());
  for (const auto& b : *bucket_entries) {
    const std::string& name = b.name;
    const std::string bdir = BucketDir(name);
    if (!ValidateBucketName(name).ok() || !b.is_dir) continue;
    auto created = ReadSmallFile(bdir + "/_bucket");
    if (!created.ok()) {
      spdlog::warn("fs store: skipping bucket dir without _bucket: {}", bdir);
      continue;
    }
    BucketIdx& idx = buckets_[name];
    idx.created_unix = std::strtoll(created->c_str(), nullptr, 10);
    auto files = env_.ListDir(bdir);
    if (!files.ok()) return Internal(files.status());
    for (const auto& f : *files) {
      if (f.is_dir || f.name.size() < 4 || f.name.substr(f.name.size() - 4) != ".obj") continue;
      auto meta = ReadTrailerAt(bdir + "/" + f.name);
      if (!meta.ok() || f.name != HexEncode(Sha256(meta->key)) + ".obj") {
        spdlog::warn("fs store: ignoring unreadable object file {}/{}", bdir, f.name);
        ++unreadable_files_;
        continue;
      }
      idx.objects[meta->key] = *meta;
    }
  }
  auto upload_entries = env_.ListDir(dir_ + "/uploads");
  if (!upload_entries.ok()) return Internal(upload_entries.status());
  for (const auto& u : *upload_entries) {
    const std::string& id = u.name;
    if (!ValidUploadId(id) || !u.is_dir) continue;
    const std::string udir = UploadDir(id);
    auto data = ReadSmallFile(udir + "/_upload");
    if (!data.ok()) continue;
    auto info = DecodeUpload(*data);
    if (!info.ok() || info->upload_id != id || buckets_.count(info->bucket) == 0) continue;
    UploadIdx& idx = uploads_[id];
    idx.info = *info;
    auto files = env_.ListDir(udir);
    if (!files.ok()) return Internal(files.status());
    for (const auto& f : *files) {
      if (f.is_dir || f.name.size() < 6 || f.name.substr(f.name.size() - 5) != ".part") continue;
      const int n = std::atoi(f.name.c_str());
      if (f.name != std::to_string(n) + ".part" || !ValidatePartNumber(n).ok()) continue;
      auto meta = ReadTrailerAt(udir + "/" + f.name);
      if (!meta.ok()) {
        ++unreadable_files_;
        continue;
      }
      idx.parts[n] = PartInfo{n, meta->size, meta->etag, meta->last_modified_unix};
    }
  }
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
  if (core::Status st = env_.CreateDir(tmp); !st.ok()) return Internal(st);
  S3_RETURN_IF_ERROR(WriteNewFile(tmp + "/_bucket", std::to_string(now_unix)));
  if (core::Status st = env_.SyncDir(tmp); !st.ok()) return Internal(st);
  bool renamed = false;
  core::Status st = RenameDurably(tmp, BucketDir(bucket), &renamed);
  // Once renamed the bucket exists on disk, durable or not: the index must say so.
  if (renamed) buckets_[bucket].created_unix = now_unix;
  return st;
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
  bool renamed = false;
  core::Status st = RenameDurably(BucketDir(bucket), tmp, &renamed);
  if (!renamed) return st;
  buckets_.erase(bucket);
  if (st.ok()) st = env_.SyncDir(dir_ + "/buckets");
  if (!st.ok()) return Internal(st);
  (void)env_.RemoveAll(tmp);
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
    std::function<core::Status(FsFile&, const std::string&, const ObjectMeta&)> commit) {
  const std::string tmp = TmpName(".tmp");
  auto file = env_.CreateFile(tmp);
  if (!file.ok()) return Internal(file.status());
  return std::unique_ptr<ObjectWriter>(
      new FsWriter(env_, std::move(*file), tmp, key, std::move(commit)));
}

core::Result<std::unique_ptr<ObjectWriter>> FsStore::BeginPut(const std::string& bucket,
                                                              const std::string& key) {
  S3_RETURN_IF_ERROR(ValidateKey(key));
  S3_RETURN_IF_ERROR(FindBucket(bucket).status());
  return NewWriter(key, [this, bucket, key](FsFile& file, const std::string& tmp,
                                            const ObjectMeta& meta) -> core::Status {
    S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
    // Once the rename is done the new version is what the name holds, even if making it
    // durable failed: the index must follow, or GET would pair old metadata with new bytes.
    bool visible = false;
    core::Status st = Publish(file, tmp, ObjectPath(bucket, key), &visible);
    if (visible) b->objects[key] = meta;
    return st;
  });
}

core::Result<std::unique_ptr<ObjectReader>> FsStore::Open(const std::string& bucket,
                                                          const std::string& key) {
  S3_ASSIGN_OR_RETURN(BucketIdx * b, FindBucket(bucket));
  if (b->objects.count(key) == 0) return S3Error(S3Err::kNoSuchKey);
  const std::string path = ObjectPath(bucket, key);
  auto file = env_.OpenFile(path);
  if (!file.ok()) {
    if (file.status().code() == core::StatusCode::kNotFound) return S3Error(S3Err::kNoSuchKey);
    return Internal(file.status());
  }
  // The index entry describes this file: both change together in one Commit on the store's
  // thread, and files only ever appear complete (fsync'ed, then renamed). So the trailer need
  // not be re-read: a size check guards against outside tampering.
  const ObjectMeta& meta = b->objects.at(key);
  auto size = (*file)->Size();
  if (!size.ok() || *size < meta.size + kTrailerFixed) {
    return S3Error(S3Err::kInternalError, "corrupt object file for key");
  }
  return std::unique_ptr<ObjectReader>(new FsReader(std::move(*file), meta));
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
  if (core::Status st = env_.Unlink(path);
      !st.ok() && st.code() != core::StatusCode::kNotFound) {
    return Internal(st);
  }
  b->objects.erase(key);  // gone from the namespace now, whether or not the sync succeeds
  if (core::Status st = env_.SyncDir(BucketDir(bucket)); !st.ok()) return Internal(st);
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
  } while (uploads_.count(id) != 0 || env_.Exists(UploadDir(id)));
  UploadInfo info;
  info.upload_id = id;
  info.bucket = bucket;
  info.key = key;
  info.initiated_unix = now_unix;
  meta.key = key;
  info.meta = std::move(meta);
  const std::string tmp = TmpName(".upload");
  if (core::Status st = env_.CreateDir(tmp); !st.ok()) return Internal(st);
  S3_RETURN_IF_ERROR(WriteNewFile(tmp + "/_upload", EncodeUpload(info)));
  if (core::Status st = env_.SyncDir(tmp); !st.ok()) return Internal(st);
  bool renamed = false;
  core::Status st = RenameDurably(tmp, UploadDir(id), &renamed);
  if (renamed) uploads_[id].info = std::move(info);
  if (!st.ok()) return st;
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
                       FsFile& file, const std::string& tmp,
                       const ObjectMeta& meta) -> core::Status {
    S3_ASSIGN_OR_RETURN(UploadIdx * u, FindUpload(bucket, key, upload_id));
    bool visible = false;
    core::Status st = Publish(
        file, tmp, UploadDir(upload_id) + "/" + std::to_string(part_number) + ".part", &visible);
    if (visible) {
      u->parts[part_number] = PartInfo{part_number, meta.size, meta.etag, meta.last_modified_unix};
    }
    return st;
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
  auto created = env_.CreateFile(tmp);
  if (!created.ok()) return Internal(created.status());
  std::unique_ptr<FsFile> out = std::move(*created);
  auto fail = [&](core::Status st) {
    out.reset();
    (void)env_.Unlink(tmp);
    return st.code() == core::StatusCode::kCorruption ? st : Internal(st);
  };
  std::string buf(1 << 20, '\0');
  for (const auto& p : plan) {
    const std::string path = UploadDir(upload_id) + "/" + std::to_string(p.number) + ".part";
    auto in = env_.OpenFile(path);
    if (!in.ok()) return fail(in.status());
    uint64_t off = 0;
    while (off < p.size) {
      auto n = (*in)->PRead(off, buf.data(), std::min<uint64_t>(buf.size(), p.size - off));
      if (!n.ok() || *n == 0) {
        return fail(n.ok() ? core::Status::Corruption("part shorter than recorded") : n.status());
      }
      if (core::Status st = out->Append(std::string_view(buf.data(), *n)); !st.ok()) {
        return fail(st);
      }
      off += *n;
    }
  }
  if (core::Status st = out->Append(Trailer(meta)); !st.ok()) return fail(st);
  bool visible = false;
  if (core::Status st = Publish(*out, tmp, ObjectPath(bucket, key), &visible); !st.ok()) {
    if (visible) buckets_.at(bucket).objects[key] = meta;
    return fail(st);
  }
  out.reset();
  buckets_.at(bucket).objects[key] = meta;
  S3_RETURN_IF_ERROR(RemoveUploadDir(upload_id));
  return meta;
}

core::Status FsStore::RemoveUploadDir(const std::string& id) {
  const std::string tmp = TmpName(".deleted");
  bool renamed = false;
  core::Status st = RenameDurably(UploadDir(id), tmp, &renamed);
  if (!renamed) return st;
  uploads_.erase(id);
  if (st.ok()) st = env_.SyncDir(dir_ + "/uploads");
  if (!st.ok()) return Internal(st);
  (void)env_.RemoveAll(tmp);
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
