// Control plane: command-line parsing (main thread, at start).
#include "controlplane/cli.h"

#include <getopt.h>

#include "controlplane/log.h"

namespace tg::controlplane {

namespace {

constexpr option kLongOptions[] = {
    {"config", required_argument, nullptr, 'c'},
    {"check-config", required_argument, nullptr, 't'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {"log-level", required_argument, nullptr, 'l'},
    {nullptr, 0, nullptr, 0},
};
// Leading ':' reports a missing argument as ':' instead of printing; '+' stops at the first
// non-option (no GNU reordering), so stray words are reported as positional arguments.
constexpr char kShortOptions[] = "+:c:t:hVl:";

}  // namespace

CliParseResult cli_parse(int argc, char* const argv[]) {
  CliParseResult r;
  int modes = 0;
  optind = 0;  // GNU: 0 re-initialises getopt's state, so the parser can be called again
  opterr = 0;  // errors are returned, not printed
  for (;;) {
    int index = 0;
    const int c = getopt_long(argc, argv, kShortOptions, kLongOptions, &index);
    if (c == -1) {
      break;
    }
    switch (c) {
      case 'c':
        r.options.mode = CliOptions::Mode::run;
        r.options.config_path = optarg;
        ++modes;
        break;
      case 't':
        r.options.mode = CliOptions::Mode::check_config;
        r.options.config_path = optarg;
        ++modes;
        break;
      case 'h':
        r.options.mode = CliOptions::Mode::help;
        ++modes;
        break;
      case 'V':
        r.options.mode = CliOptions::Mode::version;
        ++modes;
        break;
      case 'l':
        if (!log_level_known(optarg)) {
          r.error = std::string("--log-level \"") + optarg + "\": expected debug, info, warn or error";
          return r;
        }
        r.options.log_level = optarg;
        break;
      case ':':
        r.error = std::string("option ") + (argv[optind - 1] ? argv[optind - 1] : "?") +
                  " needs an argument";
        return r;
      default:
        r.error = std::string("unknown option ") +
                  (optopt != 0 ? std::string("-") + static_cast<char>(optopt)
                               : std::string(argv[optind - 1] ? argv[optind - 1] : "?"));
        return r;
    }
  }
  if (optind < argc) {
    r.error = std::string("unexpected argument \"") + argv[optind] + "\"";
    return r;
  }
  if (modes == 0) {
    r.error = "one of --config, --check-config, --help or --version is required";
    return r;
  }
  if (modes > 1) {
    r.error = "give only one of --config, --check-config, --help or --version";
    return r;
  }
  if ((r.options.mode == CliOptions::Mode::run ||
       r.options.mode == CliOptions::Mode::check_config) &&
      r.options.config_path.empty()) {
    r.error = "the configuration file name is empty";
    return r;
  }
  r.ok = true;
  return r;
}

std::string cli_usage(const std::string& program) {
  return "Usage: " + program +
         " --config FILE [--log-level LEVEL] | --check-config FILE | --help | --version\n"
         "\n"
         "tunnelgate control plane: serves Prometheus /metrics from the dataplane's\n"
         "statistics segment (more duties follow: auth, policy, admin socket).\n"
         "\n"
         "  -c, --config FILE        load FILE, serve /metrics on metrics.listen until\n"
         "                           SIGINT or SIGTERM (exit 0; 1 on a config or bind error)\n"
         "  -t, --check-config FILE  validate FILE, print \"FILE: OK\" and exit 0, or print\n"
         "                           every error (file:line: key: message) and exit 1\n"
         "  -l, --log-level LEVEL    log lines of LEVEL and above: debug, info (default),\n"
         "                           warn or error (stderr, logfmt; journald under systemd)\n"
         "  -h, --help               show this help\n"
         "  -V, --version            show the version\n"
         "\n"
         "Exit status 2: bad command line.\n";
}

}  // namespace tg::controlplane
