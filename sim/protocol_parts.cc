#include "sim/protocol_parts.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "proto/s3_error.h"

namespace s3rdma::sim {

using core::Duration;
using core::Result;
using core::Status;

// ---- ModelTransport ------------------------------------------------------------------------

ModelTransport::ModelTransport(models::ClusterModel& cluster, models::FlowSolver& solver,
                               core::Runtime& runtime, proto::S3Service& service,
                               proto::ClientOptions options, ModelTransportOptions model)
    : cluster_(cluster),
      solver_(solver),
      runtime_(runtime),
      inner_(service, runtime, std::move(options),
             proto::DirectTransportOptions{.phantom_bodies = model.phantom_bodies}),
      model_(model),
      stored_{model.server,
              cluster.node_spec(model.server).drives.count > 0 ? models::Buffer::kDrive : models::Buffer::kHost,
              0} {}

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
  const bool object = HasToken(request);
  SendImpl(std::move(request), object, {}, std::move(done));
}

void ModelTransport::SendObject(proto::ClientRequest request, uint64_t phantom_body_bytes, Callback done) {
  proto::DirectRequestExtras extras;
  extras.phantom_body_bytes = phantom_body_bytes;
  extras.body_crossing = [this](proto::BodyDirection d, uint64_t bytes, std::function<void()> go) {
    ++body_flows_;
    const core::Bytes n(static_cast<int64_t>(bytes));
    if (d == proto::BodyDirection::kRequest) {
      cluster_.Transfer(model_.client_data, stored_, n, std::move(go));
    } else {
      cluster_.Transfer(stored_, model_.client_data, n, std::move(go));
    }
  };
  SendImpl(std::move(request), true, std::move(extras), std::move(done));
}

void ModelTransport::SendImpl(proto::ClientRequest request, bool object, proto::DirectRequestExtras extras,
                              Callback done) {
  const Duration lat = cluster_.RouteLatency(model_.client, model_.server);
  const bool get = object && request.method == "GET";
  const bool put = object && request.method == "PUT";
  const bool drives = cluster_.node_spec(model_.server).drives.count > 0;
  const models::DriveSpec& ds = cluster_.node_spec(model_.server).drives;
  const Duration read_lat = model_.control_costs && drives && get ? ds.read_latency : Duration::Zero();
  const Duration write_lat = model_.control_costs && drives && put ? ds.write_latency : Duration::Zero();
  // Request line, headers and body (a body crossing as a flow is not counted here), as
  // HTTP/1.1 would send them.
  const uint64_t req_bytes = 64 + request.method.size() + request.key.size() + HeaderBytes(request.headers) +
                             (extras.body_crossing ? 0 : request.body.size());
  const Duration up = lat + WireTime(model_.client, req_bytes);
  auto crossed = std::make_shared<bool>(false);
  if (extras.body_crossing) {
    extras.body_crossing = [crossed, hook = std::move(extras.body_crossing)](
                               proto::BodyDirection d, uint64_t bytes, std::function<void()> go) {
      if (d == proto::BodyDirection::kResponse) *crossed = true;
      hook(d, bytes, std::move(go));
    };
  }

  auto reply = [this, write_lat, crossed, done = std::move(done)](Result<proto::ClientResponse> r) mutable {
    Duration down = Duration::Zero();
    if (!*crossed) {
      const uint64_t resp_bytes = 32 + (r.ok() ? HeaderBytes(r->headers) + r->body.size() : 256);
      down = cluster_.RouteLatency(model_.client, model_.server) + WireTime(model_.server, resp_bytes);
    }
    runtime_.After(write_lat + down, [r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
  };
  auto serve = [this, read_lat, request = std::move(request), extras = std::move(extras),
                reply = std::move(reply)]() mutable {
    if (read_lat <= Duration::Zero()) {
      inner_.Send(std::move(request), std::move(reply), std::move(extras));  // we run in a runtime task already
      return;
    }
    runtime_.After(read_lat, [this, request = std::move(request), extras = std::move(extras),
                              reply = std::move(reply)]() mutable {
      inner_.Send(std::move(request), std::move(reply), std::move(extras));
    });
  };
  auto at_server = [this, serve = std::move(serve)]() mutable {
    if (model_.control_costs) {
      cluster_.CpuWork(model_.server, cluster_.ServerRequestCpu(), std::move(serve));
    } else {
      serve();
    }
  };
  auto leave = [this, up, at_server = std::move(at_server)]() mutable {
    runtime_.After(up, std::move(at_server));
  };
  if (model_.control_costs) {
    cluster_.CpuWork(model_.client, cluster_.ClientRequestCpu(), std::move(leave));
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
