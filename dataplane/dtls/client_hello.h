// A DTLS ClientHello, read just far enough to find the OpenConnect session it belongs to
// (PROTOCOL.md §6.4): the App-ID the client puts in the session_id, or in ocserv's own
// extension 48018, which wins when both are present. Also whether the hello carries a
// cookie (the second hello, after a HelloVerifyRequest) and whether its random is all zeros
// (ocserv ignores those: a GnuTLS bug produced them).
//
//   record   type(1)=22 | version(2) | epoch(2)=0 | sequence(6) | length(2)
//   hs       msg_type(1)=1 | length(3) | message_seq(2) | fragment_offset(3) | fragment_length(3)
//   hello    client_version(2) | random(32) | session_id<0..32> | cookie<0..255>
//            | cipher_suites<2..2^16-2> | compression_methods<1..255> | [extensions<0..2^16-1>]
//   ext      type(2) | length(2) | data;  48018 (0xbb92): id_length(1) | id
//
// The whole hello is walked (not only up to the session_id) so that a malformed one is
// dropped here, before any session state is touched, with a named reason. Only the first
// record of the datagram is looked at: openconnect sends the ClientHello alone.
//
// Pure and allocation-free like the rest of tg_dtls; every length is checked before use.
// Thread-safety: pure function, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tg::dtls {

namespace hello {
inline constexpr uint8_t kHandshakeTypeClientHello = 1;
inline constexpr size_t kHandshakeHeaderBytes = 12;  ///< RFC 6347 §4.2.2
inline constexpr size_t kRandomBytes = 32;
inline constexpr size_t kMaxSessionIdBytes = 32;
inline constexpr size_t kMaxCookieBytes = 255;  ///< RFC 6347 §4.2.1 (DTLS 1.2: <0..2^8-1>)
/// ocserv's "ApplicationID" extension (openconnect's DTLS_APP_ID_EXT): 1-byte length + id.
inline constexpr uint16_t kAppIdExtensionType = 48018;
/// openconnect accepts up to 64 hex digits of X-DTLS-App-ID (parse_hex_val).
inline constexpr size_t kMaxAppIdBytes = 32;
}  // namespace hello

// Why a datagram is not taken for a ClientHello: one table, with stable counter/log names.
#define TG_DTLS_CLIENT_HELLO_ERRORS(X)                                                     \
  X(kOk, "ok")                                                                             \
  X(kTruncatedRecordHeader, "hello_truncated_record_header") /* < 13 bytes */              \
  X(kNotHandshake, "hello_not_handshake")                    /* content type != 22 */      \
  X(kBadRecordVersion, "hello_bad_record_version")           /* not 0xfeff / 0xfefd */     \
  X(kBadEpoch, "hello_bad_epoch")                            /* a ClientHello is epoch 0 */ \
  X(kRecordBeyondDatagram, "hello_record_beyond_datagram")                                 \
  X(kTruncatedHandshakeHeader, "hello_truncated_handshake_header")                         \
  X(kNotClientHello, "hello_not_client_hello")               /* msg_type != 1 */           \
  X(kFragmented, "hello_fragmented")          /* offset != 0 or fragment != length */      \
  X(kHandshakeBeyondRecord, "hello_handshake_beyond_record")                               \
  X(kTruncatedClientVersion, "hello_truncated_client_version")                             \
  X(kBadClientVersion, "hello_bad_client_version")           /* not DTLS 1.0 / 1.2 */      \
  X(kTruncatedRandom, "hello_truncated_random")                                            \
  X(kTruncatedSessionId, "hello_truncated_session_id")                                     \
  X(kSessionIdTooLong, "hello_session_id_too_long")          /* > 32 bytes */              \
  X(kTruncatedCookie, "hello_truncated_cookie")                                            \
  X(kTruncatedCipherSuites, "hello_truncated_cipher_suites")                               \
  X(kBadCipherSuitesLength, "hello_bad_cipher_suites_length") /* 0 or odd */               \
  X(kTruncatedCompression, "hello_truncated_compression")                                  \
  X(kBadCompressionLength, "hello_bad_compression_length")   /* 0 methods */               \
  X(kTruncatedExtensions, "hello_truncated_extensions")                                    \
  X(kBadExtension, "hello_bad_extension")        /* an extension runs past the block */    \
  X(kBadAppIdExtension, "hello_bad_app_id_extension") /* 48018: bad length or empty id */  \
  X(kDuplicateAppIdExtension, "hello_duplicate_app_id_extension")                          \
  X(kTrailingBytes, "hello_trailing_bytes")      /* bytes after the extensions */          \
  X(kNoAppId, "hello_no_app_id")                 /* empty session_id and no 48018 */

enum class ClientHelloError : uint8_t {
#define TG_DTLS_CLIENT_HELLO_ERROR_ENUM(name, text) name,
  TG_DTLS_CLIENT_HELLO_ERRORS(TG_DTLS_CLIENT_HELLO_ERROR_ENUM)
#undef TG_DTLS_CLIENT_HELLO_ERROR_ENUM
  kCount,
};

/// Short stable name of an error, e.g. "hello_fragmented" (logs and drop counters).
const char* client_hello_error_name(ClientHelloError error);

/// What the session lookup needs from a ClientHello. Spans point into the caller's datagram.
struct ClientHelloInfo {
  /// The App-ID: the 48018 extension's id when present, else the session_id (1..32 bytes).
  std::span<const uint8_t> app_id;
  bool app_id_from_extension = false;
  /// A non-empty cookie: the hello that answers our HelloVerifyRequest.
  bool has_cookie = false;
  /// The 32-byte random is all zeros; ocserv ignores such hellos (PROTOCOL.md §6.4).
  bool random_all_zero = false;
  uint16_t record_version = 0;  ///< 0xfeff (openconnect's first flight) or 0xfefd
  uint16_t client_version = 0;  ///< 0xfefd for DTLS 1.2
  uint16_t message_seq = 0;     ///< 0 in the first hello, 1 after a HelloVerifyRequest
};

/// Parses the first record of a UDP payload as an unfragmented DTLS ClientHello.
/// @param datagram the UDP payload.
/// @param out written only on kOk.
/// @return kOk or the reason the datagram is not a usable ClientHello.
ClientHelloError client_hello_parse(std::span<const uint8_t> datagram, ClientHelloInfo* out);

}  // namespace tg::dtls
