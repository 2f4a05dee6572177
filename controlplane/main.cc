// tunnelgate-controlplane: entry point (main thread). Parses the command line and runs one
// mode; everything else lives in one file per concept (see README.md).
#include <malloc.h>

#include <cstdio>
#include <string>

#include "controlplane/cli.h"
#include "controlplane/log.h"
#include "controlplane/run.h"

#ifndef TG_VERSION
#error "TG_VERSION is set by controlplane/meson.build"
#endif

int main(int argc, char* argv[]) {
  using tg::controlplane::CliOptions;
  const std::string program = argc > 0 && argv[0] != nullptr ? argv[0] : "tunnelgate-controlplane";
  const tg::controlplane::CliParseResult cli = tg::controlplane::cli_parse(argc, argv);
  if (!cli.ok) {
    std::fprintf(stderr, "%s: %s\n%s", program.c_str(), cli.error.c_str(),
                 tg::controlplane::cli_usage(program).c_str());
    return 2;
  }
  tg::controlplane::log_set_min_level(cli.options.log_level);
  // Every argon2id verification allocates m KiB (8..64 MiB typically) and frees it. glibc
  // would raise its mmap threshold after the first such free and then serve the next ones
  // from the heap, keeping their pages: the process would sit at its peak for good (seen as
  // +8 MiB after a soak, tests/netns/soak.sh). A fixed threshold keeps big buffers on
  // mmap, returned to the system at each free.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  switch (cli.options.mode) {
    case CliOptions::Mode::help:
      std::fputs(tg::controlplane::cli_usage(program).c_str(), stdout);
      return 0;
    case CliOptions::Mode::version:
      std::printf("tunnelgate-controlplane %s\n", TG_VERSION);
      return 0;
    case CliOptions::Mode::check_config:
      return tg::controlplane::controlplane_check_config(cli.options.config_path);
    case CliOptions::Mode::run:
      return tg::controlplane::controlplane_run(cli.options.config_path, TG_VERSION);
  }
  return 2;
}
