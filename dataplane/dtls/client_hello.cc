// DTLS ClientHello peek for the session lookup (see the header for the layout).
#include "dataplane/dtls/client_hello.h"

#include "dataplane/dtls/dtls_record.h"

namespace tg::dtls {

namespace {

constexpr uint32_t kBitsPerByte = 8;
constexpr uint8_t kDtlsMajor = 0xfe;  // DTLS versions are {254, x}
constexpr uint8_t kDtls10Minor = 0xff;
constexpr uint8_t kDtls12Minor = 0xfd;

/// A bounds-checked reader over one byte range: every take fails instead of reading past
/// the end, and the position never moves past it.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t left() const { return bytes_.size() - pos_; }

  bool u8(uint8_t* out) {
    if (left() < 1) return false;
    *out = bytes_[pos_++];
    return true;
  }
  bool u16(uint16_t* out) {
    uint64_t value = 0;
    if (!be(2, &value)) return false;
    *out = static_cast<uint16_t>(value);
    return true;
  }
  bool u24(uint32_t* out) {
    uint64_t value = 0;
    if (!be(3, &value)) return false;
    *out = static_cast<uint32_t>(value);
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>* out) {
    if (left() < n) return false;
    *out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  bool be(size_t n, uint64_t* out) {
    if (left() < n) return false;
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) value = value << kBitsPerByte | bytes_[pos_ + i];
    pos_ += n;
    *out = value;
    return true;
  }

  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

bool all_zero(std::span<const uint8_t> bytes) {
  uint8_t any = 0;
  for (uint8_t b : bytes) any |= b;
  return any == 0;
}

/// The extensions block: looks for 48018 and checks that every extension stays inside.
ClientHelloError parse_extensions(std::span<const uint8_t> block,
                                  std::span<const uint8_t>* app_id) {
  Reader ext(block);
  bool found = false;
  while (ext.left() > 0) {
    uint16_t type = 0, length = 0;
    std::span<const uint8_t> data;
    if (!ext.u16(&type) || !ext.u16(&length) || !ext.bytes(length, &data))
      return ClientHelloError::kBadExtension;
    if (type != hello::kAppIdExtensionType) continue;
    if (found) return ClientHelloError::kDuplicateAppIdExtension;
    // data = id_length(1) || id, and nothing else.
    if (data.empty() || data[0] == 0 || data[0] > hello::kMaxAppIdBytes ||
        data.size() != size_t{1} + data[0])
      return ClientHelloError::kBadAppIdExtension;
    *app_id = data.subspan(1);
    found = true;
  }
  return ClientHelloError::kOk;
}

}  // namespace

const char* client_hello_error_name(ClientHelloError error) {
  switch (error) {
#define TG_DTLS_CLIENT_HELLO_ERROR_NAME(name, text) \
  case ClientHelloError::name:                      \
    return text;
    TG_DTLS_CLIENT_HELLO_ERRORS(TG_DTLS_CLIENT_HELLO_ERROR_NAME)
#undef TG_DTLS_CLIENT_HELLO_ERROR_NAME
    case ClientHelloError::kCount:
      break;
  }
  return "hello_unknown_error";
}

ClientHelloError client_hello_parse(std::span<const uint8_t> datagram, ClientHelloInfo* out) {
  // ---- record header (RFC 6347 §4.1) ----
  Reader record(datagram);
  uint8_t type = 0;
  uint16_t record_version = 0, epoch = 0, record_length = 0;
  std::span<const uint8_t> sequence;
  if (!record.u8(&type) || !record.u16(&record_version) || !record.u16(&epoch) ||
      !record.bytes(wire::kSequenceBytes, &sequence) || !record.u16(&record_length))
    return ClientHelloError::kTruncatedRecordHeader;
  if (type != static_cast<uint8_t>(ContentType::kHandshake))
    return ClientHelloError::kNotHandshake;
  if (record_version != wire::kVersionDtls10 && record_version != wire::kVersionDtls12)
    return ClientHelloError::kBadRecordVersion;
  if (epoch != 0) return ClientHelloError::kBadEpoch;
  std::span<const uint8_t> fragment;
  if (!record.bytes(record_length, &fragment)) return ClientHelloError::kRecordBeyondDatagram;

  // ---- handshake header (RFC 6347 §4.2.2) ----
  Reader handshake(fragment);
  uint8_t msg_type = 0;
  uint32_t length = 0, fragment_offset = 0, fragment_length = 0;
  uint16_t message_seq = 0;
  if (!handshake.u8(&msg_type) || !handshake.u24(&length) || !handshake.u16(&message_seq) ||
      !handshake.u24(&fragment_offset) || !handshake.u24(&fragment_length))
    return ClientHelloError::kTruncatedHandshakeHeader;
  if (msg_type != hello::kHandshakeTypeClientHello) return ClientHelloError::kNotClientHello;
  // A fragmented hello would need reassembly across datagrams; openconnect's fits in one.
  if (fragment_offset != 0 || fragment_length != length) return ClientHelloError::kFragmented;
  std::span<const uint8_t> body;
  if (!handshake.bytes(length, &body)) return ClientHelloError::kHandshakeBeyondRecord;

  // ---- ClientHello body (RFC 6347 §4.2.1) ----
  Reader hello(body);
  uint16_t client_version = 0;
  if (!hello.u16(&client_version)) return ClientHelloError::kTruncatedClientVersion;
  if (client_version >> kBitsPerByte != kDtlsMajor ||
      ((client_version & 0xffu) != kDtls10Minor && (client_version & 0xffu) != kDtls12Minor))
    return ClientHelloError::kBadClientVersion;
  std::span<const uint8_t> random;
  if (!hello.bytes(hello::kRandomBytes, &random)) return ClientHelloError::kTruncatedRandom;

  uint8_t session_id_len = 0;
  std::span<const uint8_t> session_id;
  if (!hello.u8(&session_id_len)) return ClientHelloError::kTruncatedSessionId;
  if (session_id_len > hello::kMaxSessionIdBytes) return ClientHelloError::kSessionIdTooLong;
  if (!hello.bytes(session_id_len, &session_id)) return ClientHelloError::kTruncatedSessionId;

  uint8_t cookie_len = 0;
  std::span<const uint8_t> cookie;
  if (!hello.u8(&cookie_len) || !hello.bytes(cookie_len, &cookie))
    return ClientHelloError::kTruncatedCookie;

  uint16_t suites_len = 0;
  std::span<const uint8_t> suites;
  if (!hello.u16(&suites_len)) return ClientHelloError::kTruncatedCipherSuites;
  if (suites_len == 0 || suites_len % 2 != 0) return ClientHelloError::kBadCipherSuitesLength;
  if (!hello.bytes(suites_len, &suites)) return ClientHelloError::kTruncatedCipherSuites;

  uint8_t compression_len = 0;
  std::span<const uint8_t> compression;
  if (!hello.u8(&compression_len)) return ClientHelloError::kTruncatedCompression;
  if (compression_len == 0) return ClientHelloError::kBadCompressionLength;
  if (!hello.bytes(compression_len, &compression)) return ClientHelloError::kTruncatedCompression;

  // Extensions are optional (RFC 5246 §7.4.1.2): the body may end right here.
  std::span<const uint8_t> app_id_ext;
  if (hello.left() > 0) {
    uint16_t extensions_len = 0;
    std::span<const uint8_t> extensions;
    if (!hello.u16(&extensions_len) || !hello.bytes(extensions_len, &extensions))
      return ClientHelloError::kTruncatedExtensions;
    if (hello.left() != 0) return ClientHelloError::kTrailingBytes;
    const ClientHelloError ext_error = parse_extensions(extensions, &app_id_ext);
    if (ext_error != ClientHelloError::kOk) return ext_error;
  }

  // ocserv looks for its extension first and falls back to the session_id (§6.4).
  const bool from_extension = !app_id_ext.empty();
  if (!from_extension && session_id.empty()) return ClientHelloError::kNoAppId;

  out->app_id = from_extension ? app_id_ext : session_id;
  out->app_id_from_extension = from_extension;
  out->has_cookie = !cookie.empty();
  out->random_all_zero = all_zero(random);
  out->record_version = record_version;
  out->client_version = client_version;
  out->message_seq = message_seq;
  return ClientHelloError::kOk;
}

}  // namespace tg::dtls
