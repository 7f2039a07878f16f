#include "models/cluster.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace s3rdma::models {
namespace {

// name -> weight per payload byte, for checking the per-byte cost table of docs/models.md.
std::map<std::string, double> Weights(const ClusterModel& c, const FlowSolver& s, const Endpoint& src,
                                      const Endpoint& dst, double* bound) {
  std::map<std::string, double> w;
  for (const ResourceUse& u : c.TransferUses(src, dst, core::Bytes::MiB(16), bound)) {
    w[s.name(u.resource)] = u.weight;
  }
  return w;
}

struct Fixture {
  explicit Fixture(Transport t, Topology topo = Topology::kStar, CostSpec costs = {})
      : solver(rt), cluster(rt, solver, Fabric(topo), costs, t) {
    NodeSpec storage;
    storage.drives.count = 4;
    NodeSpec gpu;
    gpu.gpus.count = 2;
    cluster.AddNode("s", storage, NodeRole::kStorage);
    cluster.AddNode("c", gpu, NodeRole::kClient);
    if (topo == Topology::kStar) cluster.AddNode("s2", storage, NodeRole::kStorage);
    cluster.Seal();
  }
  // Distinct round numbers per role and direction, so each weight shows which one it took.
  static CostSpec TcpCosts() {
    CostSpec c;
    c.tcp.server_send_cpu_per_gb = core::Duration::Milliseconds(200);
    c.tcp.server_recv_cpu_per_gb = core::Duration::Milliseconds(300);
    c.tcp.client_send_cpu_per_gb = core::Duration::Milliseconds(500);
    c.tcp.client_recv_cpu_per_gb = core::Duration::Milliseconds(700);
    c.tcp.copy_cpu_per_gb = core::Duration::Milliseconds(100);
    c.tcp.gpu_bounce_copies = 1;
    return c;
  }
  static FabricSpec Fabric(Topology t) {
    FabricSpec f;
    f.topology = t;
    f.nodes_per_leaf = 1;
    f.oversubscription = 2;
    return f;
  }
  core::VirtualRuntime rt;
  FlowSolver solver;
  ClusterModel cluster;
};

TEST(ClusterModelTest, RdmaGetIntoGpuMemoryBypassesClientHostMemoryAndCpu) {
  Fixture f(Transport::kRdma);
  double bound = -1;
  auto w = Weights(f.cluster, f.solver, {0, Buffer::kDrive, 0}, {1, Buffer::kGpu, 1}, &bound);
  EXPECT_EQ(bound, 0);  // no per-stream limit
  EXPECT_DOUBLE_EQ(w["s.memory"], 2);  // drive DMA in, NIC DMA out
  EXPECT_EQ(w.count("c.memory"), 0u);  // GPUDirect: peer-to-peer
  EXPECT_EQ(w.count("s.cpu"), 0u);
  EXPECT_EQ(w.count("c.cpu"), 0u);
  EXPECT_DOUBLE_EQ(w["c.gpu1_pcie_in"], 1);
  EXPECT_DOUBLE_EQ(w["s.nic_tx"], 1 / 0.980);
  EXPECT_DOUBLE_EQ(w["c.nic_rx"], 1 / 0.980);
  EXPECT_DOUBLE_EQ(w["s.pcie_nic_out"], 1);
  EXPECT_DOUBLE_EQ(w["c.pcie_nic_in"], 1);
  EXPECT_DOUBLE_EQ(w["s.drives"], 1 / 7e9);  // bandwidth-bound: 1/7e9 > 1/(1e6 * 128 KiB)
}

TEST(ClusterModelTest, TcpGetIntoGpuMemoryBouncesThroughHostMemoryAndSpendsCpu) {
  Fixture f(Transport::kTcp, Topology::kStar, Fixture::TcpCosts());
  double bound = 0;
  auto w = Weights(f.cluster, f.solver, {0, Buffer::kDrive, 0}, {1, Buffer::kGpu, 0}, &bound);
  EXPECT_DOUBLE_EQ(w["s.memory"], 4);  // drive DMA, copy (read + write), NIC DMA
  // NIC DMA, socket copy (read + write), staging copy (read + write), host-to-device read.
  EXPECT_DOUBLE_EQ(w["c.memory"], 6);
  EXPECT_DOUBLE_EQ(w["s.cpu"], 0.2e-9);          // server sending
  EXPECT_DOUBLE_EQ(w["c.cpu"], 0.7e-9 + 0.1e-9);  // client receiving + one staging copy
  EXPECT_DOUBLE_EQ(w["c.gpu0_pcie_in"], 1);
  EXPECT_DOUBLE_EQ(w["s.nic_tx"], 1 / 0.990);
  EXPECT_DOUBLE_EQ(bound, 1 / 0.8e-9);  // one core per stream, at the costlier end
}

TEST(ClusterModelTest, TcpCostsFollowTheRoleOfEachEnd) {
  Fixture f(Transport::kTcp, Topology::kStar, Fixture::TcpCosts());
  double bound = 0;
  // PUT from client host memory: the client sends, the server receives.
  auto put = Weights(f.cluster, f.solver, {1, Buffer::kHost, 0}, {0, Buffer::kDrive, 0}, &bound);
  EXPECT_DOUBLE_EQ(put["c.cpu"], 0.5e-9);
  EXPECT_DOUBLE_EQ(put["s.cpu"], 0.3e-9);
  EXPECT_DOUBLE_EQ(put["c.memory"], 3);  // user buffer read by the copy (2) + NIC DMA (1)
  // Storage to storage (an erasure-coded fragment): server costs on both ends.
  auto peer = Weights(f.cluster, f.solver, {0, Buffer::kHost, 0}, {2, Buffer::kHost, 0}, &bound);
  EXPECT_DOUBLE_EQ(peer["s.cpu"], 0.2e-9);
  EXPECT_DOUBLE_EQ(peer["s2.cpu"], 0.3e-9);
  EXPECT_DOUBLE_EQ(bound, 1 / 0.3e-9);
  // No staging copy without a GPU buffer, and none at all when configured away.
  CostSpec direct = Fixture::TcpCosts();
  direct.tcp.gpu_bounce_copies = 0;
  Fixture g(Transport::kTcp, Topology::kStar, direct);
  auto w = Weights(g.cluster, g.solver, {0, Buffer::kDrive, 0}, {1, Buffer::kGpu, 0}, &bound);
  EXPECT_DOUBLE_EQ(w["c.cpu"], 0.7e-9);
  EXPECT_DOUBLE_EQ(w["c.memory"], 4);
}

TEST(ClusterModelTest, PutFromGpuWritesTheDrives) {
  Fixture f(Transport::kRdma);
  double bound = 0;
  auto w = Weights(f.cluster, f.solver, {1, Buffer::kGpu, 0}, {0, Buffer::kDrive, 0}, &bound);
  EXPECT_DOUBLE_EQ(w["c.gpu0_pcie_out"], 1);
  EXPECT_EQ(w.count("c.memory"), 0u);
  EXPECT_DOUBLE_EQ(w["s.memory"], 2);
  EXPECT_DOUBLE_EQ(w["s.drives"], 1 / 5e9);
  EXPECT_DOUBLE_EQ(w["c.nic_tx"], 1 / 0.980);
  EXPECT_DOUBLE_EQ(w["s.nic_rx"], 1 / 0.980);
}

TEST(ClusterModelTest, LeafSpineAddsUplinksAndLatency) {
  Fixture f(Transport::kRdma, Topology::kLeafSpine);
  double bound = 0;
  auto w = Weights(f.cluster, f.solver, {0, Buffer::kHost, 0}, {1, Buffer::kHost, 0}, &bound);
  EXPECT_DOUBLE_EQ(w["leaf0.up"], 1 / 0.980);
  EXPECT_DOUBLE_EQ(w["leaf1.down"], 1 / 0.980);
  EXPECT_EQ(f.cluster.RouteLatency(0, 1), core::Duration::Microseconds(8));
  // Each leaf holds one 400 Gbps node; 2:1 oversubscription halves its uplink.
  bool found = false;
  for (ResourceId r = 0; r < f.solver.resource_count(); ++r) {
    if (f.solver.name(r) == "leaf0.up") {
      found = true;
      EXPECT_DOUBLE_EQ(f.solver.capacity(r), 25e9);
    }
  }
  EXPECT_TRUE(found);
}

TEST(ClusterModelTest, SmallObjectsAreIopsBound) {
  Fixture f(Transport::kRdma);
  double bound = 0;
  std::map<std::string, double> w;
  for (const ResourceUse& u : f.cluster.TransferUses({0, Buffer::kDrive, 0}, {1, Buffer::kHost, 0},
                                                     core::Bytes::KiB(4), &bound)) {
    w[f.solver.name(u.resource)] = u.weight;
  }
  // 4 KiB reads: 1e6 IOPS x 4096 B = 4.1 GB/s per drive < 7 GB/s.
  EXPECT_DOUBLE_EQ(w["s.drives"], 1 / (1e6 * 4096));
}

}  // namespace
}  // namespace s3rdma::models
