#include "sim/protocol_parts.h"

#include <cmath>
#include <cstring>

#include "proto/s3_error.h"

namespace s3rdma::sim {

using core::Duration;
using core::Result;
using core::Status;

// ---- ModelTransport ------------------------------------------------------------------------

ModelTransport::ModelTransport(models::ClusterModel& cluster, models::FlowSolver& solver,
                               core::Runtime& runtime, proto::S3Service& service,
                               proto::ClientOptions options, int client, int server,
                               bool control_costs)
    : cluster_(cluster),
      solver_(solver),
      runtime_(runtime),
      inner_(service, runtime, std::move(options)),
      client_(client),
      server_(server),
      control_costs_(control_costs) {}

Duration ModelTransport::WireTime(int node, uint64_t bytes) const {
  const double rate = solver_.capacity(cluster_.resources(node).nic_tx);  // bytes/s
  return Duration::Picoseconds(static_cast<int64_t>(std::ceil(static_cast<double>(bytes) * 1e12 / rate)));
}

namespace {

uint64_t HeaderBytes(const proto::HeaderList& headers) {
  uint64_t n = 0;
  for (const auto& [k, v] : headers) n += k.size() + v.size() + 4;
  return n;
}

bool HasToken(const proto::ClientRequest& r) {
  for (const auto& [k, v] : r.headers) {
    if (k == "x-amz-rdma-token") return true;
  }
  return false;
}

}  // namespace

void ModelTransport::Send(proto::ClientRequest request, Callback done) {
  const Duration lat = cluster_.RouteLatency(client_, server_);
  const bool rdma = HasToken(request);
  const bool get = rdma && request.method == "GET";
  const bool put = rdma && request.method == "PUT";
  const bool drives = cluster_.node_spec(server_).drives.count > 0;
  const models::DriveSpec& ds = cluster_.node_spec(server_).drives;
  const Duration read_lat = control_costs_ && drives && get ? ds.read_latency : Duration::Zero();
  const Duration write_lat = control_costs_ && drives && put ? ds.write_latency : Duration::Zero();
  // Request line, headers and body, as HTTP/1.1 would send them.
  const uint64_t req_bytes = 64 + request.method.size() + request.key.size() + HeaderBytes(request.headers) + request.body.size();
  const Duration up = lat + WireTime(client_, req_bytes);

  auto reply = [this, write_lat, done = std::move(done)](Result<proto::ClientResponse> r) mutable {
    const uint64_t resp_bytes = 32 + (r.ok() ? HeaderBytes(r->headers) + r->body.size() : 256);
    const Duration down = cluster_.RouteLatency(client_, server_) + WireTime(server_, resp_bytes);
    runtime_.After(write_lat + down, [r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
  };
  auto serve = [this, read_lat, request = std::move(request), reply = std::move(reply)]() mutable {
    if (read_lat <= Duration::Zero()) {
      inner_.Send(std::move(request), std::move(reply));  // we run in a runtime task already
      return;
    }
    runtime_.After(read_lat, [this, request = std::move(request), reply = std::move(reply)]() mutable {
      inner_.Send(std::move(request), std::move(reply));
    });
  };
  auto at_server = [this, serve = std::move(serve)]() mutable {
    if (control_costs_) {
      cluster_.CpuWork(server_, cluster_.ServerRequestCpu(), std::move(serve));
    } else {
      serve();
    }
  };
  auto leave = [this, up, at_server = std::move(at_server)]() mutable {
    runtime_.After(up, std::move(at_server));
  };
  if (control_costs_) {
    cluster_.CpuWork(client_, cluster_.ClientRequestCpu(), std::move(leave));
  } else {
    leave();  // only schedules: `done` still runs later, from a runtime task
  }
}

// ---- PhantomStore --------------------------------------------------------------------------

namespace {

class PhantomReader final : public proto::ObjectReader {
 public:
  explicit PhantomReader(proto::ObjectMeta meta) : meta_(std::move(meta)) {}
  const proto::ObjectMeta& meta() const override { return meta_; }
  Result<size_t> Read(uint64_t offset, char* dst, size_t len) override {
    if (offset >= meta_.size) return size_t{0};
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, meta_.size - offset));
    std::memset(dst, 0, n);
    return n;
  }
  std::optional<std::string_view> Contiguous() const override {
    return std::string_view(PhantomStore::PhantomBase(), meta_.size);
  }

 private:
  proto::ObjectMeta meta_;
};

class PhantomWriter final : public proto::ObjectWriter {
 public:
  PhantomWriter(PhantomStore* store, std::string bucket, std::string key)
      : store_(store), bucket_(std::move(bucket)), key_(std::move(key)) {}
  Status Append(std::string_view data) override {
    bytes_ += data.size();
    return Status::Ok();
  }
  uint64_t bytes_written() const override { return bytes_; }
  Status Commit(proto::ObjectMeta meta) override {
    S3_RETURN_IF_ERROR(store_->HeadBucket(bucket_));
    meta.key = key_;
    meta.size = bytes_;
    store_->Put(bucket_, key_, std::move(meta));
    return Status::Ok();
  }

 private:
  PhantomStore* store_;
  std::string bucket_;
  std::string key_;
  uint64_t bytes_ = 0;
};

}  // namespace

PhantomStore::PhantomStore(uint64_t seed) : inner_(seed) {}

const char* PhantomStore::PhantomBase() {
  // A canonical but unmapped-by-convention address range (never dereferenced).
  return reinterpret_cast<const char*>(uintptr_t{0x7e0000000000});
}

void PhantomStore::AddObject(const std::string& bucket, const std::string& key, uint64_t size) {
  proto::ObjectMeta m;
  m.key = key;
  m.size = size;
  m.etag = std::string(32, '0');
  objects_[{bucket, key}] = std::move(m);
}

void PhantomStore::Put(const std::string& bucket, const std::string& key, proto::ObjectMeta meta) {
  objects_[{bucket, key}] = std::move(meta);
}

Status PhantomStore::CreateBucket(const std::string& b, int64_t now) { return inner_.CreateBucket(b, now); }
Status PhantomStore::DeleteBucket(const std::string& b) {
  for (const auto& [k, v] : objects_) {
    if (k.first == b) return proto::S3Error(proto::S3Err::kBucketNotEmpty);
  }
  return inner_.DeleteBucket(b);
}
Status PhantomStore::HeadBucket(const std::string& b) { return inner_.HeadBucket(b); }
std::vector<proto::BucketInfo> PhantomStore::ListBuckets() { return inner_.ListBuckets(); }

Result<std::unique_ptr<proto::ObjectWriter>> PhantomStore::BeginPut(const std::string& b, const std::string& k) {
  S3_RETURN_IF_ERROR(inner_.HeadBucket(b));
  S3_RETURN_IF_ERROR(proto::ValidateKey(k));
  return std::unique_ptr<proto::ObjectWriter>(new PhantomWriter(this, b, k));
}

Result<std::unique_ptr<proto::ObjectReader>> PhantomStore::Open(const std::string& b, const std::string& k) {
  auto it = objects_.find({b, k});
  if (it == objects_.end()) return inner_.Open(b, k);
  return std::unique_ptr<proto::ObjectReader>(new PhantomReader(it->second));
}

Result<proto::ObjectMeta> PhantomStore::Stat(const std::string& b, const std::string& k) {
  auto it = objects_.find({b, k});
  if (it == objects_.end()) return inner_.Stat(b, k);
  return it->second;
}

Status PhantomStore::Delete(const std::string& b, const std::string& k) {
  if (objects_.erase({b, k}) > 0) return Status::Ok();
  return inner_.Delete(b, k);
}

Result<std::vector<proto::ObjectMeta>> PhantomStore::List(const std::string& b, std::string_view p,
                                                          std::string_view f, size_t l) {
  return inner_.List(b, p, f, l);
}
Result<std::string> PhantomStore::CreateUpload(const std::string& b, const std::string& k,
                                               proto::ObjectMeta m, int64_t now) {
  return inner_.CreateUpload(b, k, std::move(m), now);
}
Result<std::unique_ptr<proto::ObjectWriter>> PhantomStore::BeginPart(const std::string& b, const std::string& k,
                                                                     const std::string& u, int n) {
  return inner_.BeginPart(b, k, u, n);
}
Result<proto::UploadInfo> PhantomStore::GetUpload(const std::string& b, const std::string& k,
                                                  const std::string& u) {
  return inner_.GetUpload(b, k, u);
}
Result<std::vector<proto::PartInfo>> PhantomStore::ListParts(const std::string& b, const std::string& k,
                                                             const std::string& u) {
  return inner_.ListParts(b, k, u);
}
Result<proto::ObjectMeta> PhantomStore::CompleteUpload(const std::string& b, const std::string& k,
                                                       const std::string& u,
                                                       const std::vector<proto::CompletedPart>& parts,
                                                       uint64_t min_part, int64_t now) {
  return inner_.CompleteUpload(b, k, u, parts, min_part, now);
}
Status PhantomStore::AbortUpload(const std::string& b, const std::string& k, const std::string& u) {
  return inner_.AbortUpload(b, k, u);
}
Result<std::vector<proto::UploadInfo>> PhantomStore::ListUploads(const std::string& b) {
  return inner_.ListUploads(b);
}

}  // namespace s3rdma::sim
