// libFuzzer: arbitrary bytes as a server certificate file and key file, in every format the
// loader recognises (PEM, DER, PKCS#12, PKCS#7, encrypted keys), then validation, the chain
// for wolfSSL and the primary/second choice on whatever loaded. Must never crash, leak or
// read out of bounds (ASan + UBSan build).
//
// Input layout (the seeds in corpus-cert/ follow it; make them with the openssl files of
// make_server_certs.sh):
//   byte 0       mode: bit 0 = the key is a separate file (else it comes from the
//                certificate file), bit 1 = password "s3cret" (else none), bit 2 = read the
//                certificate part as a CA list (cert_list_parse) instead
//   bytes 1..2   big-endian length N of the certificate part
//   N bytes      the certificate file; the rest is the key file
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "crypto/server_cert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::crypto;
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const size_t cert_len = std::min<size_t>((size_t{data[1]} << 8) | data[2], size - 3);
  const std::span<const uint8_t> cert(data + 3, cert_len);
  const std::span<const uint8_t> key(data + 3 + cert_len, size - 3 - cert_len);
  const std::string password = (mode & 2) ? "s3cret" : "";

  if (mode & 4) {
    auto list = cert_list_parse(cert, "ca.pem", password);
    if (list) (void)cert_list_pem(*list);
    return 0;
  }
  (void)cert_spki_pin(cert);
  auto bundle =
      cert_bundle_parse(cert, "server.pem", key, (mode & 1) ? "server.key" : "", password);
  if (!bundle) return 0;
  constexpr int64_t kNow = 1717200000;  // 2024-06-01, as the unit test
  const CertReport primary = cert_bundle_validate(*bundle, kNow, true, 30 * 86400);
  const CertReport second = cert_bundle_validate(*bundle, kNow, false, 0);
  (void)cert_bundle_chain_pem(*bundle);
  (void)cert_choose(&primary, &second, kNow, 30 * 86400);
  (void)cert_choice_next_change(&primary, &second, kNow, 30 * 86400);
  return 0;
}
