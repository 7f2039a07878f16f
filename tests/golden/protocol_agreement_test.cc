// Issue #7's cross-check on the published-claims scenarios themselves: the real S3-over-RDMA
// (or S3-over-TCP) code in virtual time and the models agree within 5% on throughput and on
// the mean utilisation of every resource kind (docs/protocol-mode.md, docs/models.md 6b).
// Flow fidelity with phantom payloads, as the benchmark runs. The index build is
// scaled down (fewer vectors, smaller segments: the same shape, 30 segments) so the test
// stays in seconds; everything else is the shipped scenario.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "sim/protocol_world.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {
namespace {

constexpr double kTolerance = 0.05;

void ExpectAgreement(const std::string& rel, const std::vector<std::string>& sets) {
  const std::string path = std::string(S3RDMA_SOURCE_DIR) + "/" + rel;
  auto c = LoadScenarioFile(path, sets);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const SimResult modelled = RunScenario(c.value());
  ProtocolOptions po;
  po.phantom_payloads = true;
  auto run = RunProtocolScenario(c.value(), po);
  ASSERT_TRUE(run.ok()) << rel << ": " << run.status().ToString();
  const SimResult& real = run->result;
  const uint64_t seed = c->seed;
  std::string label = rel;
  for (const std::string& s : sets) label += " --set " + s;
  EXPECT_EQ(run->stats.request_errors, 0) << label << ": " << run->stats.first_error << " (seed " << seed << ")";
  // Duration-bound workloads may finish a few requests more or fewer; counted ones match.
  EXPECT_NEAR(static_cast<double>(real.requests), static_cast<double>(modelled.requests),
              kTolerance * static_cast<double>(modelled.requests))
      << label << " (seed " << seed << ")";
  ASSERT_GT(modelled.aggregate_bps, 0) << label;
  const double dt = real.aggregate_bps / modelled.aggregate_bps - 1;
  std::printf("%-70s throughput %+.2f%%\n", label.c_str(), dt * 100);
  EXPECT_LE(std::abs(dt), kTolerance) << label << ": throughput " << modelled.aggregate_bps << " modelled vs "
                                      << real.aggregate_bps << " real (seed " << seed << ")";
  int compared = 0;
  for (const KindResult& m : modelled.kinds) {
    if (m.mean < 0.001) continue;  // below 0.1% a relative difference says nothing
    const KindResult* r = nullptr;
    for (const KindResult& k : real.kinds) {
      if (k.group == m.group && k.kind == m.kind) r = &k;
    }
    ASSERT_NE(r, nullptr) << label << ": no " << m.group << " " << m.kind << " in the real run (seed " << seed << ")";
    const double du = r->mean / m.mean - 1;
    EXPECT_LE(std::abs(du), kTolerance) << label << ": " << m.group << " " << m.kind << " utilisation " << m.mean
                                        << " modelled vs " << r->mean << " real (seed " << seed << ")";
    ++compared;
  }
  EXPECT_GE(compared, 2) << label << ": too few utilisations to compare (seed " << seed << ")";
}

TEST(ProtocolAgreementTest, ReadPerStorageNode) { ExpectAgreement("scenarios/claims/per-node-read.yaml", {}); }

TEST(ProtocolAgreementTest, RdmaVersusTcpOverTcp) {
  ExpectAgreement("scenarios/claims/rdma-vs-tcp.yaml", {"transport=tcp"});
}

TEST(ProtocolAgreementTest, ScalingAtOneAndThirtyTwoNodes) {
  ExpectAgreement("scenarios/claims/scaling.yaml", {});
  // 32 nodes for 20 ms of the 200 ms steady state (the whole run is ~40 s in protocol mode).
  ExpectAgreement("scenarios/claims/scaling.yaml", {"cluster.storage.count=32", "workloads.0.duration=20ms"});
}

TEST(ProtocolAgreementTest, IndexBuildGpuRdmaAndCpuTcp) {
  const std::vector<std::string> small{"workloads.0.vectors=500K", "workloads.0.segment_size=50MiB"};
  ExpectAgreement("scenarios/claims/index-build.yaml", small);
  std::vector<std::string> cpu = small;
  cpu.push_back("transport=tcp");
  cpu.push_back("workloads.0.build_on=cpu");
  ExpectAgreement("scenarios/claims/index-build.yaml", cpu);
}

}  // namespace
}  // namespace s3rdma::sim
