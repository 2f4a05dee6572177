// tunnelgatectl: the operator's command-line tool. One table of subcommands; each parses
// its own options and returns an exit code (0 ok, 1 error, 2 usage, 3 cannot connect). Local
// commands edit files (users); admin-socket commands talk to a running control plane
// (docs/tunnelgatectl.md).
#include <cstdio>
#include <cstring>

#include "tools/tunnelgatectl_admin.h"
#include "tools/tunnelgatectl_certs.h"
#include "tools/tunnelgatectl_users.h"

namespace {

using tg::ctl_tool::kExitOk;
using tg::ctl_tool::kExitUsage;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  ///< argv[0] is the command name
};

constexpr Command kCommands[] = {
    {"useradd", "add a local user (password from stdin)", tg::ctl_tool::cmd_useradd},
    {"passwd", "change a local user's password (from stdin)", tg::ctl_tool::cmd_passwd},
    {"userdel", "remove a local user", tg::ctl_tool::cmd_userdel},
    {"status", "control plane: version, uptime, dataplane, sessions, pools", tg::ctl_tool::cmd_status},
    {"sessions", "control plane: list sessions", tg::ctl_tool::cmd_sessions},
    {"disconnect", "control plane: end a session (ID, --user or --app)", tg::ctl_tool::cmd_disconnect},
    {"reload", "control plane + dataplane: users, apps and services, certificates", tg::ctl_tool::cmd_reload},
    {"stats", "dataplane counters: ports, lcores, drops by reason, TLS workers", tg::ctl_tool::cmd_stats},
    {"certs", "server certificates in use (expiry, findings) and the CRL", tg::ctl_tool::cmd_certs},
    {"cert-check", "validate a server certificate file as the gateway does", tg::ctl_tool::cmd_cert_check},
    {"cert-selfsigned", "write a self-signed server certificate for a first start", tg::ctl_tool::cmd_cert_selfsigned},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: tunnelgatectl COMMAND [ARGS] (COMMAND --help for its options)\n\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out, "\nExit status: 0 done, 1 error, 2 usage, 3 cannot connect to the admin socket.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return kExitUsage;
  }
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "tunnelgatectl: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return kExitUsage;
}
