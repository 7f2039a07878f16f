// The published claims (/work/shared/reference/published.md) run through the scenarios in
// scenarios/claims/ with the measured defaults (docs/models.md sections 4-5).
//
// Each test does two separate things:
//  1. It pins the model's own prediction (+-3%), so any change to a model or a default is
//     noticed and docs/models.md section 6 and the README table are updated with it.
//  2. It checks the prediction against the claim's band and asserts the verdict recorded in
//     docs/models.md section 6: "in band" or "out of band". A claim the model misses is a
//     documented "no", never a widened band or a tuned parameter; if a change moves a
//     prediction across a band edge the test fails until the docs say so.
// Bands come from the claim's wording, never from the model: "~X" is X +-30%, "3-5x" is
// [3, 5], "up to 8x" is 8x +-30%, "~90% lower" is 87-93% (+-3 points).
#include <gtest/gtest.h>

#include <cstdio>
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

enum class Verdict { kInBand, kOutOfBand };

// Prints the comparison and checks both the pinned prediction and the documented verdict.
void CheckClaim(const char* claim, double model, double pinned, double lo, double hi,
                Verdict documented, uint64_t seed) {
  const bool in_band = model >= lo && model <= hi;
  std::printf("claim: %-44s model %9.3f  band [%g, %g]  %s\n", claim, model, lo, hi,
              in_band ? "IN BAND" : "OUT OF BAND");
  EXPECT_NEAR(model, pinned, pinned * 0.03)
      << claim << ": the prediction moved; update docs/models.md section 6 and the README table "
      << "(seed " << seed << ")";
  if (documented == Verdict::kInBand) {
    EXPECT_TRUE(in_band) << claim << " left its band; docs/models.md section 6 says it is in "
                         << "(seed " << seed << ")";
  } else {
    EXPECT_FALSE(in_band) << claim << " is now in its band; docs/models.md section 6 explains "
                          << "a miss: update it (seed " << seed << ")";
  }
}

TEST(PublishedClaimsTest, ReadPerStorageNodeOverRdma) {
  const SimResult r = RunFile("scenarios/claims/per-node-read.yaml");
  // Known miss: NIC-bound at 400GbE with 98% RoCEv2 payload efficiency.
  CheckClaim("~35 GB/s read per storage node (GB/s)", r.per_storage_bps_mean / 1e9, 47.98, 24.5, 45.5,
             Verdict::kOutOfBand, r.seed);
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
  CheckClaim("scales to TB/s: 32 nodes (TB/s)", many.aggregate_bps / 1e12, 1.505, 1.0, 1e9,
             Verdict::kInBand, many.seed);
  CheckClaim("linear scaling: per-node efficiency at 32", eff, 0.965, 0.85, 1.0, Verdict::kInBand,
             many.seed);
}

TEST(PublishedClaimsTest, RdmaVersusTcpThroughputAndCpu) {
  const SimResult rdma = RunFile("scenarios/claims/rdma-vs-tcp.yaml", {"transport=rdma"});
  const SimResult tcp = RunFile("scenarios/claims/rdma-vs-tcp.yaml", {"transport=tcp"});
  const double cpu_rdma = Mean(rdma, "storage", "cpu");
  const double cpu_tcp = Mean(tcp, "storage", "cpu");
  std::printf("rdma %.1f GB/s, tcp %.1f GB/s; storage CPU %.2f%% vs %.2f%%\n", rdma.aggregate_bps / 1e9,
              tcp.aggregate_bps / 1e9, cpu_rdma * 100, cpu_tcp * 100);
  // Known misses: the measured TCP server cost (0.084 core-s/GB sending) needs ~4 of 64
  // cores for 400GbE, so both transports are NIC-bound; the CPU saving is 93.2%, just above
  // 93% (within the noise of the measured per-request costs; docs/models.md section 6).
  CheckClaim("RDMA 3-5x the throughput of TCP (ratio)", rdma.aggregate_bps / tcp.aggregate_bps, 0.987, 3,
             5, Verdict::kOutOfBand, rdma.seed);
  CheckClaim("~90% lower storage-node CPU (saving)", 1 - cpu_rdma / cpu_tcp, 0.932, 0.87, 0.93,
             Verdict::kOutOfBand, tcp.seed);
  EXPECT_EQ(tcp.bottleneck.kind, "nic_tx");
}

TEST(PublishedClaimsTest, TcpBecomesCpuBoundOnlyWhenCoresAreScarce) {
  // The mechanism behind the throughput claim, on the same scenario: TCP spends storage
  // CPU per byte, RDMA does not, so with few enough cores TCP is CPU-bound and RDMA is not.
  const SimResult rdma = RunFile("scenarios/claims/rdma-vs-tcp.yaml",
                                 {"transport=rdma", "cluster.storage.node.cpu.cores=2"});
  const SimResult tcp = RunFile("scenarios/claims/rdma-vs-tcp.yaml",
                                {"transport=tcp", "cluster.storage.node.cpu.cores=2"});
  EXPECT_EQ(rdma.bottleneck.group + "." + rdma.bottleneck.kind, "storage.nic_tx") << "seed " << rdma.seed;
  EXPECT_EQ(tcp.bottleneck.group + "." + tcp.bottleneck.kind, "storage.cpu") << "seed " << tcp.seed;
  EXPECT_GT(rdma.aggregate_bps, 1.5 * tcp.aggregate_bps) << "seed " << tcp.seed;
}

TEST(PublishedClaimsTest, VectorIndexBuildGpuRdmaVersusCpuTcp) {
  const SimResult gpu = RunFile("scenarios/claims/index-build.yaml");
  const SimResult cpu =
      RunFile("scenarios/claims/index-build.yaml", {"transport=tcp", "workloads.0.build_on=cpu"});
  ASSERT_EQ(gpu.workloads.size(), 1u);
  ASSERT_EQ(cpu.workloads.size(), 1u);
  std::printf("index build: GPU+RDMA %.1f s, CPU+TCP %.1f s\n", gpu.makespan.ToSeconds(),
              cpu.makespan.ToSeconds());
  // Known miss, above the band: CPU+TCP builds for 267 s on 64 cores and then waits on
  // index write-backs, each one PUT stream bounded by one core of the storage node's
  // durable PUT path (s3rdma serve --data-dir, 8 MiB: 2.20 core-s/GB: 0.45 GB/s).
  CheckClaim("up to 8x faster index build (speed-up)", cpu.makespan.ToSeconds() / gpu.makespan.ToSeconds(),
             10.56, 8 * 0.7, 8 * 1.3, Verdict::kOutOfBand, gpu.seed);
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
