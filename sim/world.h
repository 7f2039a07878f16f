// Running a scenario: builds the cluster model from a ScenarioConfig, drives the
// workloads in virtual time, and collects the results.
//
// Request model (modelled mode; docs/models.md explains every step):
//   GET:  client CPU (request) -> one-way latency -> server CPU (request) -> drive latency
//         -> data flow server drives/memory -> client host/GPU memory
//         -> [RDMA: one-way latency, the WRITE's ACK] -> one-way latency (reply)
//   PUT:  client CPU -> latency -> server CPU -> [RDMA: latency, the READ request]
//         -> data flow client -> server drives -> drive write latency -> latency (reply)
//   RDMA connections: a request runs on one of the queue pairs its client data endpoint
//         (host memory or one GPU: one device each) holds to that server (RdmaQpsPerServer,
//         least loaded first, as proto::RdmaClient picks); a QP's first
//         request waits for its set-up, a POST /?rdmaConnect: client CPU -> latency ->
//         server CPU -> latency.
//   index_build: segments are dealt round-robin to the client GPUs (or CPUs); each
//         pipeline GETs a segment into GPU (or host) memory, builds it, PUTs the index.
// With `control_path: false` a request is only its data flow (SimGrid-style transfers).
//
// Deterministic: one Rng per stream, forked from the seed; nothing reads the wall clock.
#ifndef S3RDMA_SIM_WORLD_H_
#define S3RDMA_SIM_WORLD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/time.h"
#include "sim/scenario.h"

namespace s3rdma::sim {

struct WorkloadResult {
  std::string name;
  std::string type;
  int64_t requests = 0;  // finished, failed ones included
  int64_t failed = 0;    // of `requests`, those that failed (protocol mode; modelled mode has 0)
  int64_t bytes = 0;     // payload bytes of the requests that succeeded
  core::Time first_start;
  core::Time last_end;
  double throughput_bps = 0;  // bytes per second over [first_start, last_end]
  core::Duration latency_mean, latency_p50, latency_p99, latency_p999, latency_max;
  // index_build only
  int64_t segments = 0;
};

struct ResourceResult {
  std::string name;   // "storage3.nic_tx"
  std::string group;  // "storage" | "clients" | "fabric"
  std::string kind;   // "nic_tx", "cpu", "gpu", "leaf_up", ...
  double capacity = 0;
  double used = 0;         // work units over the run
  double utilisation = 0;  // used / (capacity * makespan)
};

struct KindResult {  // one resource kind over one group of nodes
  std::string group;
  std::string kind;
  double mean = 0;
  double max = 0;
  std::string max_name;
};

struct Sample {
  core::Time time;
  double storage_tx_bps = 0;  // NIC wire bytes/s over the interval, all storage nodes
  double storage_rx_bps = 0;
  double storage_cpu = 0;  // mean utilisation over the interval
  double client_cpu = 0;
  double client_gpu = 0;
};

struct SimResult {
  std::string scenario;
  uint64_t seed = 0;
  std::string transport;
  int64_t storage_nodes = 0;
  int64_t client_nodes = 0;
  core::Duration makespan;  // virtual time from 0 to the last completion
  int64_t requests = 0;         // finished, failed ones included
  int64_t failed_requests = 0;  // of `requests`, those that failed (protocol mode; modelled mode has 0)
  int64_t bytes = 0;            // payload bytes of the requests that succeeded
  double aggregate_bps = 0;     // payload bytes / makespan
  double per_storage_bps_mean = 0, per_storage_bps_min = 0, per_storage_bps_max = 0;
  double per_client_bps_mean = 0;
  struct NodeThroughput {
    std::string name;
    double bps = 0;  // payload bytes served (storage) or moved (clients) / makespan
  };
  std::vector<NodeThroughput> nodes;
  std::vector<WorkloadResult> workloads;
  std::vector<ResourceResult> resources;
  std::vector<KindResult> kinds;
  KindResult bottleneck;  // the kind with the highest mean utilisation
  std::vector<Sample> samples;
  uint64_t events = 0;
  uint64_t solves = 0;             // flow-solver recomputations
  uint64_t activities_solved = 0;  // activities refilled over all solves
  uint64_t widenings = 0;
  uint64_t trace_hash = 0;
  bool hit_max_time = false;
  int64_t rdma_connects = 0;  // RDMA queue pairs set up (POST /?rdmaConnect)
};

struct RunOptions {
  // Called now and then with the fraction of work done (0..1); for progress bars.
  std::function<void(double)> progress;
};

// REQUIRES: `config` came from the loader (validated).
SimResult RunScenario(const ScenarioConfig& config, const RunOptions& options = {});

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_WORLD_H_
