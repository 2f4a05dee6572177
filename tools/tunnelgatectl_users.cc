// tunnelgatectl: useradd / passwd / userdel on the local users file (controlplane/users_file.h).
// The password is read from stdin: one line when stdin is not a terminal (scripts: `echo pw |
// tunnelgatectl useradd alice`), or prompted twice without echo when it is.
#include "tools/tunnelgatectl_users.h"

#include <getopt.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "api/ctl_messages.h"
#include "config/config.h"
#include "controlplane/password_hash.h"
#include "controlplane/users_file.h"

namespace tg::ctl_tool {

namespace {

using controlplane::Argon2Params;
using controlplane::UserEdit;

struct UserArgs {
  std::string user;
  std::optional<std::string> group;
  std::string users_file;
  std::string config;
  Argon2Params argon2;
  bool help = false;
};

void usage(const char* cmd, FILE* out) {
  const bool del = std::strcmp(cmd, "userdel") == 0;
  std::fprintf(out,
               "usage: tunnelgatectl %s USER%s (--users-file FILE | --config FILE)%s\n"
               "\n"
               "%s\n"
               "\n"
               "  --users-file FILE  the users file to edit (created 0600 if absent)\n"
               "  --config FILE      take the users file from auth.users_file of this config\n",
               cmd, del ? "" : " [--group GROUP]", del ? "" : " [--argon2 m=KiB,t=N,p=N]",
               std::strcmp(cmd, "useradd") == 0
                   ? "Add USER with a password read from stdin (twice, without echo, on a "
                     "terminal).\nFails if USER exists."
                   : std::strcmp(cmd, "passwd") == 0
                         ? "Set the password of an existing USER (read as for useradd); the "
                           "group is kept\nunless --group is given."
                         : "Remove USER.");
  if (!del) {
    std::fprintf(out,
                 "  --group GROUP      the user's auth group ('' = none); [A-Za-z0-9._@-]{1,64}\n"
                 "  --argon2 PARAMS    argon2id cost, default m=19456,t=2,p=1\n");
  }
  std::fprintf(out,
               "  -h, --help         this text\n"
               "\n"
               "Exit status: 0 done, 1 error (I/O, user exists or is missing, bad file), 2 "
               "usage.\n"
               "USER: [A-Za-z0-9._@-]{1,64}. The file is rewritten atomically (temporary file "
               "+ rename).\n");
}

/// Parse "CMD USER [options]". nullopt + exit code on a usage error or --help.
std::optional<UserArgs> parse(int argc, char** argv, bool with_group, int& exit_code) {
  static const option kOptions[] = {
      {"group", required_argument, nullptr, 'g'},   {"users-file", required_argument, nullptr, 'f'},
      {"config", required_argument, nullptr, 'c'},  {"argon2", required_argument, nullptr, 'a'},
      {"help", no_argument, nullptr, 'h'},          {nullptr, 0, nullptr, 0},
  };
  UserArgs a;
  optind = 0;  // reset getopt (GNU: 0 also re-initialises)
  opterr = 0;
  int c = 0;
  while ((c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1) {
    switch (c) {
      case 'g':
        if (!with_group) goto bad_option;
        a.group = optarg;
        break;
      case 'f': a.users_file = optarg; break;
      case 'c': a.config = optarg; break;
      case 'a': {
        if (!with_group) goto bad_option;
        auto p = controlplane::argon2_params_parse(optarg);
        if (!p) {
          std::fprintf(stderr, "tunnelgatectl %s: --argon2: %s\n", argv[0], p.error().message.c_str());
          exit_code = kExitUsage;
          return std::nullopt;
        }
        a.argon2 = *p;
        break;
      }
      case 'h':
        usage(argv[0], stdout);
        exit_code = kExitOk;
        return std::nullopt;
      default:
      bad_option:
        std::fprintf(stderr, "tunnelgatectl %s: unknown or incomplete option '%s'\n", argv[0],
                     argv[optind - 1]);
        usage(argv[0], stderr);
        exit_code = kExitUsage;
        return std::nullopt;
    }
  }
  if (optind + 1 != argc) {
    std::fprintf(stderr, "tunnelgatectl %s: expected exactly one USER\n", argv[0]);
    usage(argv[0], stderr);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  a.user = argv[optind];
  if (a.users_file.empty() == a.config.empty()) {
    std::fprintf(stderr, "tunnelgatectl %s: give exactly one of --users-file and --config\n", argv[0]);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (!controlplane::user_name_valid(a.user)) {
    std::fprintf(stderr, "tunnelgatectl %s: user name '%s' is not [A-Za-z0-9._@-]{1,64}\n",
                 argv[0], a.user.c_str());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (a.group && !controlplane::user_group_valid(*a.group)) {
    std::fprintf(stderr, "tunnelgatectl %s: group '%s' is not empty or [A-Za-z0-9._@-]{1,64}\n",
                 argv[0], a.group->c_str());
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return a;
}

/// The users file path, from --users-file or the config. "" after printing an error.
std::string users_file_of(const UserArgs& a, const char* cmd) {
  if (!a.users_file.empty()) return a.users_file;
  config::LoadResult r = config::config_load_file(a.config);
  if (!r.ok()) {
    for (const config::ConfigError& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "tunnelgatectl %s: %s: configuration not usable\n", cmd, a.config.c_str());
    return "";
  }
  if (r.config->auth.users_file.empty()) {
    std::fprintf(stderr, "tunnelgatectl %s: %s: auth.users_file is not set\n", cmd, a.config.c_str());
  }
  return r.config->auth.users_file;
}

/// One line from stdin without its newline; nullopt at EOF before any byte.
std::optional<std::string> read_line() {
  std::string line;
  if (!std::getline(std::cin, line) && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::optional<std::string> prompt_no_echo(const char* prompt) {
  std::fprintf(stderr, "%s", prompt);
  std::fflush(stderr);
  termios old{};
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  auto line = read_line();
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::fprintf(stderr, "\n");
  }
  return line;
}

/// The new password, or nullopt after printing why.
std::optional<std::string> read_password(const char* cmd) {
  std::optional<std::string> pw;
  if (isatty(STDIN_FILENO)) {
    pw = prompt_no_echo("Password: ");
    const auto again = prompt_no_echo("Password (again): ");
    if (pw && again && *pw != *again) {
      std::fprintf(stderr, "tunnelgatectl %s: the passwords differ\n", cmd);
      return std::nullopt;
    }
  } else {
    pw = read_line();
  }
  if (!pw || pw->empty()) {
    std::fprintf(stderr, "tunnelgatectl %s: empty password (read from stdin)\n", cmd);
    return std::nullopt;
  }
  if (pw->size() >= ctl::kCtlPasswordSize || pw->find('\0') != std::string::npos) {
    std::fprintf(stderr, "tunnelgatectl %s: the password must be 1..%zu bytes without NUL\n", cmd,
                 ctl::kCtlPasswordSize - 1);
    return std::nullopt;
  }
  return pw;
}

int run_edit(int argc, char** argv, UserEdit edit) {
  int code = kExitOk;
  const auto args = parse(argc, argv, edit != UserEdit::remove, code);
  if (!args) return code;
  const std::string path = users_file_of(*args, argv[0]);
  if (path.empty()) return kExitError;
  std::string hash;
  if (edit != UserEdit::remove) {
    const auto pw = read_password(argv[0]);
    if (!pw) return kExitError;
    auto h = controlplane::password_hash(*pw, args->argon2);
    if (!h) {
      std::fprintf(stderr, "tunnelgatectl %s: %s\n", argv[0], h.error().message.c_str());
      return kExitError;
    }
    hash = std::move(*h);
  }
  std::optional<std::string> group = args->group;
  if (edit == UserEdit::add && !group) group = std::string();
  if (auto st = controlplane::users_file_apply(path, edit, args->user, group, hash); !st) {
    std::fprintf(stderr, "tunnelgatectl %s: %s\n", argv[0], st.error().message.c_str());
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

int cmd_useradd(int argc, char** argv) { return run_edit(argc, argv, UserEdit::add); }
int cmd_passwd(int argc, char** argv) { return run_edit(argc, argv, UserEdit::replace); }
int cmd_userdel(int argc, char** argv) { return run_edit(argc, argv, UserEdit::remove); }

}  // namespace tg::ctl_tool
