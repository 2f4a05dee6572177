#include "tools/tunnelgatectl_certs.h"

#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "crypto/server_cert.h"
#include "tools/tunnelgatectl_admin.h"
#include "tools/tunnelgatectl_users.h"

namespace tg::ctl_tool {

namespace {

void selfsigned_usage(FILE* out) {
  std::fprintf(out,
               "usage: tunnelgatectl cert-selfsigned --cert FILE --key FILE --name HOST [--days N]\n\n"
               "Write a self-signed ECDSA P-256 server certificate for HOST (a DNS name or an IP\n"
               "address; also its subjectAltName) and its key, for a first start. Clients cannot\n"
               "verify it: replace it with a certificate from a CA they trust (docs/certificates.md).\n"
               "Existing files are never overwritten.\n\n"
               "  --days N   validity, 1..825 (default 90)\n");
}

void check_usage(FILE* out) {
  std::fprintf(out,
               "usage: tunnelgatectl cert-check --cert FILE [--key FILE] [--second] [--password-file FILE]\n\n"
               "Load and validate a server certificate as the gateway does at start and reload:\n"
               "PEM (the chain), DER, PKCS#12, PKCS#7. Prints every finding (errors refuse the\n"
               "certificate, warnings are reported), the validity and the openconnect pin.\n"
               "--second: judge it as tls.second_certificate (not yet valid is only a warning).\n"
               "Exit status: 0 usable, 1 refused or unreadable, 2 usage.\n");
}

}  // namespace

int cmd_cert_selfsigned(int argc, char** argv) {
  static const option kOptions[] = {{"cert", required_argument, nullptr, 'c'},
                                    {"key", required_argument, nullptr, 'k'},
                                    {"name", required_argument, nullptr, 'n'},
                                    {"days", required_argument, nullptr, 'd'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  std::string cert, key, name;
  int days = 90;
  optind = 0;
  opterr = 0;
  for (int o; (o = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1;) {
    switch (o) {
      case 'c': cert = optarg; break;
      case 'k': key = optarg; break;
      case 'n': name = optarg; break;
      case 'd': days = std::atoi(optarg); break;
      case 'h': selfsigned_usage(stdout); return kExitOk;
      default: selfsigned_usage(stderr); return kExitUsage;
    }
  }
  if (cert.empty() || key.empty() || name.empty() || optind != argc || days < 1 || days > 825) {
    selfsigned_usage(stderr);
    return kExitUsage;
  }
  const crypto::Status st = crypto::cert_make_self_signed(cert, key, name, days, static_cast<int64_t>(std::time(nullptr)));
  if (!st) {
    std::fprintf(stderr, "tunnelgatectl cert-selfsigned: %s\n", st.error().message.c_str());
    return kExitError;
  }
  std::printf("wrote %s and %s (CN=%s, %d days)\n", cert.c_str(), key.c_str(), name.c_str(), days);
  std::fprintf(stderr,
               "WARNING: this certificate is SELF-SIGNED. Clients cannot verify it (openconnect needs\n"
               "--servercert with its pin) and the gateway reports the warning self_signed\n"
               "(tunnelgate_certificate_findings). Replace it with a certificate from a CA your\n"
               "clients trust: docs/certificates.md.\n");
  return kExitOk;
}

int cmd_cert_check(int argc, char** argv) {
  static const option kOptions[] = {{"cert", required_argument, nullptr, 'c'},
                                    {"key", required_argument, nullptr, 'k'},
                                    {"second", no_argument, nullptr, 's'},
                                    {"password-file", required_argument, nullptr, 'p'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  std::string cert, key, password_file;
  bool second = false;
  optind = 0;
  opterr = 0;
  for (int o; (o = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1;) {
    switch (o) {
      case 'c': cert = optarg; break;
      case 'k': key = optarg; break;
      case 's': second = true; break;
      case 'p': password_file = optarg; break;
      case 'h': check_usage(stdout); return kExitOk;
      default: check_usage(stderr); return kExitUsage;
    }
  }
  if (cert.empty() || optind != argc) {
    check_usage(stderr);
    return kExitUsage;
  }
  auto password = crypto::cert_password_read(password_file, "");
  if (!password) {
    std::fprintf(stderr, "tunnelgatectl cert-check: %s\n", password.error().message.c_str());
    return kExitError;
  }
  auto bundle = crypto::cert_bundle_load(cert, key, *password);
  if (!bundle) {
    std::fprintf(stderr, "tunnelgatectl cert-check: %s\n", bundle.error().message.c_str());
    return kExitError;
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const crypto::CertReport r = crypto::cert_bundle_validate(*bundle, now, !second, 0);
  std::printf("subject:   %s\nissuer:    %s\nvalid:     %s .. %s\nchain:     %zu certificate(s)\npin:       %s\n",
              r.subject.c_str(), r.issuer.c_str(), time_text(r.not_before).c_str(), time_text(r.not_after).c_str(),
              r.chain_length, r.spki_pin.c_str());
  for (const crypto::CertFinding& f : r.findings) {
    std::printf("%-7s %-15s %s\n", std::string(crypto::to_string(f.severity)).c_str(),
                std::string(crypto::to_string(f.code)).c_str(), f.message.c_str());
  }
  std::printf("%s\n", r.usable() ? "usable" : "REFUSED: the gateway would not load it");
  return r.usable() ? kExitOk : kExitError;
}

}  // namespace tg::ctl_tool
