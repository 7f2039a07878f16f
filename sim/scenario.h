// Scenario: the plain configuration of one simulation run, and its loader.
//
// YAML becomes these structs in one place (scenario_loader.cc); everything after that
// (models, world, reports) sees only structs. docs/scenario-reference.md lists every key.
//
// Loader errors are one line: "<file>:<line>:<column>: <key path> <problem>", e.g.
//   scenarios/x.yaml:14:7: cluster.storage.count must be >= 1 (got 0)
//   scenarios/x.yaml:3:3: unknown key 'trasport' (did you mean 'transport'?)
// A value that came from `--set path=value` is named by the --set instead of a line.
#ifndef S3RDMA_SIM_SCENARIO_H_
#define S3RDMA_SIM_SCENARIO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "core/units.h"
#include "models/cluster.h"
#include "models/hardware.h"

namespace s3rdma::sim {

struct SizeDistribution {
  enum class Kind { kFixed, kUniform, kLognormal };
  Kind kind = Kind::kFixed;
  core::Bytes fixed = core::Bytes::MiB(1);
  core::Bytes min;            // uniform
  core::Bytes max;            // uniform
  core::Bytes median;         // lognormal
  double sigma = 0.5;         // lognormal, of ln(size)
};

struct ServerChoice {
  enum class Kind { kUniform, kZipf };
  Kind kind = Kind::kUniform;
  double skew = 1.0;  // zipf exponent
};

struct WorkloadConfig {
  enum class Type { kGet, kPut, kIndexBuild, kPipeline };
  std::string name;
  Type type = Type::kGet;
  core::Duration start;
  // GET / PUT streams.
  int64_t streams = 1;              // concurrent streams per client
  int64_t requests = 0;             // per stream; 0 = until `duration`
  core::Duration duration;          // 0 = until `requests`
  SizeDistribution object_size;
  ServerChoice servers;
  models::Buffer buffer = models::Buffer::kHost;  // client-side buffer
  core::Duration think_time;
  bool control_path = true;  // false: bare transfers (no request/response, no request CPU)
  // Index build (Milvus-style): read segments, build, write the index back.
  int64_t vectors = 0;
  int64_t dimension = 0;
  int64_t dtype_bytes = 4;
  core::Bytes segment_size = core::Bytes::GiB(1);
  double index_ratio = 1.0;   // index bytes per raw byte
  bool build_on_gpu = true;  // index_build: build_on; pipeline: compute_on
  // Generic pipeline: per item, read `read_size`, compute `compute_time` (on one GPU, or
  // core-time on one core), write `write_size` (0 = nothing).
  int64_t items = 0;
  core::Bytes read_size = core::Bytes::MiB(1);
  core::Bytes write_size;
  core::Duration compute_time;
};

struct GroupConfig {
  int64_t count = 1;
  models::NodeSpec node;
  // Storage only: objects erasure-coded over `data + parity` consecutive storage nodes.
  // A GET gathers data-1 fragments (size / data each) from peers into the node the client
  // asked, then sends the object; a PUT scatters data+parity-1 fragments to peers.
  // data == 1 and parity == 0: no erasure coding (the default).
  int64_t ec_data = 1;
  int64_t ec_parity = 0;
};

// Which code runs the requests (docs/protocol-mode.md). YAML: `protocol: real` or
// `protocol: {mode: real, fidelity: packet, payload: phantom, loss: 0.01}`; the CLI's
// --protocol/--fidelity/--payload/--loss are the same keys set from the command line.
struct ProtocolConfig {
  enum class Mode { kModelled, kReal, kBoth };
  Mode mode = Mode::kModelled;
  bool packet_fidelity = false;   // false: flow fidelity
  bool phantom_payloads = false;  // sizes only (no bytes carried or checked)
  double loss = 0;                // packet fidelity only: drop probability of every packet
};

struct ScenarioConfig {
  std::string name;
  std::string source;  // file name, for reports
  uint64_t seed = 1;
  models::Transport transport = models::Transport::kRdma;
  GroupConfig storage;
  GroupConfig clients;
  models::FabricSpec fabric;
  models::CostSpec costs;
  std::vector<WorkloadConfig> workloads;
  core::Duration max_time;           // 0 = run until the workloads finish
  core::Duration sample_interval = core::Duration::Milliseconds(10);
  std::string out_dir;               // outputs.dir; the CLI's --out wins
  ProtocolConfig protocol;
};

// Loads a scenario file and applies `overrides` ("path=value", in order; the value is
// parsed as YAML, so lists and maps work). Errors are InvalidArgument with the message
// described above.
core::Result<ScenarioConfig> LoadScenarioFile(const std::string& path,
                                              const std::vector<std::string>& overrides);
// The same from text; `name` stands for the file in error messages.
core::Result<ScenarioConfig> LoadScenarioText(const std::string& text, const std::string& name,
                                              const std::vector<std::string>& overrides);

// Levenshtein distance (exposed for tests of the "did you mean" hints).
size_t EditDistance(const std::string& a, const std::string& b);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_SCENARIO_H_
