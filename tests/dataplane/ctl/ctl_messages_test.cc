// api/ctl_messages.h: every decode error first (a numbered table), then valid messages.
#include "api/ctl_messages.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

namespace tg::ctl {
namespace {

std::vector<uint8_t> bytes_of(const CtlMessage& m) {
  const auto b = ctl_message_bytes(m);
  return {b.begin(), b.end()};
}

CtlMessage request(CtlType type) {
  CtlMessage m;
  ctl_message_init(m, type);
  m.header.request_id = 7;
  m.header.worker_id = 3;
  if (type == CtlType::auth_cert) m.payload.auth_cert.cert_len = 100;
  if (type == CtlType::auth_token) m.payload.auth_token.token_len = 100;
  return m;
}

CtlMessage response(CtlType type) {
  CtlMessage m = request(type);
  if (ctl_type_is_notice(type)) m.header.request_id = 0;
  return m;
}

struct DecodeCase {
  int number;
  const char* what;
  CtlDirection direction;
  std::function<std::vector<uint8_t>()> make;
  CtlDecodeError expected;
};

std::vector<uint8_t> mutated(CtlType type, const std::function<void(CtlMessage&)>& edit) {
  CtlMessage m = (static_cast<uint16_t>(type) & kCtlResponseBit) ? response(type) : request(type);
  edit(m);
  return bytes_of(m);
}

using E = CtlDecodeError;
using T = CtlType;
constexpr auto kReq = CtlDirection::to_control_plane;
constexpr auto kResp = CtlDirection::to_worker;

const std::vector<DecodeCase>& cases() {
  static const std::vector<DecodeCase> k = {
      {1, "empty input", kReq, [] { return std::vector<uint8_t>{}; }, E::truncated_header},
      {2, "31 bytes", kReq, [] { return std::vector<uint8_t>(31, 0); }, E::truncated_header},
      {3, "all zero header", kReq, [] { return std::vector<uint8_t>(32, 0); }, E::bad_magic},
      {4, "magic byte-swapped", kReq,
       [] { return mutated(T::ping, [](CtlMessage& m) { m.header.magic = __builtin_bswap32(kCtlMagic); }); },
       E::bad_magic},
      {5, "version 0", kReq, [] { return mutated(T::ping, [](CtlMessage& m) { m.header.version = 0; }); },
       E::bad_version},
      {6, "version 1 (before tokens)", kReq, [] { return mutated(T::ping, [](CtlMessage& m) { m.header.version = 1; }); },
       E::bad_version},
      {7, "type 0", kReq, [] { return mutated(T::ping, [](CtlMessage& m) { m.header.type = 0; }); },
       E::unknown_type},
      {8, "type 8 (after session_resync)", kReq, [] { return mutated(T::ping, [](CtlMessage& m) { m.header.type = 8; }); },
       E::unknown_type},
      {9, "type 0xffff", kResp, [] { return mutated(T::pong, [](CtlMessage& m) { m.header.type = 0xffff; }); },
       E::unknown_type},
      {10, "response on the request ring", kReq, [] { return mutated(T::pong, [](CtlMessage&) {}); },
       E::wrong_direction},
      {11, "request on the response ring", kResp, [] { return mutated(T::ping, [](CtlMessage&) {}); },
       E::wrong_direction},
      {12, "payload_len one short", kReq,
       [] { return mutated(T::session_open, [](CtlMessage& m) { m.header.payload_len -= 1; }); },
       E::bad_payload_length},
      {13, "payload_len of another type", kReq,
       [] {
         return mutated(T::auth_password, [](CtlMessage& m) {
           m.header.payload_len = sizeof(AuthCertPayload);
         });
       },
       E::bad_payload_length},
      {14, "payload_len 0xffffffff", kReq,
       [] { return mutated(T::ping, [](CtlMessage& m) { m.header.payload_len = 0xffffffffu; }); },
       E::bad_payload_length},
      {15, "payload cut short", kReq,
       [] {
         auto b = mutated(T::session_close, [](CtlMessage&) {});
         b.pop_back();
         return b;
       },
       E::truncated_payload},
      {16, "header only", kReq,
       [] {
         auto b = mutated(T::auth_password, [](CtlMessage&) {});
         b.resize(sizeof(CtlHeader));
         return b;
       },
       E::truncated_payload},
      {17, "one trailing byte", kReq,
       [] {
         auto b = mutated(T::ping, [](CtlMessage&) {});
         b.push_back(0);
         return b;
       },
       E::trailing_bytes},
      {18, "request id 0 in a request", kReq,
       [] { return mutated(T::ping, [](CtlMessage& m) { m.header.request_id = 0; }); },
       E::bad_request_id},
      {19, "request id 0 in an answer", kResp,
       [] { return mutated(T::auth_result, [](CtlMessage& m) { m.header.request_id = 0; }); },
       E::bad_request_id},
      {20, "request id in a notice", kResp,
       [] { return mutated(T::session_terminate, [](CtlMessage& m) { m.header.request_id = 5; }); },
       E::bad_request_id},
      {21, "worker id 16", kReq,
       [] { return mutated(T::ping, [](CtlMessage& m) { m.header.worker_id = kCtlMaxWorkers; }); },
       E::bad_worker_id},
      {22, "user without NUL", kReq,
       [] {
         return mutated(T::auth_password, [](CtlMessage& m) {
           std::memset(m.payload.auth_password.user, 'a', kCtlNameSize);
         });
       },
       E::unterminated_string},
      {23, "password without NUL", kReq,
       [] {
         return mutated(T::auth_password, [](CtlMessage& m) {
           std::memset(m.payload.auth_password.password, 'p', kCtlPasswordSize);
         });
       },
       E::unterminated_string},
      {24, "group without NUL (cert)", kReq,
       [] {
         return mutated(T::auth_cert, [](CtlMessage& m) {
           std::memset(m.payload.auth_cert.group, 'g', kCtlNameSize);
         });
       },
       E::unterminated_string},
      {25, "cookie without NUL", kReq,
       [] {
         return mutated(T::session_open, [](CtlMessage& m) {
           std::memset(m.payload.session_open.cookie, 'c', kCtlCookieSize);
         });
       },
       E::unterminated_string},
      {26, "app without NUL (auth_result)", kResp,
       [] {
         return mutated(T::auth_result, [](CtlMessage& m) {
           std::memset(m.payload.auth_result.app, 'x', kCtlNameSize);
         });
       },
       E::unterminated_string},
      {27, "search domain without NUL", kResp,
       [] {
         return mutated(T::session_params, [](CtlMessage& m) {
           std::memset(m.payload.session_params.search_domain, 'd', kCtlDomainSize);
         });
       },
       E::unterminated_string},
      {28, "terminate text without NUL", kResp,
       [] {
         return mutated(T::session_terminate, [](CtlMessage& m) {
           std::memset(m.payload.session_terminate.reason_text, 't', kCtlReasonSize);
         });
       },
       E::unterminated_string},
      {29, "error text without NUL", kResp,
       [] {
         return mutated(T::error, [](CtlMessage& m) {
           std::memset(m.payload.error.reason_text, 'e', kCtlReasonSize);
         });
       },
       E::unterminated_string},
      {30, "result 4", kResp,
       [] { return mutated(T::auth_result, [](CtlMessage& m) { m.payload.auth_result.result = 4; }); },
       E::bad_enum},
      {31, "reason past the table", kResp,
       [] {
         return mutated(T::session_params,
                        [](CtlMessage& m) { m.payload.session_params.reason = kCtlReasonCount; });
       },
       E::bad_enum},
      {32, "close reason 8", kReq,
       [] { return mutated(T::session_close, [](CtlMessage& m) { m.payload.session_close.reason = 8; }); },
       E::bad_enum},
      {33, "ack result 0xff", kResp,
       [] {
         return mutated(T::session_close_ack,
                        [](CtlMessage& m) { m.payload.session_close_ack.result = 0xff; });
       },
       E::bad_enum},
      {34, "terminate reason 0xff", kResp,
       [] {
         return mutated(T::session_terminate,
                        [](CtlMessage& m) { m.payload.session_terminate.reason = 0xff; });
       },
       E::bad_enum},
      {35, "error decode_error past the table", kResp,
       [] { return mutated(T::error, [](CtlMessage& m) { m.payload.error.decode_error = kCtlDecodeErrorCount; }); },
       E::bad_enum},
      {36, "address family 5", kReq,
       [] { return mutated(T::auth_password, [](CtlMessage& m) { m.payload.auth_password.client.family = 5; }); },
       E::bad_address_family},
      {37, "address family 2 (cert)", kReq,
       [] { return mutated(T::auth_cert, [](CtlMessage& m) { m.payload.auth_cert.client.family = 2; }); },
       E::bad_address_family},
      {38, "address family 0xff (open)", kReq,
       [] { return mutated(T::session_open, [](CtlMessage& m) { m.payload.session_open.client.family = 0xff; }); },
       E::bad_address_family},
      {39, "cert_len 0", kReq,
       [] { return mutated(T::auth_cert, [](CtlMessage& m) { m.payload.auth_cert.cert_len = 0; }); },
       E::count_out_of_range},
      {40, "cert_len over the bound", kReq,
       [] {
         return mutated(T::auth_cert,
                        [](CtlMessage& m) { m.payload.auth_cert.cert_len = kCtlMaxCertDer + 1; });
       },
       E::count_out_of_range},
      {41, "chain_len over the bound", kReq,
       [] {
         return mutated(T::auth_cert,
                        [](CtlMessage& m) { m.payload.auth_cert.chain_len = kCtlMaxChainDer + 1; });
       },
       E::count_out_of_range},
      {42, "65 routes", kResp,
       [] {
         return mutated(T::session_params,
                        [](CtlMessage& m) { m.payload.session_params.n_routes = kCtlMaxRoutes + 1; });
       },
       E::count_out_of_range},
      {43, "5 DNS servers", kResp,
       [] {
         return mutated(T::session_params,
                        [](CtlMessage& m) { m.payload.session_params.n_dns = kCtlMaxDns + 1; });
       },
       E::count_out_of_range},
      {44, "route /33", kResp,
       [] {
         return mutated(T::session_params, [](CtlMessage& m) {
           m.payload.session_params.n_routes = 2;
           m.payload.session_params.routes[1].prefix_len = 33;
         });
       },
       E::count_out_of_range},
      {45, "token_len 0", kReq,
       [] { return mutated(T::auth_token, [](CtlMessage& m) { m.payload.auth_token.token_len = 0; }); },
       E::count_out_of_range},
      {46, "token_len over the bound", kReq,
       [] {
         return mutated(T::auth_token,
                        [](CtlMessage& m) { m.payload.auth_token.token_len = kCtlMaxToken + 1; });
       },
       E::count_out_of_range},
      {47, "token group without NUL", kReq,
       [] {
         return mutated(T::auth_token,
                        [](CtlMessage& m) { std::memset(m.payload.auth_token.group, 'g', kCtlNameSize); });
       },
       E::unterminated_string},
      {48, "token address family 3", kReq,
       [] { return mutated(T::auth_token, [](CtlMessage& m) { m.payload.auth_token.client.family = 3; }); },
       E::bad_address_family},
      {49, "config_reload with a request id", kResp,
       [] { return mutated(T::config_reload, [](CtlMessage& m) { m.header.request_id = 7; }); },
       E::bad_request_id},
      {50, "version 2 (before resync)", kReq,
       [] { return mutated(T::session_resync, [](CtlMessage& m) { m.header.version = 2; }); },
       E::bad_version},
      {51, "resync payload_len of session_open", kReq,
       [] {
         return mutated(T::session_resync,
                        [](CtlMessage& m) { m.header.payload_len = sizeof(SessionOpenPayload); });
       },
       E::bad_payload_length},
      {52, "resync cookie without NUL", kReq,
       [] {
         return mutated(T::session_resync,
                        [](CtlMessage& m) { std::memset(m.payload.session_resync.cookie, 'c', kCtlCookieSize); });
       },
       E::unterminated_string},
      {53, "resync app without NUL", kReq,
       [] {
         return mutated(T::session_resync,
                        [](CtlMessage& m) { std::memset(m.payload.session_resync.app, 'a', kCtlNameSize); });
       },
       E::unterminated_string},
      {54, "resync user without NUL", kReq,
       [] {
         return mutated(T::session_resync,
                        [](CtlMessage& m) { std::memset(m.payload.session_resync.user, 'u', kCtlNameSize); });
       },
       E::unterminated_string},
      {55, "resync flags with an unknown bit", kReq,
       [] { return mutated(T::session_resync, [](CtlMessage& m) { m.payload.session_resync.flags = 0x03; }); },
       E::bad_enum},
      {56, "resync client family 9", kReq,
       [] { return mutated(T::session_resync, [](CtlMessage& m) { m.payload.session_resync.client.family = 9; }); },
       E::bad_address_family},
      {57, "resync without a request id", kReq,
       [] { return mutated(T::session_resync, [](CtlMessage& m) { m.header.request_id = 0; }); },
       E::bad_request_id},
      {58, "resync on the response ring", kResp, [] { return mutated(T::session_resync, [](CtlMessage&) {}); },
       E::wrong_direction},
      {59, "resync ack result 9", kResp,
       [] { return mutated(T::session_resync_ack, [](CtlMessage& m) { m.payload.session_resync_ack.result = 9; }); },
       E::bad_enum},
      {60, "resync ack reason past the table", kResp,
       [] {
         return mutated(T::session_resync_ack,
                        [](CtlMessage& m) { m.payload.session_resync_ack.reason = kCtlReasonCount; });
       },
       E::bad_enum},
      {61, "resync ack text without NUL", kResp,
       [] {
         return mutated(T::session_resync_ack, [](CtlMessage& m) {
           std::memset(m.payload.session_resync_ack.reason_text, 'r', kCtlReasonSize);
         });
       },
       E::unterminated_string},
      {62, "resync ack cut short", kResp,
       [] {
         auto b = mutated(T::session_resync_ack, [](CtlMessage&) {});
         b.pop_back();
         return b;
       },
       E::truncated_payload},
  };
  return k;
}

TEST(CtlDecode, EveryErrorOfTheTable) {
  std::vector<bool> seen(kCtlDecodeErrorCount, false);
  int expected_number = 1;
  for (const DecodeCase& c : cases()) {
    SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
    EXPECT_EQ(c.number, expected_number++);
    const std::vector<uint8_t> b = c.make();
    CtlMessage out;
    const CtlDecodeError got = ctl_decode(b, c.direction, out);
    EXPECT_EQ(ctl_decode_error_name(got), std::string(ctl_decode_error_name(c.expected)));
    seen[static_cast<size_t>(got)] = true;
  }
  for (uint16_t e = 1; e < kCtlDecodeErrorCount; ++e) {
    EXPECT_TRUE(seen[e]) << "no case for " << ctl_decode_error_name(static_cast<CtlDecodeError>(e));
  }
}

TEST(CtlDecode, RouteBeyondCountIsNotChecked) {
  // Only the first n_routes entries are meaningful; garbage after them is not an error.
  CtlMessage m = response(T::session_params);
  m.payload.session_params.n_routes = 1;
  m.payload.session_params.routes[5].prefix_len = 200;
  CtlMessage out;
  EXPECT_EQ(ctl_decode(bytes_of(m), kResp, out), E::ok);
}

TEST(CtlDecode, EveryTypeRoundTrips) {
  for (uint16_t t = 0; t < 0x100; ++t) {
    if (!ctl_type_is_known(t)) continue;
    const auto type = static_cast<CtlType>(t);
    SCOPED_TRACE(ctl_type_name(type));
    const bool is_request = ctl_type_direction(type) == CtlDirection::to_control_plane;
    CtlMessage m = is_request ? request(type) : response(type);
    m.header.session_id = 0x1122334455667788ull;
    const auto b = bytes_of(m);
    EXPECT_EQ(b.size(), sizeof(CtlHeader) + ctl_payload_size(type));
    CtlMessage out;
    ASSERT_EQ(ctl_decode(b, is_request ? kReq : kResp, out), E::ok);
    EXPECT_EQ(std::memcmp(&out, &m, b.size()), 0);
    EXPECT_NE(std::string(ctl_type_name(type)), "unknown");
  }
}

TEST(CtlDecode, AppendedReasonsDecode) {
  // A worker built from this tree decodes the newest reasons (source_rate_limited: the
  // per-source login limit; also in the fuzz corpus), and nothing past the table.
  CtlMessage out;
  const auto last = mutated(T::auth_result, [](CtlMessage& m) {
    m.payload.auth_result.result = static_cast<uint8_t>(CtlResult::denied);
    m.payload.auth_result.reason = static_cast<uint16_t>(CtlReason::source_rate_limited);
  });
  EXPECT_EQ(ctl_decode(last, kResp, out), E::ok);
  EXPECT_EQ(std::string(ctl_reason_name(CtlReason::source_rate_limited)), "source_rate_limited");
  const auto past = mutated(T::auth_result, [](CtlMessage& m) { m.payload.auth_result.reason = kCtlReasonCount; });
  EXPECT_EQ(ctl_decode(past, kResp, out), E::bad_enum);
}

TEST(CtlDecode, AnswerTypes) {
  EXPECT_EQ(ctl_answer_type(T::auth_password), T::auth_result);
  EXPECT_EQ(ctl_answer_type(T::auth_cert), T::auth_result);
  EXPECT_EQ(ctl_answer_type(T::auth_token), T::auth_result);
  EXPECT_EQ(ctl_answer_type(T::session_open), T::session_params);
  EXPECT_EQ(ctl_answer_type(T::session_close), T::session_close_ack);
  EXPECT_EQ(ctl_answer_type(T::ping), T::pong);
  EXPECT_EQ(ctl_answer_type(T::session_resync), T::session_resync_ack);
  EXPECT_FALSE(ctl_type_is_notice(T::session_resync));
  EXPECT_FALSE(ctl_type_is_notice(T::session_resync_ack));
}

TEST(CtlStrings, SetAndGet) {
  char field[8];
  EXPECT_TRUE(ctl_set_string(field, "abcdefg"));
  EXPECT_EQ(ctl_get_string(field), "abcdefg");
  EXPECT_FALSE(ctl_set_string(field, "abcdefgh"));  // no room for the NUL
  EXPECT_EQ(ctl_get_string(field), "");
  EXPECT_FALSE(ctl_set_string(field, std::string_view("a\0b", 3)));
  EXPECT_EQ(ctl_get_string(field), "");
  EXPECT_TRUE(ctl_set_string(field, ""));
  EXPECT_EQ(ctl_get_string(field), "");
}

TEST(CtlNames, TablesAreComplete) {
  for (uint16_t r = 0; r < kCtlReasonCount; ++r) {
    EXPECT_NE(std::string(ctl_reason_name(static_cast<CtlReason>(r))), "unknown");
  }
  EXPECT_EQ(std::string(ctl_reason_name(CtlReason::count)), "unknown");
  EXPECT_EQ(std::string(ctl_result_name(CtlResult::try_again)), "try_again");
  EXPECT_EQ(std::string(ctl_result_name(static_cast<CtlResult>(9))), "unknown");
}

}  // namespace
}  // namespace tg::ctl
