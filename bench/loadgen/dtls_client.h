// The client side of OpenConnect's DTLS PSK-NEGOTIATE handshake on wolfSSL (PROTOCOL.md §6):
// the client context (PSK suites in openconnect's order, the PSK callback) and the App-ID
// in the ClientHello's session_id.
//
// Used by tunnelgate-loadgen on its event-loop threads; tested against tunnelgate's own DTLS
// server engine (dataplane/dtls/dtls_handshake) in tests/loadgen/dtls_client_test.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

// Forward declarations, so that this header needs no wolfSSL include (ssl.h's typedefs).
struct WOLFSSL;
struct WOLFSSL_CTX;

namespace tg::loadgen {

/// openconnect's exporter label for the PSK (no context, 32 bytes, §6.2).
inline constexpr char kDtlsPskLabel[] = "EXPORTER-openconnect-psk";
inline constexpr size_t kDtlsPskBytes = 32;

/// A DTLS 1.2 client context for PSK-NEGOTIATE: the plain-PSK AEAD suites openconnect offers,
/// in its order, as far as this wolfSSL build has them (PSK-AES256-GCM-SHA384,
/// PSK-CHACHA20-POLY1305, PSK-AES128-GCM-SHA256), and a PSK callback that answers with the
/// identity "psk" and the 32-byte key set by dtls_client_set_psk_source.
/// @return the context (caller frees with wolfSSL_CTX_free), or nullptr and an error.
WOLFSSL_CTX* dtls_client_context_new(std::string* error);

/// Where the PSK callback of `ssl` finds its key: `kDtlsPskBytes` bytes at `psk`, which must
/// outlive the handshake.
void dtls_client_set_psk_source(WOLFSSL* ssl, const uint8_t* psk);

/// Makes the ClientHello of `ssl` carry `app_id` (1..32 bytes) as its session_id, as
/// openconnect does with GnuTLS's gnutls_session_set_id. wolfSSL writes a session_id only when
/// it resumes, so `ssl` gets a client session whose ID is the App-ID (built through wolfSSL's
/// serialised session format, i2d/d2i, since wolfSSL 5.5.4's ID setter is a stub). The
/// server answers with its own session ID, wolfSSL sees the resumption refused and runs the
/// full PSK handshake. Call before the first wolfSSL_connect.
/// @return false when the App-ID size is wrong or wolfSSL refuses the session.
bool dtls_client_set_app_id(WOLFSSL* ssl, std::span<const uint8_t> app_id);

}  // namespace tg::loadgen
