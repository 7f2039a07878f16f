// What the modelled World (world.cc) and the ProtocolWorld (protocol_world.cc) share to turn
// a finished run into a SimResult, so both modes report the same way (and `--protocol both`
// compares like with like). Internal to sim/.
#ifndef S3RDMA_SIM_WORLD_RESULTS_H_
#define S3RDMA_SIM_WORLD_RESULTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/time.h"
#include "core/virtual_runtime.h"
#include "models/cluster.h"
#include "models/flow_solver.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {

// "get", "put", "index_build", "pipeline".
const char* WorkloadTypeName(WorkloadConfig::Type t);

// "storage12.gpu3_pcie_in" -> {"storage", "gpu_pcie_in"}; "leaf4.up" -> {"fabric", "leaf_up"}.
std::pair<std::string, std::string> ResourceGroupAndKind(const std::string& name);

// Per-workload counters both worlds keep (each world's workload state derives from it).
struct WorkloadTally {
  const WorkloadConfig* cfg = nullptr;
  std::vector<int64_t> latencies_ps;
  int64_t requests = 0;  // finished, failed ones included
  int64_t failed = 0;    // of `requests`, those that failed
  int64_t bytes = 0;     // payload bytes of the requests that succeeded
  core::Time first_start = core::Time::Max();
  core::Time last_end;
  int64_t segments = 0;  // index builds only
};

// Everything a finished run hands to CollectResult; all references must outlive the call.
struct RunRecord {
  const ScenarioConfig* config = nullptr;
  core::Time last_end;
  bool hit_max_time = false;
  std::vector<const WorkloadTally*> workloads;
  const std::vector<int64_t>* node_bytes = nullptr;  // payload bytes per cluster node
  int storage_first = 0;                             // node index range of storage nodes
  int client_first = 0;                              // first client node index
  const models::ClusterModel* cluster = nullptr;
  const models::FlowSolver* solver = nullptr;
  std::function<double(models::ResourceId)> used_work;  // work done on a resource
  const std::vector<Sample>* samples = nullptr;
  const core::VirtualRuntime* runtime = nullptr;
  int64_t rdma_connects = 0;  // RDMA QPs set up (POST /?rdmaConnect) during the run
};

SimResult CollectResult(const RunRecord& run);

// Workload planning both worlds share, so the two modes run the same workload.

// index_build or pipeline: segments read, computed on and written back by each stream.
bool IsPipeline(const WorkloadConfig& w);

// The segment layout of a pipeline workload (IsPipeline). index_build: the vectors cut into
// segments of whole vectors, segment_size rounded down (at least one vector), the last one
// holding the rest; pipeline: `items` segments of read_size.
struct SegmentPlan {
  int64_t segments = 0;
  int64_t segment_bytes = 0;
  int64_t last_segment_bytes = 0;
  int64_t total_read = 0;
  int64_t max_write = 0;  // the largest write of one segment
  int64_t total_write = 0;

  // REQUIRES: 0 <= k < segments.
  int64_t ReadBytes(int64_t k) const { return k == segments - 1 ? last_segment_bytes : segment_bytes; }
};
SegmentPlan PlanSegments(const WorkloadConfig& cfg);

// What a segment of `read_bytes` writes back: the pipeline's write_size (0: nothing), or the
// index, max(1, round(read_bytes * index_ratio)).
int64_t SegmentWriteBytes(const WorkloadConfig& cfg, int64_t read_bytes);

// The largest object a get/put workload asks for (>= 1): the fixed size, the uniform
// maximum, or four sigma above the lognormal median (at most 1 GiB; protocol mode clamps
// larger draws).
uint64_t MaxObjectSize(const WorkloadConfig& w);

// Streams of a workload per client node: a pipeline building on GPUs runs `streams` on
// every GPU, anything else `streams`.
int64_t StreamsOf(const ScenarioConfig& c, const WorkloadConfig& w);

// Streams of one client node that move data through `ep`'s memory (ep.node is ignored): a
// get/put workload's `streams` on its buffer (GPU buffers are GPU 0); an index build's or
// pipeline's `streams` on every GPU when it builds on GPUs, else on host memory. Each such
// data endpoint is one RDMA device in protocol mode (one NIC per GPU, as GPUDirect servers
// are built), with its own queue pairs.
int64_t StreamsOnEndpoint(const ScenarioConfig& c, const models::Endpoint& ep);

// The RC queue pairs one client device opens, at most, to each storage node it talks to
// (proto::RdmaClientOptions::connections), in both worlds: enough that the server runs every
// stream's request at once. proto::RdmaServer runs at most `max_requests_per_connection`
// transfers per QP and queues the rest, so ceil(streams / max_requests_per_connection),
// within the client's 1..64. The QPs open lazily, one by one as load grows (docs/models.md 2).
int RdmaQps(int64_t streams, uint32_t max_requests_per_connection);
// RdmaQps(StreamsOnEndpoint(c, ep), proto::RdmaServerOptions' default per-connection limit).
int RdmaQpsPerServer(const ScenarioConfig& c, const models::Endpoint& ep);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_WORLD_RESULTS_H_
