// The `s3rdma` command: global options, then one subcommand per feature.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "core/log.h"

namespace s3rdma::cli {

int Fail(const std::string& message, int exit_status) {
  std::fprintf(stderr, "s3rdma: error: %s\n", message.c_str());
  return exit_status;
}

namespace {

int Main(int argc, char** argv) {
  core::InitLogging();
  CLI::App app{"s3rdma: S3-over-RDMA object storage without RDMA hardware: a software RDMA NIC, "
               "an S3 server and client with the x-amz-rdma-* data path, and a capacity-planning "
               "simulator.",
               "s3rdma"};
  app.set_version_flag("--version", std::string("s3rdma ") + S3RDMA_VERSION);
  app.require_subcommand(0, 1);
  int verbosity = 0;
  std::string log_level;
  app.add_flag("-v,--verbose", verbosity, "More log output (-v info, -vv debug, -vvv trace)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn (default), error, off");

  CommandRunner run;
  // Subcommands, one line each, as features land.
  AddSimCommand(app, run);
  AddPlanCommand(app, run);
  AddPerfCommand(app, run);
  AddS3Commands(app, run);
  AddBenchCommand(app, run);
  AddDstCommand(app, run);
  (void)run;

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    return Fail(std::string(e.what()) + " (run 's3rdma --help')", 2);
  }
  if (!log_level.empty()) {
    if (auto st = core::SetLogLevel(log_level); !st.ok()) return Fail(st.message(), 2);
  }
  core::SetVerbosity(verbosity);
  if (!run) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  return run();
}

}  // namespace
}  // namespace s3rdma::cli

int main(int argc, char** argv) { return s3rdma::cli::Main(argc, argv); }
