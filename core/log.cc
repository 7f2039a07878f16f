#include "core/log.h"

#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace s3rdma::core {

void InitLogging() {
  auto logger = spdlog::stderr_color_mt("s3rdma");
  logger->set_pattern("%^%L%$ %H:%M:%S.%e %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
}

Status SetLogLevel(std::string_view name) {
  static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn",
                                                "error", "critical", "off"};
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (kNames[i] == name) {
      spdlog::set_level(static_cast<spdlog::level::level_enum>(i));
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown log level '" + std::string(name) +
                                 "' (one of trace, debug, info, warn, error, critical, off)");
}

void SetVerbosity(int count) {
  if (count <= 0) return;
  spdlog::set_level(count == 1 ? spdlog::level::info
                               : count == 2 ? spdlog::level::debug : spdlog::level::trace);
}

}  // namespace s3rdma::core
