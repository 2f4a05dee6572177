// tunnelgatectl: the commands that talk to a running control plane over its admin socket
// (status, sessions, disconnect, reload, stats; docs/tunnelgatectl.md).
// Thread-safety: single-threaded command-line tool.
#pragma once

#include <cstdint>
#include <string>

namespace tg::ctl_tool {

/// The admin socket could not be reached (no such file, refused, permission denied).
inline constexpr int kExitCannotConnect = 3;

/// `tunnelgatectl status [--socket PATH | --config FILE] [--json]`. argv[0] is "status".
int cmd_status(int argc, char** argv);
/// `tunnelgatectl sessions [--user U] [--socket PATH | --config FILE] [--json]`
int cmd_sessions(int argc, char** argv);
/// `tunnelgatectl disconnect (ID | --user U) [--socket PATH | --config FILE] [--json]`
int cmd_disconnect(int argc, char** argv);
/// `tunnelgatectl reload [--socket PATH | --config FILE] [--json]`
int cmd_reload(int argc, char** argv);
/// `tunnelgatectl stats [--socket PATH | --config FILE] [--json]`
int cmd_stats(int argc, char** argv);
/// "2026-11-28T18:00:00Z" (UTC), "?" when not representable.
std::string time_text(int64_t epoch_s);
/// tunnelgatectl certs: the server certificates in use and the client-certificate CRL.
int cmd_certs(int argc, char** argv);

}  // namespace tg::ctl_tool
