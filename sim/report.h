// Reports of a simulation: the human summary, results JSON, utilisation and time-series
// CSV, and the sweep table. Pure functions of SimResult: the same result gives the same
// bytes (the JSON never contains wall-clock time).
#ifndef S3RDMA_SIM_REPORT_H_
#define S3RDMA_SIM_REPORT_H_

#include <string>
#include <vector>

#include "core/status.h"
#include "sim/world.h"

namespace s3rdma::sim {

std::string FormatSummary(const SimResult& r);
std::string ResultJson(const SimResult& r);
std::string UtilisationCsv(const SimResult& r);
std::string TimeSeriesCsv(const SimResult& r);

// Writes results.json, utilisation.csv and timeseries.csv into `dir` (created if needed).
core::Status WriteOutputs(const SimResult& r, const std::string& dir);

struct SweepPoint {
  std::vector<std::string> values;  // one per swept key, in order
  SimResult result;
};
std::string SweepTable(const std::vector<std::string>& keys, const std::vector<SweepPoint>& points);
std::string SweepCsv(const std::vector<std::string>& keys, const std::vector<SweepPoint>& points);

// "35.2 GB/s", "812 MB/s": decimal units, three significant digits.
std::string FormatRate(double bytes_per_second);

}  // namespace s3rdma::sim

#endif  // S3RDMA_SIM_REPORT_H_
