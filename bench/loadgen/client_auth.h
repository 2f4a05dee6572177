// The client side of the config-auth XML exchange (PROTOCOL.md §3): the bodies openconnect
// 9.01 posts (init, auth-reply) and a parser of the server's bodies (auth-request forms,
// the success body, failures).
//
// Used by tunnelgate-loadgen during login. The parser reads server input with libxml2
// hardened as tunnelgate's own (dataplane/tunnel/auth_xml): bounded size, no DTD, no
// network, no entities, forced UTF-8. No exception escapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg::loadgen {

inline constexpr size_t kMaxServerXmlBytes = 65536;
inline constexpr size_t kMaxFormInputs = 32;
inline constexpr size_t kMaxGroupOptions = 256;

struct FormInput {
  std::string type;   ///< "text", "password", "hidden", ...
  std::string name;   ///< the element name to post back ("username", "password", ...)
  std::string value;  ///< the value attribute (hidden inputs)
};

struct GroupOption {
  std::string value;  ///< what is posted (value attribute, else the text)
  std::string label;  ///< the text
};

/// What a server body says (auth.c parse_xml_response, handle_auth_form).
struct ServerAuthReply {
  std::string type;              ///< config-auth type ("auth-request", "complete")
  bool has_auth = false;         ///< an <auth> element exists
  std::string auth_id;           ///< <auth id="..."> ("main", "success", "failure", ...)
  std::string message;           ///< <auth><message>
  std::string error;             ///< <auth><error>
  bool has_form = false;
  std::string action;            ///< <form action="...">; "" = the same path
  std::vector<FormInput> inputs;
  bool has_group_list = false;   ///< <select name="group_list">
  std::vector<GroupOption> groups;
  std::optional<std::string> session_token;  ///< <session-token> (cookie alternative)
  bool client_cert_request = false;          ///< <client-cert-request/>

  bool success() const { return has_auth && auth_id == "success"; }
};

struct ServerAuthParseResult {
  bool ok = false;
  std::string error;          ///< when !ok: what was wrong (safe to print)
  ServerAuthReply reply;
};

/// Parses a server's config-auth body. A body that does not start with "<?xml" (openconnect
/// check_response_type), exceeds kMaxServerXmlBytes, holds a NUL or a DTD, is not
/// well-formed, has no <config-auth> root, or has no <auth> (and no cert request) fails.
ServerAuthParseResult parse_server_auth(std::string_view body);

/// Identity of the client in its bodies (openconnect 9.01 on Linux).
struct ClientIdentity {
  std::string version = "v9.01-3";
  std::string device_id = "linux-64";
  std::string group_access;          ///< the URL the client was given, e.g. "https://192.0.2.1/"
};

/// The init body (§3.1), with <group-select> when `group` is not empty (§3.7).
std::string build_init(const ClientIdentity& identity, std::string_view group);

/// One answered form field: <name>value</name> inside <auth>.
struct FormAnswer {
  std::string name;
  std::string value;
};

/// The auth-reply body (§3.3): the answers inside <auth>, then <group-select> when `group`
/// is not empty.
std::string build_auth_reply(const ClientIdentity& identity, const std::vector<FormAnswer>& answers,
                             std::string_view group);

/// The option of `groups` that --authgroup names: matched on the label, then the value
/// (openconnect main.c). nullptr when none matches.
const GroupOption* find_group(const std::vector<GroupOption>& groups, std::string_view wanted);

/// XML-escapes text for element content.
std::string xml_escape(std::string_view text);

}  // namespace tg::loadgen
