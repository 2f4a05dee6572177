// config-auth XML: hostile and malformed bodies first, then the real client bodies and the
// server bodies compared byte-for-byte with ocserv's.
#include "dataplane/tunnel/auth_xml.h"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <string>

#include "tests/dataplane/tunnel/test_data.h"

namespace tg::tunnel {
namespace {

using test::body_of;
using test::read_data_file;

constexpr std::string_view kXmlDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

std::string doc(std::string_view inner, std::string_view type = "auth-reply") {
  return std::string(kXmlDecl) + "<config-auth client=\"vpn\" type=\"" + std::string(type) +
         "\">" + std::string(inner) + "</config-auth>\n";
}

AuthXmlError error_of(std::string_view body) { return auth_xml_parse_client(body).error; }

TEST(AuthXmlMalformed, SizeEmptyAndNul) {
  EXPECT_EQ(error_of(""), AuthXmlError::kEmpty);
  EXPECT_EQ(error_of(std::string(kMaxAuthXmlBytes + 1, ' ')), AuthXmlError::kTooLarge);
  EXPECT_EQ(auth_xml_parse_client(doc("<auth/>"), 10).error, AuthXmlError::kTooLarge);
  EXPECT_EQ(error_of(std::string("<config-auth type=\"init\">\0</config-auth>", 40)),
            AuthXmlError::kForbiddenContent);
}

TEST(AuthXmlMalformed, DtdEntitiesAndBillionLaughsNeverReachTheTree) {
  const std::string billion_laughs =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n]>\n"
      "<config-auth type=\"auth-reply\"><auth><username>&lol4;</username></auth></config-auth>";
  EXPECT_EQ(error_of(billion_laughs), AuthXmlError::kForbiddenContent);
  const std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE c [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
      "<config-auth type=\"auth-reply\"><auth><username>&x;</username></auth></config-auth>";
  EXPECT_EQ(error_of(xxe), AuthXmlError::kForbiddenContent);
  EXPECT_EQ(error_of("<!DOCTYPE config-auth SYSTEM \"http://example.invalid/x.dtd\"><config-auth "
                     "type=\"init\"/>"),
            AuthXmlError::kForbiddenContent);
  EXPECT_EQ(error_of("<config-auth type=\"init\"><!ELEMENT x ANY></config-auth>"),
            AuthXmlError::kForbiddenContent);
  // No DTD: an undefined entity is a well-formedness error.
  EXPECT_EQ(error_of(doc("<auth><username>&x;</username></auth>")), AuthXmlError::kMalformed);
}

TEST(AuthXmlMalformed, DeepNestingIsBoundedByLibxml2) {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "<a>";
  for (int i = 0; i < 1000; ++i) deep += "</a>";
  EXPECT_EQ(error_of(doc(deep, "init")), AuthXmlError::kMalformed);
  // Moderate nesting of unknown elements is ignored.
  std::string nested;
  for (int i = 0; i < 100; ++i) nested += "<a>";
  for (int i = 0; i < 100; ++i) nested += "</a>";
  EXPECT_TRUE(auth_xml_parse_client(doc(nested, "init")).ok());
}

TEST(AuthXmlMalformed, EncodingIsForcedToUtf8) {
  EXPECT_EQ(error_of(doc("<auth><username>\xff\xfe</username></auth>")), AuthXmlError::kMalformed);
  EXPECT_EQ(error_of(doc("<auth><username>\xc3</username></auth>")), AuthXmlError::kMalformed);
  // A Latin-1 declaration does not change the decoding: 0xe9 alone is invalid UTF-8.
  EXPECT_EQ(error_of("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><config-auth "
                     "type=\"auth-reply\"><auth><username>caf\xe9</username></auth></config-auth>"),
            AuthXmlError::kMalformed);
  // UTF-16 carries NUL bytes.
  const std::string utf16("\xff\xfe<\0c\0/\0>\0", 10);
  EXPECT_EQ(error_of(utf16), AuthXmlError::kForbiddenContent);
  // Valid UTF-8 passes through.
  const AuthXmlParseResult ok = auth_xml_parse_client(doc("<auth><username>caf\xc3\xa9</username></auth>"));
  ASSERT_TRUE(ok.ok()) << ok.message;
  EXPECT_EQ(ok.content.username, "caf\xc3\xa9");
}

TEST(AuthXmlMalformed, StructureErrors) {
  EXPECT_EQ(error_of("hello"), AuthXmlError::kMalformed);
  EXPECT_EQ(error_of("<config-auth type=\"init\">"), AuthXmlError::kMalformed);
  EXPECT_EQ(error_of("<config-auth type=\"init\"></config-auth><x/>"), AuthXmlError::kMalformed);
  EXPECT_EQ(error_of("<foo type=\"init\"/>"), AuthXmlError::kWrongRoot);
  EXPECT_EQ(error_of("<auth><username>a</username></auth>"), AuthXmlError::kWrongRoot);
  EXPECT_EQ(error_of("<config-auth client=\"vpn\"/>"), AuthXmlError::kBadType);
  EXPECT_EQ(error_of("<config-auth type=\"complete\"/>"), AuthXmlError::kBadType);
  EXPECT_EQ(error_of("<config-auth type=\"INIT\"/>"), AuthXmlError::kBadType);
  EXPECT_EQ(error_of(doc("<version>v</version>")), AuthXmlError::kMissingElement);
  EXPECT_EQ(error_of(doc("<auth><username>a</username><username>b</username></auth>")),
            AuthXmlError::kDuplicateElement);
  EXPECT_EQ(error_of(doc("<auth/><auth/>")), AuthXmlError::kDuplicateElement);
  EXPECT_EQ(error_of(doc("<auth/><group-select>a</group-select><group-select>b</group-select>")),
            AuthXmlError::kDuplicateElement);
  EXPECT_EQ(error_of(doc("<auth><password>" + std::string(kMaxAuthFieldBytes + 1, 'p') +
                         "</password></auth>")),
            AuthXmlError::kFieldTooLong);
  // Exactly at the limit is fine.
  EXPECT_TRUE(auth_xml_parse_client(doc("<auth><password>" + std::string(kMaxAuthFieldBytes, 'p') +
                                        "</password></auth>"))
                  .ok());
}

TEST(AuthXmlMalformed, EveryTruncationOfARealBodyFailsCleanly) {
  const std::string body = body_of(read_data_file("pw_post_username.http"));
  const size_t root_end = body.rfind("</config-auth>") + std::strlen("</config-auth>");
  for (size_t len = 0; len < root_end; ++len) {
    const AuthXmlParseResult r = auth_xml_parse_client(std::string_view(body).substr(0, len));
    ASSERT_FALSE(r.ok()) << "prefix " << len;
    ASSERT_FALSE(auth_xml_error_name(r.error).empty());
  }
  EXPECT_TRUE(auth_xml_parse_client(body).ok());
}

TEST(AuthXml, TextDecodingAndIgnoredMarkup) {
  const AuthXmlParseResult r = auth_xml_parse_client(doc(
      "<unknown><username>evil</username></unknown>"
      "<auth><username>a&amp;b&lt;&#x41;</username><password><![CDATA[p<w]]></password>"
      "<secondary_password>otp</secondary_password><extra>x</extra></auth>"
      "<opaque is-for=\"sg\"><tunnel-group>t</tunnel-group></opaque>"));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.username, "a&b<A");
  EXPECT_EQ(r.content.password, "p<w");
  EXPECT_EQ(r.content.secondary_password, "otp");
  // Markup inside a value is not flattened into it.
  const AuthXmlParseResult nested =
      auth_xml_parse_client(doc("<auth><username>a<b>x</b>c</username></auth>"));
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested.content.username, "ac");
  // Present-but-empty differs from absent.
  const AuthXmlParseResult empty = auth_xml_parse_client(doc("<auth><password/></auth>"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.content.password, "");
  EXPECT_FALSE(empty.content.username.has_value());
}

TEST(AuthXml, LogoutAndClientCertFail) {
  AuthXmlParseResult r = auth_xml_parse_client(doc("", "logout"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.content.type, AuthMessageType::kLogout);
  r = auth_xml_parse_client(doc("<client-cert-fail/>", "init"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.content.client_cert_fail);
}

// ---------------------------------------------------------------------------------------
// The real client bodies

TEST(AuthXmlReal, InitRequest) {
  const AuthXmlParseResult r = auth_xml_parse_client(body_of(read_data_file("pw_post_init.http")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.type, AuthMessageType::kInit);
  EXPECT_EQ(r.content.client_version, "v9.01-3");
  EXPECT_EQ(r.content.device_id, "linux-64");
  EXPECT_EQ(r.content.group_access, "https://192.0.2.1/");
  EXPECT_FALSE(r.content.group_select.has_value());
  EXPECT_FALSE(r.content.username.has_value());
  EXPECT_FALSE(r.content.client_cert_fail);
  const std::vector<std::string> methods = {"single-sign-on-v2", "single-sign-on-external-browser"};
  EXPECT_EQ(r.content.auth_methods, methods);
}

TEST(AuthXmlReal, InitWithGroupSelect) {
  const AuthXmlParseResult r =
      auth_xml_parse_client(body_of(read_data_file("group_post_init_select.http")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.type, AuthMessageType::kInit);
  EXPECT_EQ(r.content.group_access, "https://192.0.2.1/auth");
  EXPECT_EQ(r.content.group_select, "grpB");
}

TEST(AuthXmlReal, AuthReplies) {
  AuthXmlParseResult r = auth_xml_parse_client(body_of(read_data_file("pw_post_username.http")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.type, AuthMessageType::kAuthReply);
  EXPECT_EQ(r.content.username, "alice");
  EXPECT_FALSE(r.content.password.has_value());

  r = auth_xml_parse_client(body_of(read_data_file("pw_post_password.http")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.password, "PASSWORD-01");
  EXPECT_FALSE(r.content.username.has_value());

  r = auth_xml_parse_client(body_of(read_data_file("group_post_username.http")));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.content.username, "alice");
  EXPECT_EQ(r.content.group_select, "grpB");
}

// ---------------------------------------------------------------------------------------
// Server bodies

/// What openconnect reads from a server body (auth.c parse_xml_response): the <auth id>,
/// whether there is a form with inputs, and <message>/<error>.
struct ClientView {
  bool well_formed = false;
  std::string auth_id;
  int inputs = 0;
  std::string message;
  std::string error;
};

std::string text_of(xmlNode* node) {
  xmlChar* content = xmlNodeGetContent(node);
  std::string out = content ? reinterpret_cast<const char*>(content) : "";
  xmlFree(content);
  return out;
}

ClientView client_view(const std::string& body) {
  ClientView view;
  xmlDoc* parsed = xmlReadMemory(body.data(), static_cast<int>(body.size()), nullptr, nullptr,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (parsed == nullptr) return view;
  view.well_formed = true;
  for (xmlNode* n = xmlDocGetRootElement(parsed)->children; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE || std::strcmp(reinterpret_cast<const char*>(n->name), "auth")) continue;
    xmlChar* id = xmlGetProp(n, reinterpret_cast<const xmlChar*>("id"));
    view.auth_id = id ? reinterpret_cast<const char*>(id) : "";
    xmlFree(id);
    for (xmlNode* c = n->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      const std::string name = reinterpret_cast<const char*>(c->name);
      if (name == "message") view.message = text_of(c);
      if (name == "error") view.error = text_of(c);
      if (name == "form") {
        for (xmlNode* i = c->children; i; i = i->next) {
          if (i->type == XML_ELEMENT_NODE) ++view.inputs;
        }
      }
    }
  }
  xmlFreeDoc(parsed);
  return view;
}

TEST(AuthXmlBuild, FormsMatchOcservByteForByte) {
  EXPECT_EQ(auth_xml_build_username_form(), read_data_file("ocserv_username_form.xml"));
  EXPECT_EQ(auth_xml_build_password_form(), read_data_file("ocserv_password_form.xml"));
  EXPECT_EQ(auth_xml_build_password_form("Login failed.\nPlease enter your password."),
            read_data_file("ocserv_login_failed_form.xml"));
  EXPECT_EQ(auth_xml_build_complete(), read_data_file("ocserv_complete.xml"));
}

TEST(AuthXmlBuild, GroupFormsMatchOcservWithChosenGroupFirst) {
  // ocserv writes the default group as <option>DEFAULT</option>; we always write value=,
  // which the client reads the same way (the value is what it posts).
  auto ours = [](std::string text) {
    const std::string from = "<option>DEFAULT</option>";
    text.replace(text.find(from), from.size(), "<option value=\"DEFAULT\">DEFAULT</option>");
    return text;
  };
  const AuthGroupOption groups[] = {{"DEFAULT", ""}, {"grpA", "Group A"}, {"grpB", ""}};
  EXPECT_EQ(auth_xml_build_username_form(groups), ours(read_data_file("ocserv_group_form.xml")));
  EXPECT_EQ(auth_xml_build_username_form(groups, "grpB"),
            ours(read_data_file("ocserv_group_form_grpB_first.xml")));
  // An unknown selection keeps the configured order.
  EXPECT_EQ(auth_xml_build_username_form(groups, "nope"), auth_xml_build_username_form(groups));
}

TEST(AuthXmlBuild, WhatTheClientSees) {
  ClientView view = client_view(auth_xml_build_username_form());
  ASSERT_TRUE(view.well_formed);
  EXPECT_EQ(view.auth_id, "main");
  EXPECT_EQ(view.inputs, 1);

  view = client_view(auth_xml_build_complete());
  ASSERT_TRUE(view.well_formed);
  EXPECT_EQ(view.auth_id, "success");

  // Failure: an <auth> without form inputs and id != success stops the login, after
  // printing <error> (auth.c handle_auth_form).
  view = client_view(auth_xml_build_failure("Account locked <ask IT> & retry"));
  ASSERT_TRUE(view.well_formed);
  EXPECT_NE(view.auth_id, "success");
  EXPECT_EQ(view.inputs, 0);
  EXPECT_EQ(view.error, "Account locked <ask IT> & retry");
  EXPECT_EQ(auth_xml_build_failure("x").rfind("<?xml", 0), 0u);
}

TEST(AuthXmlBuild, EscapingKeepsEveryBodyWellFormed) {
  EXPECT_EQ(auth_xml_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(auth_xml_escape(std::string("a\0b\x01\x1f\tc\n", 8)), "a?b??\tc\n");
  EXPECT_EQ(auth_xml_escape("caf\xc3\xa9 \xf0\x9f\x94\x92"), "caf\xc3\xa9 \xf0\x9f\x94\x92");
  EXPECT_EQ(auth_xml_escape("\xff\xc3(\xed\xa0\x80\xef\xbf\xbe\xe0\x80\xaf"), "??" "(" "?????????");

  const std::string nasty = "\"/><input name=\"x\" /><!-- & \xff\x01";
  const AuthFormInput inputs[] = {{AuthInputType::kText, nasty, nasty}};
  const AuthGroupOption groups[] = {{nasty, nasty}};
  AuthFormSpec spec;
  spec.message = nasty;
  spec.action = nasty;
  spec.inputs = inputs;
  spec.groups = groups;
  const ClientView view = client_view(auth_xml_build_form(spec));
  ASSERT_TRUE(view.well_formed);
  EXPECT_EQ(view.inputs, 2);  // the input and the select, nothing injected
  EXPECT_TRUE(client_view(auth_xml_build_failure(nasty)).well_formed);
}

}  // namespace
}  // namespace tg::tunnel
