// How subcommands plug into the `s3rdma` command.
//
// Each subcommand lives in its own cli/<name>_command.cc and exposes one
// `void Add<Name>Command(CLI::App& app, CommandRunner& run)`, listed in main.cc. It adds a
// CLI11 subcommand whose callback stores, in `run`, the function that does the work and
// returns the process exit status (0 success, 1 failure, 2 usage error).
#ifndef S3RDMA_CLI_COMMAND_H_
#define S3RDMA_CLI_COMMAND_H_

#include <functional>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace s3rdma::cli {

using CommandRunner = std::function<int()>;

// Prints "s3rdma: error: <message>" on one line to stderr and returns `exit_status`.
int Fail(const std::string& message, int exit_status = 1);

void AddSimCommand(CLI::App& app, CommandRunner& run);
void AddPlanCommand(CLI::App& app, CommandRunner& run);
void AddPerfCommand(CLI::App& app, CommandRunner& run);
void AddS3Commands(CLI::App& app, CommandRunner& run);
void AddBenchCommand(CLI::App& app, CommandRunner& run);
void AddDstCommand(CLI::App& app, CommandRunner& run);

}  // namespace s3rdma::cli

#endif  // S3RDMA_CLI_COMMAND_H_
