#include "dataplane/vpn/server_certs.h"

#include <sys/stat.h>

#include <iterator>

#include "dataplane/log.h"

namespace tg::dp::vpn {

namespace {

// The stats segment's finding codes (api/ cannot include crypto/) must be crypto's, name for
// name and in order: checked at compile time.
constexpr const char* kCryptoCodes[] = {
#define TG_X(code, severity, meaning) #code,
    TG_CERT_FINDINGS(TG_X)
#undef TG_X
};
static_assert(shm::labels_match(kCryptoCodes, shm::kCertFindingCount,
                                [](unsigned i) { return shm::kCertFindingInfo[i].code; }), "api/stats_shm.h TG_SERVER_CERT_FINDINGS must list crypto/server_cert.h's codes in order");
static_assert(shm::kCertFindingCount <= 32, "findings are a 32-bit mask");

/// Read, validate and build the context of one slot. `report` is set whenever the files
/// could be read; `context` only when the certificate is usable.
std::string load_slot(const config::Config& cfg, const std::string& cert, const std::string& key,
                      const char* key_name, bool is_primary, int64_t now, const std::string& password,
                      ServerCertificates::Slot& slot) {
  slot.configured = true;
  slot.name = std::string(key_name) + " " + cert;
  auto bundle = crypto::cert_bundle_load(cert, key, password);
  if (!bundle) return std::string(key_name) + ": " + bundle.error().message;
  slot.report = crypto::cert_bundle_validate(*bundle, now, is_primary, cfg.tls.expiry_margin_s);
  for (const crypto::CertFinding& f : slot.report->findings) {
    if (f.severity == crypto::CertSeverity::warning) {
      TG_WARN("msg=\"certificate warning\" certificate=%s finding=%s detail=\"%s\"", slot.name.c_str(),
              std::string(crypto::to_string(f.code)).c_str(), f.message.c_str());
    } else {
      TG_ERR("msg=\"certificate error\" certificate=%s finding=%s detail=\"%s\"", slot.name.c_str(),
             std::string(crypto::to_string(f.code)).c_str(), f.message.c_str());
    }
  }
  // Errors other than dates refuse the certificate (and the whole load: all or nothing).
  // An expired or not yet valid certificate still gets its context: cert_choose() never
  // picks it, and an expired primary must not stop a gateway whose second is fine.
  std::string why;
  for (const crypto::CertFinding& f : slot.report->findings) {
    if (f.severity != crypto::CertSeverity::error || f.code == crypto::CertCode::expired ||
        f.code == crypto::CertCode::not_yet_valid)
      continue;
    why += (why.empty() ? "" : "; ") + std::string(crypto::to_string(f.code)) + ": " + f.message;
  }
  if (!why.empty()) return std::string(key_name) + " " + cert + ": " + why;
  tls::TlsContextOptions options;
  options.client_ca_file = cfg.auth.ca;
  if (cfg.tls.request_client_cert && !cfg.auth.ca.empty()) {
    // PEM, DER, PKCS#7 or PKCS#12 CA bundle (group certificates), as the control plane reads it.
    auto cas = crypto::cert_list_load(cfg.auth.ca, "");
    if (!cas) return "auth.ca: " + cas.error().message;
    options.client_ca_pem = crypto::cert_list_pem(*cas);
  }
  tls::TlsServerCredentials creds;
  creds.name = slot.name;
  creds.chain_pem = crypto::cert_bundle_chain_pem(*bundle);
  creds.key_der = bundle->key_der;
  tls::TlsContextResult ctx = tls::tls_context_create(cfg.tls, options, creds);
  std::fill(creds.key_der.begin(), creds.key_der.end(), uint8_t{0});
  if (!ctx.ok()) return ctx.error;
  slot.context = ctx.context;
  return {};
}

}  // namespace

static_assert(static_cast<unsigned>(crypto::CertChoice::primary) == 0 &&
              static_cast<unsigned>(crypto::CertChoice::second) == 1, "slot i is choice i");

uint32_t server_cert_finding_bits(const crypto::CertReport& report) {
  uint32_t bits = 0;
  for (const crypto::CertFinding& f : report.findings) bits |= uint32_t{1} << static_cast<unsigned>(f.code);
  return bits;
}

std::string ServerCertificates::files_signature() const {
  std::string sig;
  for (const std::string& f : files_) {
    struct stat st {};
    if (stat(f.c_str(), &st) != 0) {
      sig += "-;";
      continue;
    }
    sig += std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
           std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec) + ';';
  }
  return sig;
}

std::string ServerCertificates::load(const config::Config& cfg, int64_t now) {
  margin_s_ = cfg.tls.expiry_margin_s;
  for (const std::string* f : {&cfg.tls.certificate, &cfg.tls.key, &cfg.tls.second_certificate,
                               &cfg.tls.second_key, &cfg.tls.key_password_file})
    if (!f->empty()) files_.push_back(*f);
  // Before reading: a file replaced while we read is seen as changed at the next tick.
  loaded_signature_ = files_signature();
  auto password = crypto::cert_password_read(cfg.tls.key_password_file, cfg.tls.key_password_env);
  if (!password) return "tls.key_password_file/key_password_env: " + password.error().message;
  const std::string e1 = load_slot(cfg, cfg.tls.certificate, cfg.tls.key, "tls.certificate", true, now, *password,
                                   slots_[0]);
  std::string e2;
  if (!cfg.tls.second_certificate.empty())
    e2 = load_slot(cfg, cfg.tls.second_certificate, cfg.tls.second_key, "tls.second_certificate", false, now,
                   *password, slots_[1]);
  // All or nothing: a configured certificate with an error refuses the load.
  if (!e1.empty() || !e2.empty()) return e1 + (e1.empty() || e2.empty() ? "" : "; ") + e2;
  if (choice(now) == crypto::CertChoice::none) {
    return "no certificate is valid now: " + slots_[0].name +
           (slots_[1].configured ? " and " + slots_[1].name : std::string()) +
           " are expired or not yet valid";
  }
  return {};
}

crypto::CertChoice ServerCertificates::choice(int64_t now) const {
  const crypto::CertReport* p = slots_[0].context ? &*slots_[0].report : nullptr;
  const crypto::CertReport* s = slots_[1].context ? &*slots_[1].report : nullptr;
  return crypto::cert_choose(p, s, now, margin_s_);
}

tls::TlsContextPtr ServerCertificates::context(crypto::CertChoice c) const {
  switch (c) {
    case crypto::CertChoice::primary: return slots_[0].context;
    case crypto::CertChoice::second: return slots_[1].context;
    default: return nullptr;
  }
}

void ServerCertificates::publish(shm::ServerCertInfo (&out)[shm::kServerCertSlots],
                                 crypto::CertChoice active) const {
  for (unsigned i = 0; i < shm::kServerCertSlots; i++) {
    const Slot& s = slots_[i];
    shm::ServerCertInfo info{};
    info.configured = s.configured ? 1 : 0;
    info.usable = s.context != nullptr && s.report && s.report->usable() ? 1 : 0;
    // Slot order is CertChoice order (primary, second).
    info.active = static_cast<unsigned>(active) == i ? 1 : 0;
    if (s.report) {
      info.findings = server_cert_finding_bits(*s.report);
      info.not_before = s.report->not_before;
      info.not_after = s.report->not_after;
    }
    out[i] = info;
  }
}

}  // namespace tg::dp::vpn
