// Control plane: command-line arguments of tunnelgate-controlplane (main thread, at start).
#pragma once

#include <string>

namespace tg::controlplane {

struct CliOptions {
  enum class Mode {
    run,           ///< --config FILE: serve /metrics until SIGINT/SIGTERM
    check_config,  ///< --check-config FILE: validate and exit
    help,          ///< --help
    version,       ///< --version
  };
  Mode mode = Mode::help;
  std::string config_path;  ///< for run and check_config
  std::string log_level = "info";  ///< --log-level: debug, info, warn or error (checked)
};

struct CliParseResult {
  bool ok = false;
  CliOptions options;
  std::string error;  ///< set when !ok: what was wrong, for stderr
};

/// Parse argv with getopt_long. Exactly one mode must be given; positional arguments are
/// rejected. Not thread-safe (getopt keeps global state, reset here on each call).
CliParseResult cli_parse(int argc, char* const argv[]);

/// The --help text.
std::string cli_usage(const std::string& program);

}  // namespace tg::controlplane
