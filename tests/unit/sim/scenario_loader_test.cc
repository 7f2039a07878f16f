#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/rng.h"
#include "sim/scenario.h"

namespace s3rdma::sim {
namespace {

// A valid scenario; line numbers below refer to this text.
const char* kBase = R"(name: t
seed: 7
transport: rdma
definitions:
  node: &node
    cpu: {cores: 16}
    nic: {rate: 100Gbps}
cluster:
  storage:
    count: 2
    node: *node
  clients:
    count: 3
    node: *node
workloads:
  - type: get
    object_size: 1MiB
    requests: 2
)";

std::string LoadError(const std::string& text, const std::vector<std::string>& sets = {}) {
  auto r = LoadScenarioText(text, "x.yaml", sets);
  EXPECT_FALSE(r.ok()) << "expected an error for:\n" << text;
  return r.ok() ? std::string() : r.status().message();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(ScenarioLoaderTest, ValidScenarioWithAliasesLoads) {
  auto r = LoadScenarioText(kBase, "x.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ScenarioConfig& c = r.value();
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.storage.count, 2);
  EXPECT_EQ(c.clients.count, 3);
  EXPECT_EQ(c.storage.node.cpu.cores, 16);
  EXPECT_EQ(c.clients.node.cpu.cores, 16);  // through the alias
  EXPECT_EQ(c.clients.node.nic.rate, core::DataRate::Gbps(100));
  ASSERT_EQ(c.workloads.size(), 1u);
  EXPECT_EQ(c.workloads[0].object_size.fixed, core::Bytes::MiB(1));
  EXPECT_EQ(c.workloads[0].requests, 2);
  // Defaults stay when a key is absent.
  EXPECT_EQ(c.storage.node.nic.count, 1);
  EXPECT_EQ(c.fabric.link_latency, core::Duration::Microseconds(2));
}

TEST(ScenarioLoaderTest, RangeErrorNamesFileLineColumnAndPath) {
  const std::string text = Replace(kBase, "    count: 2\n", "    count: 0\n");
  EXPECT_EQ(LoadError(text), "x.yaml:10:12: cluster.storage.count must be >= 1 (got 0)");
}

TEST(ScenarioLoaderTest, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(LoadError(Replace(kBase, "transport: rdma", "trasnport: rdma")),
            "x.yaml:3:1: unknown key 'trasnport' (did you mean 'transport'?)");
  EXPECT_EQ(LoadError(Replace(kBase, "cpu: {cores: 16}", "cpu: {coers: 16}")),
            "x.yaml:6:11: unknown key 'coers' in cluster.storage.node.cpu (did you mean 'cores'?)");
  // Far from everything: no suggestion.
  EXPECT_EQ(LoadError(Replace(kBase, "seed: 7", "zzzzzzzz: 7")), "x.yaml:2:1: unknown key 'zzzzzzzz'");
}

TEST(ScenarioLoaderTest, BadUnitsAreReportedWithTheParserMessage) {
  const std::string msg = LoadError(Replace(kBase, "rate: 100Gbps", "rate: 100Gbs"));
  EXPECT_EQ(msg.rfind("x.yaml:7:17: cluster.storage.node.nic.rate: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("100Gbs"), std::string::npos) << msg;
  const std::string size = LoadError(Replace(kBase, "object_size: 1MiB", "object_size: lots"));
  EXPECT_EQ(size.rfind("x.yaml:17:18: workloads.0.object_size: ", 0), 0u) << size;
}

TEST(ScenarioLoaderTest, EnumErrorsListChoicesAndSuggest) {
  EXPECT_EQ(LoadError(Replace(kBase, "transport: rdma", "transport: rmda")),
            "x.yaml:3:12: transport: 'rmda' is not one of rdma, tcp (did you mean 'rdma'?)");
  EXPECT_EQ(LoadError(Replace(kBase, "type: get", "type: gte")),
            "x.yaml:16:11: workloads.0.type: 'gte' is not one of get, put, index_build, pipeline (did you mean "
            "'get'?)");
}

TEST(ScenarioLoaderTest, WrongShapesAndMissingSections) {
  EXPECT_EQ(LoadError(Replace(kBase, "cpu: {cores: 16}", "cpu: [16]")),
            "x.yaml:6:10: cluster.storage.node.cpu must be a mapping");
  EXPECT_EQ(LoadError(Replace(kBase, "seed: 7", "seed: [7]")), "x.yaml:2:7: seed must be a single value");
  const std::string no_workloads = kBase;
  EXPECT_EQ(LoadError(no_workloads.substr(0, no_workloads.find("workloads:"))),
            "x.yaml:1:1: workloads must be a non-empty list");
  EXPECT_EQ(LoadError("name: x\n"), "x.yaml:1:1: cluster is required");
  EXPECT_EQ(LoadError(""), "x.yaml: scenario is empty");
  EXPECT_EQ(LoadError(Replace(kBase, "    requests: 2\n", "")),
            "x.yaml:16:5: workloads.0 needs 'requests' (per stream) or 'duration'");
}

TEST(ScenarioLoaderTest, YamlSyntaxErrorsHaveAPosition) {
  const std::string msg = LoadError(Replace(kBase, "seed: 7", "seed: [7"));
  EXPECT_EQ(msg.rfind("x.yaml:", 0), 0u) << msg;
  EXPECT_NE(msg.find(":", 7), std::string::npos);
}

TEST(ScenarioLoaderTest, CrossFieldChecks) {
  const std::string text = Replace(kBase, "    requests: 2\n", "    requests: 2\n    buffer: gpu\n");
  EXPECT_EQ(LoadError(text), "x.yaml:16:5: workloads.0.buffer is gpu but cluster.clients.node.gpus.count is 0");
}

TEST(ScenarioLoaderTest, SetOverridesValuesAndAbsentKeysWithoutTouchingAliases) {
  auto r = LoadScenarioText(kBase, "x.yaml",
                            {"cluster.storage.node.cpu.cores=4", "transport=tcp",
                             "network.topology=leaf_spine", "workloads.0.streams=3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().storage.node.cpu.cores, 4);
  EXPECT_EQ(r.value().clients.node.cpu.cores, 16);  // the alias is not modified
  EXPECT_EQ(r.value().transport, models::Transport::kTcp);
  EXPECT_EQ(r.value().fabric.topology, models::Topology::kLeafSpine);
  EXPECT_EQ(r.value().workloads[0].streams, 3);
}

TEST(ScenarioLoaderTest, TcpCostsAreReadPerRoleAndTheOldKeysAreErrors) {
  const std::string text = std::string(kBase) + R"(costs:
  tcp: {server_send_cpu_per_gb: 100ms, server_recv_cpu_per_gb: 2s, client_send_cpu_per_gb: 300ms,
        client_recv_cpu_per_gb: 400ms, gpu_bounce_copies: 2, copy_cpu_per_gb: 50ms}
)";
  auto r = LoadScenarioText(text, "x.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const models::TcpCosts& t = r.value().costs.tcp;
  EXPECT_EQ(t.server_send_cpu_per_gb, core::Duration::Milliseconds(100));
  EXPECT_EQ(t.server_recv_cpu_per_gb, core::Duration::Seconds(2));
  EXPECT_EQ(t.client_send_cpu_per_gb, core::Duration::Milliseconds(300));
  EXPECT_EQ(t.client_recv_cpu_per_gb, core::Duration::Milliseconds(400));
  EXPECT_EQ(t.gpu_bounce_copies, 2);
  EXPECT_EQ(t.copy_cpu_per_gb, core::Duration::Milliseconds(50));
  // The previous calibration's keys (one send and one receive cost for every node) are gone.
  const std::string old = std::string(kBase) + "costs:\n  tcp: {send_cpu_per_gb: 280ms}\n";
  EXPECT_NE(LoadError(old).find("unknown key 'send_cpu_per_gb' in costs.tcp (did you mean"), std::string::npos)
      << LoadError(old);
  EXPECT_NE(LoadError(kBase, {"costs.tcp.gpu_bounce_copies=-1"}).find("gpu_bounce_copies"), std::string::npos);
}

TEST(ScenarioLoaderTest, SetErrorsNameTheSet) {
  EXPECT_EQ(LoadError(kBase, {"cluster.storage.count=0"}),
            "--set cluster.storage.count=0: cluster.storage.count must be >= 1 (got 0)");
  EXPECT_EQ(LoadError(kBase, {"cluster.storage.cont=3"}),
            "--set cluster.storage.cont=3: unknown key 'cont' in cluster.storage (did you mean 'count'?)");
  EXPECT_EQ(LoadError(kBase, {"transport"}), "--set transport: expected path=value");
  EXPECT_EQ(LoadError(kBase, {"protocol="}), "--set protocol=: no value (to use the default, leave the key out)");
  EXPECT_EQ(LoadError(kBase, {"cluster.storage.count=~"}),
            "--set cluster.storage.count=~: no value (to use the default, leave the key out)");
  EXPECT_EQ(LoadError(kBase, {"nosuch.deep.key=1"}), "--set nosuch.deep.key=1: no such key 'nosuch.deep.key'");
  EXPECT_EQ(LoadError(kBase, {"definitions.node.cpu.cores=2"}),
            "--set definitions.node.cpu.cores=2: definitions are only anchors and are not read; set "
            "the key where the anchor is used (e.g. cluster.storage.node.cpu.cores)");
}

TEST(ScenarioLoaderTest, ProtocolKeyShortAndLongFormsAndSets) {
  using Mode = ProtocolConfig::Mode;
  auto def = LoadScenarioText(kBase, "x.yaml", {});
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->protocol.mode, Mode::kModelled);
  EXPECT_FALSE(def->protocol.packet_fidelity);
  EXPECT_FALSE(def->protocol.phantom_payloads);

  auto shortform = LoadScenarioText(std::string(kBase) + "protocol: real\n", "x.yaml", {});
  ASSERT_TRUE(shortform.ok()) << shortform.status().ToString();
  EXPECT_EQ(shortform->protocol.mode, Mode::kReal);

  auto longform = LoadScenarioText(
      std::string(kBase) + "protocol: {mode: both, fidelity: packet, payload: phantom, loss: 0.01}\n", "x.yaml", {});
  ASSERT_TRUE(longform.ok()) << longform.status().ToString();
  EXPECT_EQ(longform->protocol.mode, Mode::kBoth);
  EXPECT_TRUE(longform->protocol.packet_fidelity);
  EXPECT_TRUE(longform->protocol.phantom_payloads);
  EXPECT_DOUBLE_EQ(longform->protocol.loss, 0.01);

  // The CLI's --protocol/--fidelity/--payload/--loss are these --sets, on either form.
  auto set = LoadScenarioText(std::string(kBase) + "protocol: real\n", "x.yaml",
                              {"protocol.mode=both", "protocol.fidelity=packet", "protocol.loss=0.5"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->protocol.mode, Mode::kBoth);
  EXPECT_TRUE(set->protocol.packet_fidelity);
  EXPECT_DOUBLE_EQ(set->protocol.loss, 0.5);
  auto whole = LoadScenarioText(kBase, "x.yaml", {"protocol=real"});
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->protocol.mode, Mode::kReal);
}

TEST(ScenarioLoaderTest, ProtocolKeyErrors) {
  EXPECT_EQ(LoadError(std::string(kBase) + "protocol: rael\n"),
            "x.yaml:19:11: protocol: 'rael' is not one of modelled, real, both (did you mean 'real'?)");
  EXPECT_EQ(LoadError(std::string(kBase) + "protocol: {mode: real, fidelty: packet}\n"),
            "x.yaml:19:24: unknown key 'fidelty' in protocol (did you mean 'fidelity'?)");
  EXPECT_EQ(LoadError(std::string(kBase) + "protocol: {mode: real, loss: 0.1}\n"),
            "x.yaml:19:30: protocol.loss needs protocol.fidelity: packet (flow fidelity has no packets to lose)");
  EXPECT_EQ(LoadError(std::string(kBase) + "protocol: [real]\n"), "x.yaml:19:11: protocol must be a mapping");
  EXPECT_EQ(LoadError(std::string(kBase) + "protocol: real\nprotocol: modelled\n"),
            "x.yaml:20:1: duplicate key 'protocol' (first at line 19)");
  EXPECT_EQ(LoadError(Replace(kBase, "    count: 2\n", "    count: 2\n    count: 3\n")),
            "x.yaml:11:5: duplicate key 'count' in cluster.storage (first at line 10)");
  EXPECT_EQ(LoadError(kBase, {"protocol.payload=fantom"}),
            "--set protocol.payload=fantom: protocol.payload: 'fantom' is not one of real, phantom (did you mean "
            "'phantom'?)");
  EXPECT_EQ(LoadError(kBase, {"protocol.loss=2"}), "--set protocol.loss=2: protocol.loss must be in [0, 1] (got 2)");
}

TEST(ScenarioLoaderTest, MergeKeysShareDefinitions) {
  const std::string text = Replace(kBase, "    node: *node\n  clients:",
                                   "    node:\n      <<: *node\n      cpu: {cores: 8}\n  clients:");
  auto r = LoadScenarioText(text, "x.yaml", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().storage.node.cpu.cores, 8);
  EXPECT_EQ(r.value().storage.node.nic.rate, core::DataRate::Gbps(100));
}

TEST(ScenarioLoaderTest, MissingFileIsAClearError) {
  auto r = LoadScenarioFile("/nonexistent/dir/x.yaml", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot open scenario file '/nonexistent/dir/x.yaml'");
}

TEST(ScenarioLoaderTest, EditDistance) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("same", "same"), 0u);
}

}  // namespace
}  // namespace s3rdma::sim

namespace s3rdma::sim {
namespace {

TEST(ScenarioLoaderTest, LimitsStopMistypedValuesBeforeTheyExhaustMemoryOrTime) {
  EXPECT_EQ(LoadError(kBase, {"cluster.storage.count=1G"}),
            "--set cluster.storage.count=1G: cluster.storage.count must be at most 200000 (got 1000000000)");
  EXPECT_EQ(LoadError(kBase, {"workloads.0.start=1000h"}),
            "--set workloads.0.start=1000h: workloads.0.start must be at most 30 days (got 1000h)");
  EXPECT_EQ(LoadError(kBase, {"cluster.clients.count=100000", "workloads.0.streams=1000"}),
            "x.yaml:16:3: workloads start 100000000 streams in all (at most 20000000): lower "
            "cluster.clients.count or streams");
  EXPECT_EQ(LoadError(kBase, {"cluster.clients.node.gpus.count=1M"}),
            "--set cluster.clients.node.gpus.count=1M: cluster.clients.node.gpus.count must be at most "
            "100000 (got 1000000)");
}

TEST(ScenarioLoaderTest, ADirectoryIsNotAScenario) {
  auto r = LoadScenarioFile(::testing::TempDir(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is a directory"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace s3rdma::sim


namespace s3rdma::sim {
namespace {

TEST(ScenarioLoaderTest, MutatedScenariosNeverCrashTheLoader) {
  // Seeded byte mutations of a valid scenario: each must load or give a one-line error
  // that names the file; never crash, hang or throw.
  const std::string base = kBase;
  const char alphabet[] = "abcz019:-{}[]&*<>,.# \n\t'\"!|%@";
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    core::Rng rng(seed);
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng.Below(4));
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng.Below(text.size());
      switch (rng.Below(3)) {
        case 0: text[pos] = alphabet[rng.Below(sizeof alphabet - 1)]; break;
        case 1: text.erase(pos, 1 + rng.Below(5)); break;
        default: text.insert(pos, 1, alphabet[rng.Below(sizeof alphabet - 1)]); break;
      }
    }
    auto r = LoadScenarioText(text, "m.yaml", {});
    if (!r.ok()) {
      const std::string& msg = r.status().message();
      EXPECT_EQ(msg.rfind("m.yaml", 0), 0u) << "seed " << seed << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "seed " << seed << ": " << msg;
    }
  }
}

}  // namespace
}  // namespace s3rdma::sim
