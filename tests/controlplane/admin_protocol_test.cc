// The admin socket's request parser and answer lines (controlplane/admin_protocol.h):
// every well-formed request, and one case per kind of malformed input.
#include <gtest/gtest.h>

#include <string>

#include "controlplane/admin_protocol.h"

namespace tg::controlplane {
namespace {

TEST(AdminProtocol, WellFormedRequests) {
  auto s = admin_parse_request("{\"command\":\"status\"}\n");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->command, AdminCommand::status);

  auto l = admin_parse_request(R"({"command":"sessions","user":"alice@example.com"})");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->command, AdminCommand::sessions);
  EXPECT_EQ(l->user, "alice@example.com");

  auto d = admin_parse_request(R"( { "id" : "5F0C1A2B00000001", "command" : "disconnect" } )");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->command, AdminCommand::disconnect);
  EXPECT_EQ(d->id, 0x5f0c1a2b00000001u);
  EXPECT_FALSE(d->user);

  auto du = admin_parse_request(R"({"command":"disconnect","user":"bob"})");
  ASSERT_TRUE(du);
  EXPECT_EQ(du->user, "bob");

  auto da = admin_parse_request(R"({"command":"disconnect","app":"com.example.mail"})");
  ASSERT_TRUE(da);
  EXPECT_EQ(da->app, "com.example.mail");
  EXPECT_FALSE(da->user);
  auto sa = admin_parse_request(R"({"command":"sessions","app":"com.example.crm","user":"bob"})");
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->app, "com.example.crm");
  EXPECT_EQ(sa->user, "bob");

  auto r = admin_parse_request(R"({"command":"reload"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, AdminCommand::reload);

  auto ce = admin_parse_request(R"({"command":"certs"})");
  ASSERT_TRUE(ce);
  EXPECT_EQ(ce->command, AdminCommand::certs);
  EXPECT_FALSE(admin_parse_request(R"({"command":"certs","app":"a"})")) << "certs takes no filter";

  auto st = admin_parse_request(R"({"command":"stats"})");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->command, AdminCommand::stats);
  EXPECT_FALSE(admin_parse_request(R"({"command":"stats","user":"alice"})")) << "stats takes no user";
}

TEST(AdminProtocol, MalformedRequestsAreErrorsNamingTheProblem) {
  const struct {
    std::string line;
    std::string part;
  } cases[] = {
      {"", "not JSON"},
      {"\n", "not JSON"},
      {"status", "not JSON"},
      {"{\"command\":\"status\"", "not JSON"},
      {"{\"command\":\"status\"}{}", "not JSON"},
      {"{\"command\":\"st\xff\"}", "not JSON"},  // invalid UTF-8
      {std::string("{\"command\":\"status\"}\0", 21), "not JSON"},
      {"[\"status\"]", "not a JSON object"},
      {"42", "not a JSON object"},
      {"{}", "no \"command\""},
      {"{\"command\":7}", "no \"command\""},
      {"{\"command\":\"shutdown\"}", "unknown command 'shutdown'"},
      {"{\"command\":\"status\",\"user\":\"a\"}", "unknown field 'user'"},
      {"{\"command\":\"sessions\",\"id\":\"1\"}", "unknown field 'id'"},
      {"{\"command\":\"sessions\",\"user\":5}", "\"user\" is not a user name"},
      {"{\"command\":\"sessions\",\"user\":\"\"}", "\"user\" is not a user name"},
      {"{\"command\":\"sessions\",\"user\":\"a\\nb\"}", "\"user\" is not a user name"},
      {"{\"command\":\"disconnect\"}", "exactly one of"},
      {"{\"command\":\"disconnect\",\"id\":\"1\",\"user\":\"a\"}", "exactly one of"},
      {"{\"command\":\"disconnect\",\"user\":\"a\",\"app\":\"b\"}", "exactly one of"},
      {"{\"command\":\"disconnect\",\"app\":\"\"}", "\"app\" is not an app id"},
      {"{\"command\":\"sessions\",\"app\":\"a b\"}", "\"app\" is not an app id"},
      {"{\"command\":\"sessions\",\"app\":7}", "\"app\" is not an app id"},
      {"{\"command\":\"sessions\",\"app\":\"" + std::string(256, 'a') + "\"}", "\"app\" is not an app id"},
      {"{\"command\":\"stats\",\"app\":\"a\"}", "unknown field 'app'"},
      {"{\"command\":\"disconnect\",\"id\":1}", "not a session id"},
      {"{\"command\":\"disconnect\",\"id\":\"\"}", "not a session id"},
      {"{\"command\":\"disconnect\",\"id\":\"12345678901234567\"}", "not a session id"},
      {"{\"command\":\"disconnect\",\"id\":\"-1\"}", "not a session id"},
      {std::string(5000, ' ') + "{\"command\":\"status\"}", "longer than 4095"},
      {std::string(2000, '[') + std::string(2000, ']'), "not a JSON object"},
  };
  for (const auto& c : cases) {
    const auto r = admin_parse_request(c.line);
    ASSERT_FALSE(r) << "accepted: " << c.line.substr(0, 80) << " (" << c.line.size() << " bytes)";
    EXPECT_NE(r.error().message.find(c.part), std::string::npos)
        << "line: " << c.line.substr(0, 80) << "\nmessage: " << r.error().message;
    // The answer to it is one valid JSON line.
    const std::string answer = admin_error_line(kAdminErrorBadRequest, r.error().message);
    ASSERT_EQ(answer.back(), '\n');
    const auto j = nlohmann::json::parse(answer, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << answer;
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"], "bad_request");
  }
}

TEST(AdminProtocol, SessionIdText) {
  EXPECT_EQ(admin_session_id_text(0x5f0c1a2b00000001u), "5f0c1a2b00000001");
  EXPECT_EQ(admin_session_id_text(1), "0000000000000001");
  EXPECT_EQ(admin_session_id_parse("ffffffffffffffff"), UINT64_MAX);
  EXPECT_EQ(admin_session_id_parse("1"), 1u);
  EXPECT_FALSE(admin_session_id_parse("0x1"));
  EXPECT_FALSE(admin_session_id_parse(""));
}

TEST(AdminProtocol, AnswersWithInvalidUtf8AreStillJson) {
  const std::string answer = admin_error_line("failed", "users:3: bad name '\xc3\x28'");
  EXPECT_FALSE(nlohmann::json::parse(answer, nullptr, false).is_discarded()) << answer;
}

}  // namespace
}  // namespace tg::controlplane
