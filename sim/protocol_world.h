// Protocol mode: a scenario run by the real S3-over-RDMA code in virtual time
// (docs/protocol-mode.md; issue #7).
//
// From a ScenarioConfig it builds the same ClusterModel as modelled mode (sim/world.h) and,
// per storage node, an S3Service over a MemoryStore (or a PhantomStore) and, over RDMA, a
// real RdmaServer on an emu::Device; per client node one data endpoint ("port": host memory
// or one GPU) per buffer kind its workloads use, each with its own emu::Device and, per
// server it talks to, a real RdmaClient whose S3 requests go through a ModelTransport
// (control-path costs) to the server's S3Service. Every RDMA packet crosses a ModelFabric
// (flow or packet fidelity). Over TCP (transport: tcp) there is no RDMA: object requests are
// plain S3 GET/PUT whose HTTP bodies cross the modelled network as flows with modelled
// mode's TCP costs (ModelTransport::SendObject).
//
// Workloads: GET and PUT streams issue Get/Put into registered buffer slots (one per
// stream); index_build and pipeline streams read segment k from storage node k % count into
// their GPU (or host) slot, compute (ClusterModel::Compute / GpuWork / CpuWork), and PUT the
// index (write_size) back, as modelled mode's NextSegment does. Objects to read exist before
// the run. With real payloads every GET's bytes are compared with the object and every PUT's
// stored bytes with the buffer.
//
// The request sequence (which stream asks which server for what size) is drawn exactly as
// modelled mode draws it, so the two modes run the same workload. The result is a SimResult
// (reports print it unchanged) plus ProtocolStats.
#ifndef S3RDMA_SIM_PROTOCOL_WORLD_H_
#define S3RDMA_SIM_PROTOCOL_WORLD_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "emu/inproc_fabric.h"
#include "sim/model_fabric.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {

struct ProtocolOptions {
  NetworkFidelity fidelity = NetworkFidelity::kFlow;
  bool phantom_payloads = false;  // sizes only: no object or buffer memory, nothing checked
  emu::FaultConfig faults;        // packet fidelity only
};

struct ProtocolStats {
  int64_t requests_ok = 0;
  int64_t request_errors = 0;     // callbacks with an error
  int64_t verify_failures = 0;    // bytes differed (real payloads)
  int64_t clamped_sizes = 0;      // sizes above the object size, clamped (lognormal tails)
  std::string first_error;        // the first error or mismatch, with its request
  uint64_t packets = 0;
  uint64_t flows = 0;             // RDMA message flows + HTTP body flows
  uint64_t recovery_events = 0;  // client QPs: sequence NAKs sent + duplicates received
  uint64_t dropped = 0;                // injected
  uint64_t rdma_connects = 0;
  uint64_t http_fallbacks = 0;
  uint64_t http_body_flows = 0;   // TCP: object bodies sent as flows (part of `flows`)
};

struct ProtocolRun {
  SimResult result;
  ProtocolStats stats;
};

// InvalidArgument for what protocol mode cannot run (erasure coding, drive or GPU buffers on
// clients without them, real payloads beyond the memory budget, ...), naming the workload.
core::Result<ProtocolRun> RunProtocolScenario(const ScenarioConfig& config,
                                              const ProtocolOptions& protocol,
                                              const RunOptions& options = {});

// The checks RunProtocolScenario starts with (to fail before a modelled run). Without
// `protocol`, only what does not depend on the options (the real-payload memory budget does).
core::Status CheckProtocolScenario(const ScenarioConfig& config);
core::Status CheckProtocolScenario(const ScenarioConfig& config, const ProtocolOptions& protocol);

// "flow" | "packet"
core::Result<NetworkFidelity> ParseFidelity(const std::string& text);

// The side-by-side table of a modelled and a protocol-mode result: throughput, makespan,
// latency, per-kind utilisation, with the relative difference of each.
std::string FormatComparison(const SimResult& modelled, const SimResult& real);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_PROTOCOL_WORLD_H_
