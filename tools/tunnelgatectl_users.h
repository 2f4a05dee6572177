// tunnelgatectl: the local users-file commands (useradd, passwd, userdel).
// Thread-safety: single-threaded command-line tool.
#pragma once

namespace tg::ctl_tool {

/// Exit codes of every tunnelgatectl command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  ///< the command could not be done (I/O, user exists, ...)
inline constexpr int kExitUsage = 2;  ///< bad command line

/// `tunnelgatectl useradd USER [--group G] [--users-file F | --config FILE] [--argon2 m=,t=,p=]`
/// argv[0] is "useradd". @return an exit code.
int cmd_useradd(int argc, char** argv);
/// `tunnelgatectl passwd USER [--group G] [--users-file F | --config FILE] [--argon2 ...]`
int cmd_passwd(int argc, char** argv);
/// `tunnelgatectl userdel USER [--users-file F | --config FILE]`
int cmd_userdel(int argc, char** argv);

}  // namespace tg::ctl_tool
