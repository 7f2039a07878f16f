// Logging set-up on spdlog. Code logs with spdlog directly (spdlog::info(...)); hot paths
// guard with spdlog::should_log(). The default level is "warn", so runs are quiet.
#ifndef S3RDMA_CORE_LOG_H_
#define S3RDMA_CORE_LOG_H_

#include <string_view>

#include "core/status.h"

namespace s3rdma::core {

// Sets the global level from a name: trace, debug, info, warn, error, critical, off.
Status SetLogLevel(std::string_view name);
// Maps a count of -v flags to a level: 0 keeps the current one, 1 info, 2 debug, 3+ trace.
void SetVerbosity(int count);
// Logs go to stderr with a short pattern; call once at start-up.
void InitLogging();

}  // namespace s3rdma::core

#endif  // S3RDMA_CORE_LOG_H_
