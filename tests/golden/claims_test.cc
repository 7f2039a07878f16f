// The published claims (/work/shared/reference/published.md, README "Published claims vs
// model") run through the scenarios in scenarios/claims/. Bands are fixed from the claim's
// wording, never from the model: "~X" is X +-30%, "3-5x" is [3, 5].
//
// Where the model lands inside the band the test checks the band. Where it does not, the
// test pins the model's own prediction (+-3%) so any change to it is noticed, and the gap
// is explained in docs/models.md ("Claims the model does not reproduce") and the README;
// a parameter is never tuned backwards to close a gap.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {
namespace {

SimResult RunFile(const std::string& rel, const std::vector<std::string>& sets = {}) {
  const std::string path = std::string(S3RDMA_SOURCE_DIR) + "/" + rel;
  auto c = LoadScenarioFile(path, sets);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return SimResult{};
  return RunScenario(c.value());
}

double Mean(const SimResult& r, const std::string& group, const std::string& kind) {
  for (const KindResult& k : r.kinds) {
    if (k.group == group && k.kind == kind) return k.mean;
  }
  ADD_FAILURE() << "no " << group << " " << kind << " in results (seed " << r.seed << ")";
  return 0;
}

TEST(PublishedClaimsTest, ReadPerStorageNodeOverRdma) {
  const SimResult r = RunFile("scenarios/claims/per-node-read.yaml");
  const double gbps = r.per_storage_bps_mean / 1e9;
  std::printf("per-node RDMA read: model %.1f GB/s, published ~35 GB/s (band 24.5-45.5)\n", gbps);
  // Known gap: the model is NIC-bound at 400GbE (98% RoCEv2 payload efficiency), 48.8 GB/s.
  EXPECT_NEAR(gbps, 48.8, 48.8 * 0.03) << "seed " << r.seed;
  EXPECT_EQ(r.bottleneck.group + "." + r.bottleneck.kind, "storage.nic_tx");
}

TEST(PublishedClaimsTest, LinearScalingTowardsTerabytesPerSecond) {
  const SimResult one = RunFile("scenarios/claims/scaling.yaml", {"cluster.storage.count=1"});
  const SimResult many = RunFile("scenarios/claims/scaling.yaml", {"cluster.storage.count=32"});
  const double eff = many.per_storage_bps_mean / one.per_storage_bps_mean;
  std::printf("scaling: 1 node %.1f GB/s, 32 nodes %.0f GB/s (%.0f%% per-node efficiency)\n",
              one.aggregate_bps / 1e9, many.aggregate_bps / 1e9, eff * 100);
  // "Linear scaling ... to TB/s": >= 1 TB/s at 32 nodes and per-node throughput within 15%
  // of a single node's (random placement of requests costs some balance).
  EXPECT_GE(many.aggregate_bps, 1e12) << "seed " << many.seed;
  EXPECT_GE(eff, 0.85) << "seed " << many.seed;
}

TEST(PublishedClaimsTest, RdmaVersusTcpThroughputAndCpu) {
  const SimResult rdma = RunFile("scenarios/claims/rdma-vs-tcp.yaml", {"transport=rdma"});
  const SimResult tcp = RunFile("scenarios/claims/rdma-vs-tcp.yaml", {"transport=tcp"});
  const double ratio = rdma.aggregate_bps / tcp.aggregate_bps;
  const double cpu_rdma = Mean(rdma, "storage", "cpu");
  const double cpu_tcp = Mean(tcp, "storage", "cpu");
  const double saving = 1 - cpu_rdma / cpu_tcp;
  std::printf("rdma/tcp throughput %.2fx (published 3-5x); storage CPU %.2f%% vs %.1f%%: %.1f%% lower "
              "(published ~90%%, band 87-93%%)\n",
              ratio, cpu_rdma * 100, cpu_tcp * 100, saving * 100);
  // Known gaps: with the measured kernel-TCP cost (0.28 core-s/GB sending) a 64-core node
  // needs ~14 cores for 400GbE, so TCP is not CPU-bound and both transports hit the NIC;
  // and RDMA's CPU is only per-request HTTP handling, so the saving exceeds 90%.
  EXPECT_NEAR(ratio, 0.99, 0.03) << "seed " << rdma.seed;
  EXPECT_NEAR(cpu_tcp, 0.216, 0.216 * 0.05);
  EXPECT_GT(saving, 0.99);
  // What the claim is about does hold: TCP spends CPU per byte, RDMA does not.
  EXPECT_EQ(tcp.bottleneck.kind, "nic_tx");
}

TEST(PublishedClaimsTest, VectorIndexBuildGpuRdmaVersusCpuTcp) {
  const SimResult gpu = RunFile("scenarios/claims/index-build.yaml");
  const SimResult cpu =
      RunFile("scenarios/claims/index-build.yaml", {"transport=tcp", "workloads.0.build_on=cpu"});
  ASSERT_EQ(gpu.workloads.size(), 1u);
  ASSERT_EQ(cpu.workloads.size(), 1u);
  const double speedup = cpu.makespan.ToSeconds() / gpu.makespan.ToSeconds();
  std::printf("index build: GPU+RDMA %.1f s, CPU+TCP %.1f s: %.1fx (published up to 8x, band 5.6-10.4)\n",
              gpu.makespan.ToSeconds(), cpu.makespan.ToSeconds(), speedup);
  EXPECT_GE(speedup, 8 * 0.7) << "seed " << gpu.seed;
  EXPECT_LE(speedup, 8 * 1.3) << "seed " << gpu.seed;
  EXPECT_EQ(gpu.bottleneck.kind, "gpu");
  EXPECT_EQ(cpu.bottleneck.kind, "cpu");
}

TEST(GoldenTest, QuickstartIsDeterministicAndNicBound) {
  const SimResult a = RunFile("scenarios/quickstart.yaml");
  const SimResult b = RunFile("scenarios/quickstart.yaml");
  EXPECT_EQ(ResultJson(a), ResultJson(b));
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.requests, 8 * 8 * 40);
  EXPECT_EQ(a.bottleneck.group + "." + a.bottleneck.kind, "storage.nic_tx");
}

TEST(GoldenTest, SimGridStarMatchesTheMaxMinBound) {
  // A smaller instance of the SimGrid comparison: aggregate is below the N x 50 GB/s bound
  // and above 85% of it (random placement of 4 streams per client).
  const SimResult r = RunFile("scenarios/simgrid-star.yaml",
                          {"cluster.storage.count=10", "cluster.clients.count=40", "workloads.0.requests=10"});
  EXPECT_EQ(r.requests, 40 * 4 * 10);
  EXPECT_LE(r.aggregate_bps, 10 * 50e9);
  EXPECT_GE(r.aggregate_bps, 0.85 * 10 * 50e9) << "seed " << r.seed;
}

}  // namespace
}  // namespace s3rdma::sim
