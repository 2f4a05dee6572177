// tunnelgatectl's certificate commands (docs/certificates.md): local files only.
//   tunnelgatectl cert-selfsigned --cert FILE --key FILE --name HOST [--days N]
//   tunnelgatectl cert-check --cert FILE [--key FILE] [--second]
#pragma once

namespace tg::ctl_tool {

/// Write a self-signed ECDSA P-256 certificate and key for a default install, and warn
/// loudly that it must be replaced. Refuses to overwrite existing files.
int cmd_cert_selfsigned(int argc, char** argv);
/// Load and validate a server certificate (+ key) as the gateway would: every finding,
/// exit 0 when usable, 1 when an error refuses it.
int cmd_cert_check(int argc, char** argv);

}  // namespace tg::ctl_tool
