// libFuzzer: the CONNECT header reader on arbitrary header lines, then the MTU rule and the
// 200 CONNECTED builder fed with what was read.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dataplane/tunnel/cstp_connect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::tunnel;
  std::string stream = "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: gw\r\n";
  stream.append(reinterpret_cast<const char*>(data), size);
  stream += "\r\n\r\n";

  HttpRequestParser parser;
  const HttpParseResult http = parser.feed(stream);
  if (http.status != HttpParseStatus::kComplete) return 0;
  const CstpConnectParseResult parsed = cstp_connect_parse(http.request);
  if (!parsed.ok()) {
    if (parsed.message.empty()) std::abort();
    return 0;
  }
  const CstpConnectRequest& req = parsed.request;
  if (req.hostname && req.hostname->size() > cstp_connect::kMaxHostnameBytes) std::abort();

  CstpTunnelParams params;
  params.address = req.previous_ipv4.value_or(0xc6336432);
  if (params.address == 0) params.address = 1;
  params.netmask = 0xffffff00;
  params.mtu = cstp_compute_mtu({1500, req.base_mtu, req.mtu,
                                 req.dtls_psk_negotiate() ? DtlsRecordCipher::kChaCha20Poly1305
                                                          : DtlsRecordCipher::kNone});
  if (params.mtu.tunnel_mtu == 0 || params.mtu.tunnel_mtu >= params.mtu.link_mtu) std::abort();
  if (req.dtls_psk_negotiate()) {
    CstpDtlsOffer dtls;
    dtls.port = 443;
    dtls.app_id = {1, 2, 3};
    params.dtls = dtls;
  }
  const CstpConnectBuildResult built = cstp_connect_build_response(params);
  if (!built.ok || built.bytes.size() < 4 || built.bytes.substr(built.bytes.size() - 4) != "\r\n\r\n") {
    std::abort();
  }
  return 0;
}
