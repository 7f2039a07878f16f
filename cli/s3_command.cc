// The S3 commands: `s3rdma serve` (serve_command.cc) and the client commands
// mb, rb, ls, put, get, rm.
#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace s3rdma::cli {

void AddServeCommand(CLI::App& app, CommandRunner& run);

void AddS3Commands(CLI::App& app, CommandRunner& run) {
  AddServeCommand(app, run);
}

}  // namespace s3rdma::cli
