// DTLS ClientHello peek (dtls::client_hello_parse). Malformed input first: every truncation
// of the real openconnect hello (as received, and with consistent lengths, which reaches
// every field), then each malformed field; then the real hello from the protocol trace, the
// cookie variant, ocserv's App-ID extension and the flags.
#include "dataplane/dtls/client_hello.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tg::dtls {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// openconnect 9.01 (GnuTLS 3.7.9), /work/shared/protocol-traces/dtls-clienthello-and-framing.txt:
/// 168 bytes, record version 0xfeff, session_id = App-ID a0..bf, no cookie, no 48018.
const Bytes kTraceHello = from_hex(
    "16feff0000000000000000009b0100008f000000000000008ffefd0edf99ae06202f511875eb96dc1503e683"
    "46b63b7251eafa254232acf84bf6f520a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
    "bcbdbebf00001000a9ccabc0a5008d00a8c0a4008c00ae01000035000d002200200401080908040403080705"
    "01080a0805050308080601080b080606030201020300230000ff01000100001c00024000");

constexpr size_t kRecordHeader = 13;
constexpr size_t kHandshakeHeader = 12;
constexpr size_t kBodyOffset = kRecordHeader + kHandshakeHeader;  // 25: client_version

Bytes app_id_a0() {
  Bytes id;
  for (int i = 0; i < 32; i++) id.push_back(static_cast<uint8_t>(0xa0 + i));
  return id;
}

void put16(Bytes* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void put24(Bytes* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}

Bytes extension(uint16_t type, const Bytes& data) {
  Bytes out;
  put16(&out, type);
  put16(&out, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes app_id_extension(const Bytes& id) {
  Bytes data = {static_cast<uint8_t>(id.size())};
  data.insert(data.end(), id.begin(), id.end());
  return extension(hello::kAppIdExtensionType, data);
}

/// A ClientHello written field by field; the defaults are openconnect's.
struct Hello {
  uint8_t record_type = 22;
  uint16_t record_version = 0xfeff;
  uint16_t epoch = 0;
  uint8_t msg_type = 1;
  uint16_t message_seq = 0;
  std::optional<uint32_t> fragment_offset, fragment_length, handshake_length;
  uint16_t client_version = 0xfefd;
  Bytes random = Bytes(32, 0x5a);
  Bytes session_id = app_id_a0();
  Bytes cookie;
  Bytes suites = {0x00, 0xa9, 0xcc, 0xab};
  Bytes compression = {0};
  std::optional<Bytes> extensions = Bytes{};  ///< the block without its length; nullopt: none
  Bytes trailing;                             ///< inside the handshake body, after everything

  Bytes build() const {
    Bytes body;
    put16(&body, client_version);
    body.insert(body.end(), random.begin(), random.end());
    body.push_back(static_cast<uint8_t>(session_id.size()));
    body.insert(body.end(), session_id.begin(), session_id.end());
    body.push_back(static_cast<uint8_t>(cookie.size()));
    body.insert(body.end(), cookie.begin(), cookie.end());
    put16(&body, suites.size());
    body.insert(body.end(), suites.begin(), suites.end());
    body.push_back(static_cast<uint8_t>(compression.size()));
    body.insert(body.end(), compression.begin(), compression.end());
    if (extensions) {
      put16(&body, extensions->size());
      body.insert(body.end(), extensions->begin(), extensions->end());
    }
    body.insert(body.end(), trailing.begin(), trailing.end());

    Bytes fragment = {msg_type};
    put24(&fragment, handshake_length.value_or(static_cast<uint32_t>(body.size())));
    put16(&fragment, message_seq);
    put24(&fragment, fragment_offset.value_or(0));
    put24(&fragment, fragment_length.value_or(static_cast<uint32_t>(body.size())));
    fragment.insert(fragment.end(), body.begin(), body.end());

    Bytes record = {record_type};
    put16(&record, record_version);
    put16(&record, epoch);
    for (int i = 0; i < 6; i++) record.push_back(static_cast<uint8_t>(message_seq == 0 ? 0 : i == 5));
    put16(&record, fragment.size());
    record.insert(record.end(), fragment.begin(), fragment.end());
    return record;
  }
};

ClientHelloError parse(const Bytes& datagram, ClientHelloInfo* info = nullptr) {
  ClientHelloInfo ignored;
  return client_hello_parse(datagram, info != nullptr ? info : &ignored);
}

#define EXPECT_HELLO_ERROR(expected, datagram)                                      \
  EXPECT_EQ(client_hello_error_name(ClientHelloError::expected),                    \
            std::string(client_hello_error_name(parse(datagram))))

// ---- truncation ----

TEST(ClientHelloMalformed, Empty) { EXPECT_HELLO_ERROR(kTruncatedRecordHeader, Bytes{}); }

TEST(ClientHelloMalformed, EveryTruncationAsReceived) {
  // The datagram is cut, the length fields are not: the record no longer fits.
  for (size_t len = 0; len < kTraceHello.size(); len++) {
    const Bytes cut(kTraceHello.begin(), kTraceHello.begin() + static_cast<std::ptrdiff_t>(len));
    const ClientHelloError expected = len < kRecordHeader ? ClientHelloError::kTruncatedRecordHeader
                                                          : ClientHelloError::kRecordBeyondDatagram;
    EXPECT_EQ(expected, parse(cut)) << "length " << len;
  }
}

/// The trace hello with its body cut to `body_len` bytes and every length field rewritten
/// to match, so that the parse reaches the field that is cut.
Bytes trace_hello_with_body(size_t body_len) {
  Bytes out(kTraceHello.begin(), kTraceHello.begin() + static_cast<std::ptrdiff_t>(kBodyOffset + body_len));
  const size_t fragment_len = kHandshakeHeader + body_len;
  out[11] = static_cast<uint8_t>(fragment_len >> 8);
  out[12] = static_cast<uint8_t>(fragment_len);
  for (size_t at : {size_t{14}, size_t{22}}) {  // handshake length, fragment_length
    out[at] = static_cast<uint8_t>(body_len >> 16);
    out[at + 1] = static_cast<uint8_t>(body_len >> 8);
    out[at + 2] = static_cast<uint8_t>(body_len);
  }
  return out;
}

TEST(ClientHelloMalformed, EveryTruncationOfTheBody) {
  // Body offsets of the trace hello: version 0-1, random 2-33, session_id length 34, id
  // 35-66, cookie length 67, suites length 68-69, suites 70-85, compression 86-87,
  // extensions length 88-89, extensions 90-142.
  const size_t body_size = kTraceHello.size() - kBodyOffset;
  ASSERT_EQ(143u, body_size);
  for (size_t cut = 0; cut <= body_size; cut++) {
    ClientHelloError expected;
    if (cut < 2) expected = ClientHelloError::kTruncatedClientVersion;
    else if (cut < 34) expected = ClientHelloError::kTruncatedRandom;
    else if (cut < 67) expected = ClientHelloError::kTruncatedSessionId;
    else if (cut < 68) expected = ClientHelloError::kTruncatedCookie;
    else if (cut < 86) expected = ClientHelloError::kTruncatedCipherSuites;
    else if (cut < 88) expected = ClientHelloError::kTruncatedCompression;
    else if (cut == 88) expected = ClientHelloError::kOk;  // extensions are optional
    else if (cut < body_size) expected = ClientHelloError::kTruncatedExtensions;
    else expected = ClientHelloError::kOk;
    EXPECT_EQ(client_hello_error_name(expected),
              std::string(client_hello_error_name(parse(trace_hello_with_body(cut)))))
        << "body cut at " << cut;
  }
}

TEST(ClientHelloMalformed, HandshakeHeaderTruncated) {
  for (size_t fragment = 1; fragment < kHandshakeHeader; fragment++) {
    Bytes record = {22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(fragment)};
    record.resize(kRecordHeader + fragment, 1);
    EXPECT_HELLO_ERROR(kTruncatedHandshakeHeader, record) << fragment;
  }
}

// ---- one malformed field at a time ----

TEST(ClientHelloMalformed, RecordFields) {
  Hello h;
  h.record_type = 23;
  EXPECT_HELLO_ERROR(kNotHandshake, h.build());
  h = Hello{};
  h.record_type = 21;  // an alert
  EXPECT_HELLO_ERROR(kNotHandshake, h.build());
  for (uint16_t version : {0xfefc, 0x0303, 0xfe00, 0x0000}) {
    h = Hello{};
    h.record_version = version;
    EXPECT_HELLO_ERROR(kBadRecordVersion, h.build()) << version;
  }
  h = Hello{};
  h.epoch = 1;  // an encrypted Finished, not a hello
  EXPECT_HELLO_ERROR(kBadEpoch, h.build());
}

TEST(ClientHelloMalformed, HandshakeFields) {
  Hello h;
  h.msg_type = 2;  // ServerHello
  EXPECT_HELLO_ERROR(kNotClientHello, h.build());
  h.msg_type = 16;  // ClientKeyExchange
  EXPECT_HELLO_ERROR(kNotClientHello, h.build());
  h = Hello{};
  h.fragment_offset = 1;
  EXPECT_HELLO_ERROR(kFragmented, h.build());
  h = Hello{};
  h.fragment_length = 40;  // first fragment of a longer hello
  EXPECT_HELLO_ERROR(kFragmented, h.build());
  h = Hello{};
  const size_t body = Hello{}.build().size() - kBodyOffset;
  h.handshake_length = static_cast<uint32_t>(body + 1);
  h.fragment_length = static_cast<uint32_t>(body + 1);
  EXPECT_HELLO_ERROR(kHandshakeBeyondRecord, h.build());
}

TEST(ClientHelloMalformed, ClientVersion) {
  for (uint16_t version : {0x0303, 0xfefc, 0xfefe, 0x0100, 0xfdfd}) {
    Hello h;
    h.client_version = version;
    EXPECT_HELLO_ERROR(kBadClientVersion, h.build()) << version;
  }
}

TEST(ClientHelloMalformed, SessionIdTooLong) {
  Hello h;
  h.session_id = Bytes(33, 1);
  EXPECT_HELLO_ERROR(kSessionIdTooLong, h.build());
  h.session_id = Bytes(255, 1);
  EXPECT_HELLO_ERROR(kSessionIdTooLong, h.build());
}

TEST(ClientHelloMalformed, CipherSuitesLength) {
  Hello h;
  h.suites = {};
  EXPECT_HELLO_ERROR(kBadCipherSuitesLength, h.build());
  h.suites = {0xcc, 0xab, 0x00};
  EXPECT_HELLO_ERROR(kBadCipherSuitesLength, h.build());
}

TEST(ClientHelloMalformed, NoCompressionMethod) {
  Hello h;
  h.compression = {};
  EXPECT_HELLO_ERROR(kBadCompressionLength, h.build());
}

TEST(ClientHelloMalformed, ExtensionRunsPastTheBlock) {
  Hello h;
  Bytes ext = extension(0x000d, Bytes(10, 0));
  ext[3] = 11;  // claims one byte more than there is
  h.extensions = ext;
  EXPECT_HELLO_ERROR(kBadExtension, h.build());
  h.extensions = Bytes{0x00};  // half an extension type
  EXPECT_HELLO_ERROR(kBadExtension, h.build());
  h.extensions = Bytes{0x00, 0x23, 0x00};  // type, half a length
  EXPECT_HELLO_ERROR(kBadExtension, h.build());
}

TEST(ClientHelloMalformed, TrailingBytesAfterTheExtensions) {
  Hello h;
  h.trailing = {0, 0};
  EXPECT_HELLO_ERROR(kTrailingBytes, h.build());
}

TEST(ClientHelloMalformed, BadAppIdExtension) {
  Hello h;
  h.extensions = extension(hello::kAppIdExtensionType, {});  // no length byte
  EXPECT_HELLO_ERROR(kBadAppIdExtension, h.build());
  h.extensions = extension(hello::kAppIdExtensionType, {0});  // empty id
  EXPECT_HELLO_ERROR(kBadAppIdExtension, h.build());
  h.extensions = extension(hello::kAppIdExtensionType, {5, 1, 2, 3});  // says 5, has 3
  EXPECT_HELLO_ERROR(kBadAppIdExtension, h.build());
  h.extensions = extension(hello::kAppIdExtensionType, {2, 1, 2, 3});  // says 2, has 3
  EXPECT_HELLO_ERROR(kBadAppIdExtension, h.build());
  h.extensions = app_id_extension(Bytes(33, 7));  // longer than any App-ID
  EXPECT_HELLO_ERROR(kBadAppIdExtension, h.build());
}

TEST(ClientHelloMalformed, DuplicateAppIdExtension) {
  Hello h;
  Bytes exts = app_id_extension(Bytes(4, 1));
  const Bytes again = app_id_extension(Bytes(4, 2));
  exts.insert(exts.end(), again.begin(), again.end());
  h.extensions = exts;
  EXPECT_HELLO_ERROR(kDuplicateAppIdExtension, h.build());
}

TEST(ClientHelloMalformed, NoAppId) {
  Hello h;
  h.session_id = {};
  EXPECT_HELLO_ERROR(kNoAppId, h.build());
  EXPECT_STREQ("hello_no_app_id", client_hello_error_name(ClientHelloError::kNoAppId));
}

// ---- well-formed hellos ----

TEST(ClientHello, TheRealOpenconnectHello) {
  ClientHelloInfo info;
  ASSERT_EQ(ClientHelloError::kOk, parse(kTraceHello, &info));
  EXPECT_EQ(app_id_a0(), Bytes(info.app_id.begin(), info.app_id.end()));
  EXPECT_EQ(kTraceHello.data() + 60, info.app_id.data());  // PROTOCOL.md §6.4 offset 60
  EXPECT_FALSE(info.app_id_from_extension);
  EXPECT_FALSE(info.has_cookie);
  EXPECT_FALSE(info.random_all_zero);
  EXPECT_EQ(0xfeff, info.record_version);
  EXPECT_EQ(0xfefd, info.client_version);
  EXPECT_EQ(0, info.message_seq);
}

TEST(ClientHello, TheHelloAfterAHelloVerifyRequest) {
  // §6.6: the second hello keeps the session_id and adds the cookie; message_seq 1.
  Hello h;
  h.message_seq = 1;
  h.record_version = 0xfefd;
  h.cookie = Bytes(32, 0xc0);
  ClientHelloInfo info;
  const Bytes datagram = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram, &info));
  EXPECT_TRUE(info.has_cookie);
  EXPECT_EQ(1, info.message_seq);
  EXPECT_EQ(app_id_a0(), Bytes(info.app_id.begin(), info.app_id.end()));
  h.cookie = Bytes(255, 0xc1);  // the longest DTLS 1.2 cookie
  const Bytes datagram1 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram1, &info));
  EXPECT_TRUE(info.has_cookie);
}

TEST(ClientHello, AppIdExtensionWinsOverTheSessionId) {
  Hello h;
  const Bytes id = {1, 2, 3, 4, 5};
  Bytes exts = extension(0x0023, {});
  const Bytes app = app_id_extension(id);
  exts.insert(exts.end(), app.begin(), app.end());
  h.extensions = exts;
  ClientHelloInfo info;
  const Bytes datagram2 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram2, &info));
  EXPECT_EQ(id, Bytes(info.app_id.begin(), info.app_id.end()));
  EXPECT_TRUE(info.app_id_from_extension);
  // An empty session_id is fine when the extension carries the id (OpenSSL clients).
  h.session_id = {};
  const Bytes datagram3 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram3, &info));
  EXPECT_EQ(id, Bytes(info.app_id.begin(), info.app_id.end()));
  // The longest App-ID.
  h.extensions = app_id_extension(Bytes(32, 9));
  const Bytes datagram4 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram4, &info));
  EXPECT_EQ(32u, info.app_id.size());
}

TEST(ClientHello, SessionIdOfAnyLengthUpTo32) {
  for (size_t len = 1; len <= 32; len++) {
    Hello h;
    h.session_id = Bytes(len, static_cast<uint8_t>(len));
    ClientHelloInfo info;
    const Bytes datagram5 = h.build();
    ASSERT_EQ(ClientHelloError::kOk, parse(datagram5, &info)) << len;
    EXPECT_EQ(len, info.app_id.size());
  }
}

TEST(ClientHello, AllZeroRandomIsFlagged) {
  Hello h;
  h.random = Bytes(32, 0);
  ClientHelloInfo info;
  const Bytes datagram6 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram6, &info));
  EXPECT_TRUE(info.random_all_zero);
  h.random[31] = 1;
  const Bytes datagram7 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram7, &info));
  EXPECT_FALSE(info.random_all_zero);
}

TEST(ClientHello, Dtls12RecordAndClientVersion10) {
  Hello h;
  h.record_version = 0xfefd;
  h.client_version = 0xfeff;
  ClientHelloInfo info;
  const Bytes datagram8 = h.build();
  ASSERT_EQ(ClientHelloError::kOk, parse(datagram8, &info));
  EXPECT_EQ(0xfefd, info.record_version);
  EXPECT_EQ(0xfeff, info.client_version);
}

TEST(ClientHello, OnlyTheFirstRecordIsRead) {
  Bytes datagram = kTraceHello;
  datagram.insert(datagram.end(), {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  EXPECT_EQ(ClientHelloError::kOk, parse(datagram));
}

TEST(ClientHello, ErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(ClientHelloError::kCount); i++) {
    const std::string name = client_hello_error_name(static_cast<ClientHelloError>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_STREQ("ok", client_hello_error_name(ClientHelloError::kOk));
  EXPECT_STREQ("hello_unknown_error", client_hello_error_name(ClientHelloError::kCount));
}

}  // namespace
}  // namespace tg::dtls
