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
  int64_t requests = 0;
  int64_t bytes = 0;
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
};

SimResult CollectResult(const RunRecord& run);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_WORLD_RESULTS_H_
