// Pieces of protocol mode (sim/protocol_world.h) that sit between the real proto objects and
// the models: a transport that charges the modelled control-path costs around the real
// DirectTransport, and an object store whose objects have sizes but no bytes (phantom
// payloads). Internal to sim; single-threaded on the world's VirtualRuntime.
#ifndef S3RDMA_SIM_PROTOCOL_PARTS_H_
#define S3RDMA_SIM_PROTOCOL_PARTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/cluster.h"
#include "models/flow_solver.h"
#include "proto/direct_transport.h"
#include "proto/memory_store.h"
#include "proto/s3_service.h"

namespace s3rdma::sim {

struct ModelTransportOptions {
  int client = 0;             // model node indices
  int server = 0;
  bool control_costs = true;  // false: a workload's control_path: false (latencies only)
  // Where the client's object bytes live (SendObject's HTTP bodies): host memory or a GPU.
  models::Endpoint client_data;
  bool phantom_bodies = false;  // the server's store has sizes only (PhantomStore)
};

// ModelTransport: S3 requests from model node `client` to the S3Service of node `server`.
// A request costs what the modelled request does (sim/world.h): client CPU
// (ClusterModel::ClientRequestCpu) -> one-way route latency + request bytes at the client's
// NIC rate -> server CPU (ServerRequestCpu) -> for an object GET the drive read latency ->
// the real service (DirectTransport; for an RDMA request it runs the RDMA transfer over the
// ModelFabric) -> for an object PUT the drive write latency -> latency + response bytes at
// the server's NIC rate -> the caller. With control_costs false only the latencies remain.
// CPU work shares the nodes' cores in the solver.
//
// Send() is the S3Transport (RdmaClient's control path; object requests are the ones with
// an x-amz-rdma-token). SendObject() is a plain S3 GET or PUT of object bytes over HTTP, the
// TCP transport: its HTTP body (the PUT's request body, the GET's object) crosses the
// network as ONE flow, ClusterModel::Transfer between client_data and the server's drives
// (or host memory), so it pays exactly what modelled mode's TCP transfer pays (latency, wire,
// memory copies, per-byte CPU on both ends, one core per stream). A PUT body starts once the
// service accepted the request head (after the server CPU, as modelled mode orders it); a
// GET's object body carries the response, so no separate reply latency follows it.
class ModelTransport final : public proto::S3Transport {
 public:
  ModelTransport(models::ClusterModel& cluster, models::FlowSolver& solver, core::Runtime& runtime,
                 proto::S3Service& service, proto::ClientOptions options, ModelTransportOptions model);
  void Send(proto::ClientRequest request, Callback done) override;
  // A plain GET or PUT of an object (see above). phantom_body_bytes > 0: a PUT body of that
  // many bytes that exist nowhere (DirectRequestExtras::phantom_body_bytes).
  void SendObject(proto::ClientRequest request, uint64_t phantom_body_bytes, Callback done);
  int64_t NowUnix() const override { return inner_.NowUnix(); }
  core::Runtime& runtime() override { return runtime_; }
  uint64_t body_flows() const { return body_flows_; }  // HTTP bodies sent as flows

 private:
  void SendImpl(proto::ClientRequest request, bool object, proto::DirectRequestExtras extras, Callback done);
  core::Duration WireTime(int node, uint64_t bytes) const;

  models::ClusterModel& cluster_;
  models::FlowSolver& solver_;
  core::Runtime& runtime_;
  proto::DirectTransport inner_;
  ModelTransportOptions model_;
  models::Endpoint stored_;  // the server's object bytes: its drives, or host memory
  uint64_t body_flows_ = 0;
};

// PhantomStore: buckets and multipart uploads as a MemoryStore; objects are sizes and
// metadata only. Readers expose a Contiguous() view at an address with no memory behind it
// (only a device on a phantom-payload fabric may use it: it never dereferences it; Read()
// returns zeros). Writers count bytes without storing them. List() sees only the inner
// store's objects.
class PhantomStore final : public proto::ObjectStore {
 public:
  explicit PhantomStore(uint64_t seed);

  // Creates (or replaces) a phantom object of `size` bytes. REQUIRES: the bucket exists.
  void AddObject(const std::string& bucket, const std::string& key, uint64_t size);

  core::Status CreateBucket(const std::string& bucket, int64_t now_unix) override;
  core::Status DeleteBucket(const std::string& bucket) override;
  core::Status HeadBucket(const std::string& bucket) override;
  std::vector<proto::BucketInfo> ListBuckets() override;
  core::Result<std::unique_ptr<proto::ObjectWriter>> BeginPut(const std::string& bucket,
                                                             const std::string& key) override;
  core::Result<std::unique_ptr<proto::ObjectReader>> Open(const std::string& bucket,
                                                         const std::string& key) override;
  core::Result<proto::ObjectMeta> Stat(const std::string& bucket, const std::string& key) override;
  core::Status Delete(const std::string& bucket, const std::string& key) override;
  core::Result<std::vector<proto::ObjectMeta>> List(const std::string& bucket, std::string_view prefix,
                                                    std::string_view from, size_t limit) override;
  core::Result<std::string> CreateUpload(const std::string& bucket, const std::string& key,
                                         proto::ObjectMeta meta, int64_t now_unix) override;
  core::Result<std::unique_ptr<proto::ObjectWriter>> BeginPart(const std::string& bucket,
                                                              const std::string& key,
                                                              const std::string& upload_id,
                                                              int part_number) override;
  core::Result<proto::UploadInfo> GetUpload(const std::string& bucket, const std::string& key,
                                            const std::string& upload_id) override;
  core::Result<std::vector<proto::PartInfo>> ListParts(const std::string& bucket,
                                                       const std::string& key,
                                                       const std::string& upload_id) override;
  core::Result<proto::ObjectMeta> CompleteUpload(const std::string& bucket, const std::string& key,
                                                 const std::string& upload_id,
                                                 const std::vector<proto::CompletedPart>& parts,
                                                 uint64_t min_part_size, int64_t now_unix) override;
  core::Status AbortUpload(const std::string& bucket, const std::string& key,
                           const std::string& upload_id) override;
  core::Result<std::vector<proto::UploadInfo>> ListUploads(const std::string& bucket) override;

  // Where phantom object bytes "are": never dereferenced.
  static const char* PhantomBase();

  // Internal: a writer commits here.
  void Put(const std::string& bucket, const std::string& key, proto::ObjectMeta meta);

 private:
  proto::MemoryStore inner_;
  std::map<std::pair<std::string, std::string>, proto::ObjectMeta> objects_;
};

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_PROTOCOL_PARTS_H_
