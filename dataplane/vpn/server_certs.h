// The server certificates the TLS workers present (docs/certificates.md): tls.certificate
// (the primary) and tls.second_certificate, read with crypto/server_cert.h (PEM, DER,
// PKCS#12 with the password of tls.key_password_file / tls.key_password_env), validated at
// load (findings: errors make a certificate unusable, warnings are logged and exported),
// one TLS context each. New handshakes use the certificate cert_choose() picks: the primary
// while it is usable and outside tls.expiry_margin_s, else the second; choice() is asked
// about once a second, so the second takes over when the primary expires, with no operator.
// files_changed() tells the same tick when a certificate, key or password file was replaced
// (device, inode, mtime, size), so a renewal dropped in place is picked up without a signal.
//
// Thread-safety: main lcore only (start, reload, the once-a-second tick). The contexts are
// handed to the workers through tls::TlsContextHolder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/stats_shm.h"
#include "config/config.h"
#include "crypto/server_cert.h"
#include "dataplane/tls/tls_context.h"

namespace tg::dp::vpn {

class ServerCertificates {
 public:
  struct Slot {
    bool configured = false;
    std::string name;  ///< "tls.certificate /etc/tg/a.pem" (logs)
    std::optional<crypto::CertReport> report;  ///< when the files were read
    tls::TlsContextPtr context;                ///< when usable
  };

  /// Read, validate and build contexts for both slots at `now` (Unix seconds).
  /// @return "" when at least one certificate is usable now; else why none is (every
  ///         finding, file:problem), and nothing should change.
  std::string load(const config::Config& cfg, int64_t now);

  /// Which slot new handshakes use at `now`, and its context (null for none).
  crypto::CertChoice choice(int64_t now) const;
  tls::TlsContextPtr context(crypto::CertChoice c) const;

  /// Slot 0 = primary, 1 = second; `active` is the choice in force.
  void publish(shm::ServerCertInfo (&out)[shm::kServerCertSlots], crypto::CertChoice active) const;

  /// The files this set was read from, as stat() sees them now; different from what
  /// load() saw = a file was replaced. Cheap (a few stat calls): main lcore, once a second.
  std::string files_signature() const;
  /// The signature load() saw.
  const std::string& loaded_signature() const { return loaded_signature_; }

  const Slot& primary() const { return slots_[0]; }
  const Slot& second() const { return slots_[1]; }

 private:
  uint32_t margin_s_ = 0;
  std::vector<std::string> files_;  ///< certificate, key and password files of both slots
  std::string loaded_signature_;
  Slot slots_[shm::kServerCertSlots];
};

/// Bit i set for each finding with crypto::CertCode i (= shm::CertFindingCode i).
uint32_t server_cert_finding_bits(const crypto::CertReport& report);

}  // namespace tg::dp::vpn
