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
  const ProtocolRun clean = MustRun(c, ProtocolOptions{NetworkFidelity::kPacket, false, {}});
  EXPECT_GT(clean.result.makespan, core::Duration::Zero());
  EXPECT_LT(clean.result.makespan, p.result.makespan);  // loss costs time
  // Without loss the packet model agrees with modelled mode on throughput, for objects
  // large enough that the lockstep rounds of max-min sharing do not dominate (measured
  // +0.1% with 1 MiB GETs; the 256 KiB gap is KnownGapPacketFidelitySmallGets).
  const ScenarioConfig big = Load(kSmall, {"workloads.0.requests=2"});
  const ProtocolRun packets = MustRun(big, ProtocolOptions{NetworkFidelity::kPacket, false, {}});
  const SimResult m = RunScenario(big);
  EXPECT_EQ(packets.stats.requests_ok, 3 * 4 * 2) << packets.stats.first_error;
  EXPECT_NEAR(packets.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << "seed " << big.seed;
}

// The known gaps between the modes (docs/protocol-mode.md, "Agreement with modelled mode",
// items 1 and 2), pinned at what they measure (+-3 points) so that a change to either mode
// that moves them -- closing the gap or widening it -- fails here and gets the document
// updated, instead of hiding under a loose tolerance.
constexpr double kGapTolerance = 0.03;

TEST(ProtocolWorldTest, KnownGapPacketFidelitySmallGets) {
  // 256 KiB GETs at packet fidelity: FIFO links finish some requests early and overlap their
  // fixed latencies with other transfers, which max-min sharing's lockstep rounds do not.
  // Measured +13.1% throughput against modelled mode (docs/protocol-mode.md item 2).
  const ScenarioConfig c = Load(kSmall, {"workloads.0.requests=2", "workloads.0.object_size=256KiB"});
  const ProtocolRun p = MustRun(c, ProtocolOptions{NetworkFidelity::kPacket, false, {}});
  const SimResult m = RunScenario(c);
  EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 2) << p.stats.first_error << " (seed " << c.seed << ")";
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.131, kGapTolerance) << "seed " << c.seed;
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

// Every kind the two modes should agree on (mean utilisation over the group), when the
// modelled value is large enough to compare.
void ExpectKindsAgree(const SimResult& m, const SimResult& p, double tol, const std::string& seed) {
  int compared = 0;
  for (const KindResult& a : m.kinds) {
    if (a.mean < 0.02) continue;
    const KindResult* b = Kind(p, a.group, a.kind);
    ASSERT_NE(b, nullptr) << a.group << " " << a.kind;
    EXPECT_NEAR(b->mean / a.mean, 1.0, tol) << a.group << " " << a.kind << seed;
    ++compared;
  }
  EXPECT_GT(compared, 3) << seed;
}

// An index build on 2 clients with 2 GPUs each (2 streams per GPU: 4 pipelines per client):
// 24 segments of 768 KiB (1024 vectors x 768 B), index 1.05x, GPU build at 2M vectors/s
// (about as long as the transfers).
const char* kIndexBuild = R"(
name: index
seed: 11
definitions:
  storage_node: &storage_node
    cpu: {cores: 16}
    nic: {count: 1, rate: 100Gbps}
    drives: {count: 2, read: 7GB/s, write: 5GB/s}
  index_node: &index_node
    cpu: {cores: 16, index_build_rate_per_core: 200000}
    nic: {count: 1, rate: 100Gbps}
    gpus: {count: 2, pcie: 4GB/s, index_build_rate: 2000000}
cluster:
  storage: {count: 3, node: *storage_node}
  clients: {count: 2, node: *index_node}
network:
  topology: star
  latency: 2us
workloads:
  - name: build
    type: index_build
    vectors: 24576
    dimension: 192
    dtype: float32
    segment_size: 768KiB
    index_ratio: 1.05
    build_on: gpu
    streams: 2
)";

TEST(ProtocolWorldTest, IndexBuildOverRdmaAgreesWithModelledMode) {
  // 96 segments: with 2 GPUs per client and 3 servers the real run keeps each GPU's two
  // pipelines in phase and ends about one shared build (~0.5 ms) later than the model, at
  // any length (docs/models.md 6b): -6.6% at 24 segments, -2.2% at 96.
  const ScenarioConfig c = Load(kIndexBuild, {"workloads.0.vectors=98304"});
  const std::string seed = " (seed " + std::to_string(c.seed) + ")";
  const SimResult m = RunScenario(c);
  ASSERT_EQ(m.workloads.size(), 1u);
  ASSERT_EQ(m.workloads[0].segments, 96);
  for (const bool phantom : {false, true}) {
    ProtocolOptions po;
    po.phantom_payloads = phantom;
    const ProtocolRun p = MustRun(c, po);
    const std::string what = (phantom ? " phantom" : " real") + seed;
    // Every segment read into a GPU slot and its index written back, bytes checked.
    EXPECT_EQ(p.stats.requests_ok, 2 * 96) << p.stats.first_error << what;
    EXPECT_EQ(p.stats.request_errors + p.stats.verify_failures, 0) << p.stats.first_error << what;
    EXPECT_EQ(p.result.requests, m.requests) << what;
    EXPECT_EQ(p.result.bytes, m.bytes) << what;
    EXPECT_EQ(p.result.workloads[0].segments, 96) << what;
    EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << what;
    ExpectKindsAgree(m, p.result, kTolerance, what);
    const KindResult* gpu = Kind(p.result, "clients", "gpu");
    ASSERT_NE(gpu, nullptr);
    EXPECT_GT(gpu->mean, 0.3) << what;  // the GPUs build a good part of the time
    // One flow per segment GET, a few per index PUT (64 MiB READ chunks: one each here).
    EXPECT_EQ(p.stats.flows, 2u * 96u) << what;
    EXPECT_EQ(p.stats.http_body_flows, 0u) << what;
  }
}

TEST(ProtocolWorldTest, KnownGapMultiGpuIndexBuildOnThreeServers) {
  // 2 clients x 2 GPUs on 3 servers, 24 segments: each GPU's two pipelines stay in phase in
  // the real run, so it ends about one shared build later than the model. Measured -6.6%
  // throughput (real and phantom payloads alike; -2.2% at 96 segments, see
  // IndexBuildOverRdmaAgreesWithModelledMode); docs/protocol-mode.md item 1.
  const ScenarioConfig c = Load(kIndexBuild);
  const SimResult m = RunScenario(c);
  ASSERT_EQ(m.workloads.size(), 1u);
  ASSERT_EQ(m.workloads[0].segments, 24);
  ProtocolOptions po;
  po.phantom_payloads = true;
  const ProtocolRun p = MustRun(c, po);
  EXPECT_EQ(p.stats.requests_ok, 2 * 24) << p.stats.first_error << " (seed " << c.seed << ")";
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 0.934, kGapTolerance) << "seed " << c.seed;
}

TEST(ProtocolWorldTest, FailedRequestsMoveNoBytes) {
  // Half the packets lost: the RC retry budget runs out on most requests. Only what
  // succeeded counts as bytes (workload, aggregate and per node); the rest are failures.
  const ScenarioConfig c = Load(kSmall, {"workloads.0.requests=2", "workloads.0.object_size=64KiB"});
  const std::string seed = " (seed " + std::to_string(c.seed) + ")";
  for (const bool phantom : {false, true}) {
    ProtocolOptions po;
    po.fidelity = NetworkFidelity::kPacket;
    po.phantom_payloads = phantom;
    po.faults.drop_probability = 0.5;
    const ProtocolRun p = MustRun(c, po);
    const std::string what = (phantom ? " phantom" : " real") + seed;
    EXPECT_GT(p.stats.request_errors, 0) << what;
    // Failed transfers drop their QPs: the resends on those still count (RdmaClient::QpCounters).
    EXPECT_GT(p.stats.recovery_events, 0u) << what;
    EXPECT_EQ(p.result.requests, 3 * 4 * 2) << what;
    EXPECT_EQ(p.result.failed_requests, p.stats.request_errors + p.stats.verify_failures) << what;
    EXPECT_EQ(p.result.requests - p.result.failed_requests, p.stats.requests_ok) << what;
    EXPECT_EQ(p.result.bytes, p.stats.requests_ok * (64 << 10)) << what;
    ASSERT_EQ(p.result.workloads.size(), 1u);
    EXPECT_EQ(p.result.workloads[0].failed, p.result.failed_requests) << what;
    double node_bps = 0;
    for (const SimResult::NodeThroughput& n : p.result.nodes) node_bps += n.bps;
    // Storage and client nodes each count every moved byte once.
    EXPECT_NEAR(node_bps * p.result.makespan.ToSeconds(), 2.0 * static_cast<double>(p.result.bytes), 1.0) << what;
    EXPECT_NE(FormatSummary(p.result).find(" failed), "), std::string::npos) << FormatSummary(p.result);
  }
  // An index build whose reads and writes fail: a failed read moves nothing, a failed
  // write only its segment.
  const ScenarioConfig ib = Load(kIndexBuild);
  ProtocolOptions po;
  po.fidelity = NetworkFidelity::kPacket;
  po.phantom_payloads = true;
  po.faults.drop_probability = 0.5;
  const ProtocolRun p = MustRun(ib, po);
  EXPECT_GT(p.result.failed_requests, 0) << " (seed " << ib.seed << ")";
  EXPECT_EQ(p.result.failed_requests, p.stats.request_errors) << " (seed " << ib.seed << ")";
  EXPECT_LT(p.result.bytes, RunScenario(ib).bytes) << " (seed " << ib.seed << ")";
}

TEST(ProtocolWorldTest, GenericPipelineOnCpuAgreesWithModelledMode) {
  const ScenarioConfig c = Load(kIndexBuild, {
      "workloads=[{name: etl, type: pipeline, items: 20, read_size: 2MiB, write_size: 512KiB, "
      "compute_time: 1ms, compute_on: cpu, streams: 3}]"});
  const SimResult m = RunScenario(c);
  const ProtocolRun p = MustRun(c);
  const std::string seed = " (seed " + std::to_string(c.seed) + ")";
  EXPECT_EQ(p.stats.requests_ok, 2 * 20) << p.stats.first_error << seed;
  EXPECT_EQ(p.stats.verify_failures, 0) << p.stats.first_error << seed;
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_EQ(p.result.bytes, 20 * (2 << 20) + 20 * (512 << 10));
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << seed;
  ExpectKindsAgree(m, p.result, kTolerance, seed);
}

TEST(ProtocolWorldTest, TcpGetsAndPutsCarryTheBytesAsHttpBodies) {
  for (const char* type : {"get", "put"}) {
    const ScenarioConfig c = Load(kSmall, {"transport=tcp", std::string("workloads.0.type=") + type,
                                           "workloads.0.requests=4", "workloads.0.object_size=2MiB"});
    const std::string what = std::string(" ") + type + " (seed " + std::to_string(c.seed) + ")";
    const SimResult m = RunScenario(c);
    const ProtocolRun p = MustRun(c);
    EXPECT_EQ(p.stats.requests_ok, 3 * 4 * 4) << p.stats.first_error << what;
    EXPECT_EQ(p.stats.verify_failures, 0) << p.stats.first_error << what;
    EXPECT_EQ(p.stats.rdma_connects, 0u) << what;
    EXPECT_EQ(p.stats.packets, 0u) << what;  // no RDMA at all
    EXPECT_EQ(p.stats.http_body_flows, static_cast<uint64_t>(3 * 4 * 4)) << what;  // one flow per body
    EXPECT_EQ(p.result.bytes, m.bytes) << what;
    EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << what;
    ExpectKindsAgree(m, p.result, kTolerance, what);
    // TCP pays CPU per byte on both ends, as modelled mode charges it.
    const KindResult* cpu = Kind(p.result, "storage", "cpu");
    ASSERT_NE(cpu, nullptr);
    EXPECT_GT(cpu->mean, 0.02) << what;
  }
}

TEST(ProtocolWorldTest, TcpIndexBuildOnCpuWithPhantomPayloads) {
  const ScenarioConfig c = Load(kIndexBuild, {"transport=tcp", "workloads.0.build_on=cpu"});
  const SimResult m = RunScenario(c);
  ProtocolOptions po;
  po.phantom_payloads = true;
  const ProtocolRun p = MustRun(c, po);
  const std::string seed = " (seed " + std::to_string(c.seed) + ")";
  EXPECT_EQ(p.stats.requests_ok, 2 * 24) << p.stats.first_error << seed;
  EXPECT_EQ(p.stats.http_body_flows, 2u * 24u) << seed;
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance) << seed;
  ExpectKindsAgree(m, p.result, kTolerance, seed);
}

TEST(ProtocolWorldTest, SegmentsAboveOneGibMoveAsSeveralMessages) {
  // Two 1.5 GiB segments (phantom: nothing allocated): each GET is two RDMA messages.
  const ScenarioConfig c = Load(kIndexBuild, {"workloads.0.vectors=4194304", "workloads.0.segment_size=1536MiB",
                                              "workloads.0.index_ratio=0.01"});
  ProtocolOptions po;
  po.phantom_payloads = true;
  const ProtocolRun p = MustRun(c, po);
  const SimResult m = RunScenario(c);
  EXPECT_EQ(p.stats.requests_ok, 2 * 2) << p.stats.first_error << " (seed " << c.seed << ")";
  EXPECT_EQ(p.result.bytes, m.bytes);
  EXPECT_EQ(p.stats.flows, 2u * 2u + 2u);  // 2 per GET, 1 per (small) index PUT
  EXPECT_NEAR(p.result.aggregate_bps / m.aggregate_bps, 1.0, kTolerance);
  // With real payloads that is more memory than protocol mode holds: a clear error.
  auto r = RunProtocolScenario(c, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'build'"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("--payload phantom"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(CheckProtocolScenario(c, {}).ok());
  EXPECT_TRUE(CheckProtocolScenario(c, po).ok());
}

TEST(ProtocolWorldTest, PipelinesAndTcpAreDeterministic) {
  for (const std::vector<std::string>& sets :
       {std::vector<std::string>{}, std::vector<std::string>{"transport=tcp", "workloads.0.build_on=cpu"}}) {
    const ScenarioConfig c = Load(kIndexBuild, sets);
    const ProtocolRun a = MustRun(c);
    const ProtocolRun b = MustRun(c);
    EXPECT_EQ(a.result.trace_hash, b.result.trace_hash) << "seed " << c.seed;
    EXPECT_EQ(ResultJson(a.result), ResultJson(b.result)) << "seed " << c.seed;
  }
}

TEST(ProtocolWorldTest, UnsupportedScenariosAreClearErrors) {
  const ScenarioConfig ec = Load(kSmall, {"cluster.storage.erasure={data: 1, parity: 1}"});
  auto r = RunProtocolScenario(ec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no erasure coding"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(CheckProtocolScenario(ec).ok());
  EXPECT_FALSE(ParseFidelity("packets").ok());
  EXPECT_TRUE(ParseFidelity("flow").ok());
}

}  // namespace
}  // namespace s3rdma::sim
