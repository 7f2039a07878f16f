// Protocol mode (sim/protocol_world.h): the real S3-over-RDMA server, client and software NIC
// over the modelled network, checked against modelled mode and for determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sim/protocol_world.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {
namespace {

// The documented agreement between the modes on throughput and utilisation
// (docs/protocol-mode.md, "Agreement").
constexpr double kTolerance = 0.05;

ScenarioConfig Load(const std::string& text, const std::vector<std::string>& sets = {}) {
  auto r = LoadScenarioText(text, "test.yaml", sets);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : ScenarioConfig{};
}

const KindResult* Kind(const SimResult& r, const std::string& group, const std::string& kind) {
  for (const KindResult& k : r.kinds) {
    if (k.group == group && k.kind == kind) return &k;
  }
  return nullptr;
}

ProtocolRun MustRun(const ScenarioConfig& c, ProtocolOptions p = {}) {
  auto r = RunProtocolScenario(c, p);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << " (seed " << c.seed << ")";
  return r.ok() ? std::move(r).value() : ProtocolRun{};
}

// A small quickstart: 2 storage nodes with drives, 3 GPU clients, star fabric.
const char* kSmall = R"(
name: small
seed: 7
definitions:
  storage_node: &storage_node
    cpu: {cores: 16}
    nic: {count: 1, rate: 100Gbps}
    drives: {count: 2, read: 7GB/s, write: 5GB/s}
  gpu_server: &gpu_server
    cpu: {cores: 16}
    nic: {count: 1, rate: 100Gbps}
    gpus: {count: 2}
cluster:
  storage: {count: 2, node: *storage_node}
  clients: {count: 3, node: *gpu_server}
network:
  topology: star
  latency: 2us
workloads:
  - name: reads
    type: get
    object_size: 1MiB
    streams: 4
    requests: 6
    buffer: gpu
)";

TEST(ProtocolWorldTest, RealPayloadGetsAgreeWithModelledMode) {
  const ScenarioConfig c = Load(kSmall);
  const SimResult m = RunScenario(c);
  const ProtocolRun p = MustRun(c);
  const std::string seed = " (seed " + std::to_string(c.seed) + ")";
  EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 6) << p.stats.first_error << seed;
  EXPECT_EQ(p.stats.request_errors, 0) << p.stats.first_error << seed;
  EXPECT_EQ(p.stats.verify_failures, 0) << p.stats.first_error << seed;
  EXPECT_EQ(p.result.requests, m.requests);
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << seed;
  for (const auto& [group, kind] : std::vector<std::pair<std::string, std::string>>{
           {"storage", "nic_tx"}, {"storage", "drives"}, {"clients", "nic_rx"}, {"clients", "gpu_pcie_in"}}) {
    const KindResult* a = Kind(m, group, kind);
    const KindResult* b = Kind(p.result, group, kind);
    ASSERT_NE(a, nullptr) << group << " " << kind;
    ASSERT_NE(b, nullptr) << group << " " << kind;
    EXPECT_GT(a->mean, 0.05) << group << " " << kind;
    EXPECT_NEAR(b->mean / a->mean, 1.0, kTolerance) << group << " " << kind << seed;
  }
  // One flow per GET (one WR, one message, one packet), plus a few connects.
  EXPECT_EQ(p.stats.flows, static_cast<uint64_t>(3 * 4 * 6));
  EXPECT_GT(p.stats.rdma_connects, 0u);
}

TEST(ProtocolWorldTest, SameSeedSameTraceAndJson) {
  const ScenarioConfig c = Load(kSmall, {"workloads.0.requests=3"});
  const ProtocolRun a = MustRun(c);
  const ProtocolRun b = MustRun(c);
  EXPECT_EQ(a.result.trace_hash, b.result.trace_hash) << "seed " << c.seed;
  EXPECT_EQ(ResultJson(a.result), ResultJson(b.result)) << "seed " << c.seed;
  const ProtocolRun other = MustRun(Load(kSmall, {"workloads.0.requests=3", "seed=8"}));
  EXPECT_NE(a.result.trace_hash, other.result.trace_hash);
}

TEST(ProtocolWorldTest, PutsStoreTheBufferBytes) {
  // Sizes of a few MiB: a real PUT also waits for the server's READ request to reach the
  // client (one more one-way latency than the modelled PUT, docs/protocol-mode.md), which
  // is ~1% of a 1-4 MiB transfer at 100 Gbps but ~9% of a 100 KiB one.
  const ScenarioConfig c = Load(kSmall, {"workloads.0.type=put", "workloads.0.requests=3",
                                         "workloads.0.object_size={distribution: uniform, min: 1MiB, max: 4MiB}"});
  const SimResult m = RunScenario(c);
  const ProtocolRun p = MustRun(c);
  EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 3) << p.stats.first_error;
  EXPECT_EQ(p.stats.verify_failures, 0) << p.stats.first_error;
  EXPECT_EQ(p.result.bytes, m.bytes);  // the same size draws as modelled mode
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << "seed " << c.seed;
}

TEST(ProtocolWorldTest, PacketFidelityRecoversFromLossAndChecksBytes) {
  const ScenarioConfig c = Load(kSmall, {"workloads.0.requests=2", "workloads.0.object_size=256KiB"});
  ProtocolOptions po;
  po.fidelity = NetworkFidelity::kPacket;
  po.faults.drop_probability = 0.01;
  const ProtocolRun p = MustRun(c, po);
  EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 2) << p.stats.first_error << " (seed " << c.seed << ")";
  EXPECT_GT(p.stats.dropped, 0u);
  EXPECT_GT(p.stats.recovery_events, 0u);  // the RC engine resent what was lost
  EXPECT_EQ(p.stats.flows, 0u);
  EXPECT_GT(p.stats.packets, static_cast<uint64_t>(3 * 4 * 2 * 64));  // 4 KiB MTU
  // Without loss the packet model agrees with modelled mode on throughput.
  const ProtocolRun clean = MustRun(c, ProtocolOptions{NetworkFidelity::kPacket, false, {}});
  const SimResult m = RunScenario(c);
  EXPECT_NEAR(clean.result.aggregate_bps / m.aggregate_bps, 1.0, 0.10) << "seed " << c.seed;
  EXPECT_GT(clean.result.makespan, core::Duration::Zero());
  EXPECT_LT(clean.result.makespan, p.result.makespan);  // loss costs time
}

TEST(ProtocolWorldTest, PhantomPayloadsMoveSizesOnly) {
  // 64 MiB objects x 12 streams on 3 clients: 2.3 GiB of buffers that are never allocated.
  const ScenarioConfig c = Load(kSmall, {"workloads.0.object_size=64MiB", "workloads.0.requests=2"});
  ProtocolOptions po;
  po.phantom_payloads = true;
  const ProtocolRun p = MustRun(c, po);
  const SimResult m = RunScenario(c);
  EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 2) << p.stats.first_error;
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance);
}

TEST(ProtocolWorldTest, UnsupportedScenariosAreClearErrors) {
  auto r = RunProtocolScenario(Load(kSmall, {"transport=tcp"}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("transport: rdma"), std::string::npos) << r.status().ToString();
  r = RunProtocolScenario(
      Load(kSmall, {"workloads=[{name: reads, type: index_build, vectors: 1000, dimension: 8, build_on: cpu}]", "cluster.clients.node.cpu.index_build_rate_per_core=100"}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'reads' is index_build"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(ParseFidelity("packets").ok());
  EXPECT_TRUE(ParseFidelity("flow").ok());
}

}  // namespace
}  // namespace s3rdma::sim
