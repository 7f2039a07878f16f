#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace s3rdma::sim {
namespace {

const char* kSmall = R"(
name: small
cluster:
  storage: {count: 2, node: {drives: {count: 4}}}
  clients: {count: 3, node: {gpus: {count: 1}}}
workloads:
  - {type: get, object_size: 4MiB, streams: 2, requests: 5, buffer: gpu}
  - {type: put, object_size: 1MiB, streams: 1, requests: 3, start: 1ms}
)";

SimResult RunSmall(const std::vector<std::string>& sets = {}) {
  auto c = LoadScenarioText(kSmall, "small.yaml", sets);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return RunScenario(c.value());
}

TEST(ReportTest, JsonCarriesTheSummaryFields) {
  const SimResult r = RunSmall();
  const auto j = nlohmann::json::parse(ResultJson(r));
  EXPECT_EQ(j["scenario"], "small");
  EXPECT_EQ(j["requests"], 3 * 2 * 5 + 3 * 3);
  EXPECT_EQ(j["bytes"], 30LL * (4 << 20) + 9LL * (1 << 20));
  EXPECT_EQ(j["workloads"].size(), 2u);
  EXPECT_EQ(j["workloads"][1]["type"], "put");
  EXPECT_GT(j["workloads"][0]["latency_ps"]["p99"].get<int64_t>(), 0);
  EXPECT_EQ(j["node_bytes_per_s"].size(), 5u);
  EXPECT_TRUE(j["bottleneck"].contains("kind"));
  EXPECT_GT(j["makespan_ps"].get<int64_t>(), 0);
  EXPECT_EQ(j["failed_requests"], 0);  // modelled mode never fails a request
  EXPECT_EQ(j["workloads"][0]["failed_requests"], 0);
}

TEST(ReportTest, FailedRequestsShowInTheSummaryAndJson) {
  SimResult r = RunSmall();
  EXPECT_EQ(FormatSummary(r).find("failed"), std::string::npos);
  r.failed_requests = 7;
  r.workloads[0].failed = 7;
  EXPECT_NE(FormatSummary(r).find(std::to_string(r.requests) + " requests (7 failed), "), std::string::npos)
      << FormatSummary(r);
  const auto j = nlohmann::json::parse(ResultJson(r));
  EXPECT_EQ(j["failed_requests"], 7);
  EXPECT_EQ(j["workloads"][0]["failed_requests"], 7);
}

TEST(ReportTest, CsvsHaveOneRowPerResourceAndSample) {
  const SimResult r = RunSmall({"run.sample_interval=1ms"});
  const std::string util = UtilisationCsv(r);
  size_t lines = 0;
  for (char c : util) lines += c == '\n';
  EXPECT_EQ(lines, r.resources.size() + 1);
  EXPECT_EQ(util.rfind("resource,group,kind,capacity_per_s,used,utilisation\n", 0), 0u);
  const std::string ts = TimeSeriesCsv(r);
  lines = 0;
  for (char c : ts) lines += c == '\n';
  EXPECT_EQ(lines, r.samples.size() + 1);
  EXPECT_GE(r.samples.size(), 2u);
}

TEST(ReportTest, WriteOutputsCreatesTheDirectoryAndFiles) {
  const SimResult r = RunSmall();
  const std::string dir = ::testing::TempDir() + "/s3rdma_report_test/nested";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteOutputs(r, dir).ok());
  for (const char* f : {"results.json", "utilisation.csv", "timeseries.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  }
  std::ifstream in(dir + "/results.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), ResultJson(r));
  // A path that cannot be a directory is an error, not a crash.
  EXPECT_FALSE(WriteOutputs(r, dir + "/results.json/x").ok());
}

TEST(ReportTest, SweepTableAndCsvHaveARowPerPoint) {
  std::vector<SweepPoint> points;
  for (const char* t : {"rdma", "tcp"}) {
    points.push_back({{t}, RunSmall({std::string("transport=") + t})});
  }
  const std::string table = SweepTable({"transport"}, points);
  EXPECT_NE(table.find("rdma"), std::string::npos);
  EXPECT_NE(table.find("tcp"), std::string::npos);
  const std::string csv = SweepCsv({"transport"}, points);
  EXPECT_EQ(csv.rfind("transport,GB/s,GB/s/storage,", 0), 0u);
  size_t lines = 0;
  for (char c : csv) lines += c == '\n';
  EXPECT_EQ(lines, 3u);
  const std::string summary = FormatSummary(points[1].result);
  EXPECT_NE(summary.find("transport tcp"), std::string::npos);
  EXPECT_NE(summary.find("bottleneck"), std::string::npos);
}

TEST(ReportTest, FormatRateUsesDecimalUnits) {
  EXPECT_EQ(FormatRate(35e9), "35 GB/s");
  EXPECT_EQ(FormatRate(1.41e12), "1.41 TB/s");
  EXPECT_EQ(FormatRate(812e6), "812 MB/s");
}

}  // namespace
}  // namespace s3rdma::sim
