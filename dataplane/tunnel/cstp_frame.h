// CSTP framing on the TLS stream after "HTTP/1.1 200 CONNECTED" (PROTOCOL.md §5).
//
//   offset 0..3  'S' 'T' 'F' 0x01
//          4..5  payload length, big-endian, NOT counting this 8-byte header
//          6     packet type
//          7     0x00 (openconnect quits on anything else)
//          8..   payload
//
// Used by the TLS worker threads of tunnelgate-dataplane. The encoder writes only the
// 8-byte header so the payload (an IP packet in an mbuf) is never copied. The decoder
// accepts an arbitrary byte stream (frames split across reads, several frames per read),
// although openconnect sends exactly one frame per TLS record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tg::tunnel {

namespace cstp {
inline constexpr uint8_t kMagic[4] = {'S', 'T', 'F', 0x01};
inline constexpr size_t kHeaderBytes = 8;
inline constexpr size_t kLengthOffset = 4;
inline constexpr size_t kTypeOffset = 6;
inline constexpr size_t kReservedOffset = 7;
/// openconnect reads one TLS record (at most 16384 plaintext bytes) per frame, so a frame
/// can never carry more than this.
inline constexpr size_t kMaxTlsRecordPlaintext = 16384;
inline constexpr size_t kMaxPayloadBytes = kMaxTlsRecordPlaintext - kHeaderBytes;
/// Reason byte of the client's normal logout BYE ("Aborted by caller"): ocserv treats it as
/// a user disconnect and invalidates the session (§7.3).
inline constexpr uint8_t kDisconnectReasonUserLogout = 0xb0;
/// Longest disconnect text we send or keep from a peer.
inline constexpr size_t kMaxDisconnectTextBytes = 255;
}  // namespace cstp

/// Packet types (openconnect-internal.h AC_PKT_*, ocserv vpn.h). 1, 2, 6 and 10+ do not
/// exist: openconnect quits on them, so we never send them and reject them on receive.
enum class CstpType : uint8_t {
  kData = 0x00,         ///< one IP packet
  kDpdRequest = 0x03,   ///< answer with kDpdResponse
  kDpdResponse = 0x04,
  kDisconnect = 0x05,   ///< reason byte + text (no NUL), or empty
  kKeepalive = 0x07,
  kCompressed = 0x08,   ///< only with a negotiated Content-Encoding: we negotiate none
  kTerminate = 0x09,    ///< server → client: session terminated
};

/// Why a frame was rejected. The TLS worker closes the connection on any of them.
enum class CstpError : uint8_t {
  kNone,
  kBadMagic,           ///< bytes 0..3 are not "STF\x01"
  kReservedNotZero,    ///< byte 7 != 0
  kUnknownType,        ///< type not in CstpType
  kCompressedRejected, ///< type 8 without negotiated compression
  kPayloadTooLarge,    ///< length above the decoder's maximum
  kOutputTooSmall,     ///< encoder: caller buffer too small
};

/// Short stable name of an error (for logs and drop counters).
std::string_view cstp_error_name(CstpError error);

/// Writes the 8-byte header for a payload of `payload_len` bytes.
/// Precondition: payload_len <= cstp::kMaxPayloadBytes (callers bound packets by the MTU).
/// Thread-safety: pure function.
void cstp_encode_header(uint8_t out[cstp::kHeaderBytes], CstpType type, uint16_t payload_len);

/// Writes header + payload into `out` (for small control frames; data frames use
/// cstp_encode_header in front of the mbuf data instead).
/// @return bytes written, or 0 when `out` is too small or the payload is above
///         cstp::kMaxPayloadBytes.
size_t cstp_encode_frame(std::span<uint8_t> out, CstpType type,
                         std::span<const uint8_t> payload);

/// Writes a DISCONNECT frame: reason byte then `text` (truncated to
/// cstp::kMaxDisconnectTextBytes).
/// @return bytes written, or 0 when `out` is too small.
size_t cstp_encode_disconnect(std::span<uint8_t> out, uint8_t reason, std::string_view text);

/// Checks an 8-byte header on its own (for a caller that already has one frame per record).
struct CstpHeader {
  CstpError error = CstpError::kNone;
  CstpType type = CstpType::kData;
  uint16_t payload_len = 0;
};
/// @param max_payload_bytes frames longer than this are kPayloadTooLarge
CstpHeader cstp_parse_header(std::span<const uint8_t, cstp::kHeaderBytes> header,
                             size_t max_payload_bytes);

/// Payload of a DISCONNECT frame. An empty payload is a temporary disconnect (AnyConnect
/// roaming): the session stays reusable; reason 0xb0 is a user logout.
struct CstpDisconnect {
  bool has_reason = false;
  uint8_t reason = 0;
  std::string_view text;  ///< view into the payload, at most kMaxDisconnectTextBytes
};
CstpDisconnect cstp_parse_disconnect(std::span<const uint8_t> payload);

enum class CstpDecodeStatus : uint8_t { kNeedMore, kFrame, kError };

struct CstpDecodeResult {
  CstpDecodeStatus status = CstpDecodeStatus::kNeedMore;
  CstpError error = CstpError::kNone;  ///< when status == kError
  CstpType type = CstpType::kData;     ///< when status == kFrame
  /// When status == kFrame: the payload. It points into the caller's input when the frame
  /// was contiguous there (no copy), otherwise into the decoder's buffer. Valid until the
  /// next decode() call or until the input is released, whichever comes first.
  std::span<const uint8_t> payload;
  size_t consumed = 0;  ///< bytes of the input used; the caller advances by this much
};

/// Incremental decoder of a CSTP byte stream.
///
/// @code
///   while (!in.empty()) {
///     CstpDecodeResult r = decoder.decode(in);
///     in = in.subspan(r.consumed);
///     if (r.status == CstpDecodeStatus::kFrame) handle(r.type, r.payload);
///     else if (r.status == CstpDecodeStatus::kError) { close(r.error); break; }
///   }
/// @endcode
/// Errors are sticky. The buffer never holds more than one frame (8 + max payload bytes),
/// and nothing until a frame arrives split across inputs: a tunnel whose frames come whole
/// (one per TLS record, as openconnect sends them) holds no buffer at all, which matters at
/// 100k tunnels (a 16 KB buffer reserved up front was a quarter of a session's memory).
/// Thread-safety: none; one decoder per connection.
class CstpDecoder {
 public:
  /// @param max_payload_bytes the tunnel MTU bound; clamped to cstp::kMaxPayloadBytes.
  explicit CstpDecoder(size_t max_payload_bytes);

  /// Decodes at most one frame from `input`.
  /// @return kFrame (with type and payload), kNeedMore (all input consumed and buffered),
  ///         or kError (nothing more will decode).
  CstpDecodeResult decode(std::span<const uint8_t> input);

  /// Bytes of an incomplete frame held from earlier calls.
  size_t buffered_bytes() const { return partial_.size(); }
  size_t max_payload_bytes() const { return max_payload_bytes_; }

 private:
  CstpDecodeResult fail(CstpError error, size_t consumed);

  size_t max_payload_bytes_;
  CstpError error_ = CstpError::kNone;
  std::vector<uint8_t> partial_;  ///< an incomplete frame (header first)
  std::vector<uint8_t> frame_;    ///< the last frame assembled from pieces
};

}  // namespace tg::tunnel
