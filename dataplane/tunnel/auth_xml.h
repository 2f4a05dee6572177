// The config-auth XML of the OpenConnect "aggregate auth" exchange (PROTOCOL.md §3):
// parsing the client's POST bodies (init, auth-reply, logout) with libxml2, and building the
// server's bodies (auth-request forms, the success body, the failure body).
//
// Used by the TLS worker threads of tunnelgate-dataplane. The parser handles untrusted
// input: bounded size, no DTD (rejected before and after libxml2 sees it), no network, no
// entity substitution, forced UTF-8, every libxml2 object freed. No exception escapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tunnel {

/// Largest POST body the parser looks at (openconnect's are ~400 bytes).
inline constexpr size_t kMaxAuthXmlBytes = 16384;
/// Largest text value kept from one element (username, password, group, version, ...).
inline constexpr size_t kMaxAuthFieldBytes = 1024;
/// At most this many <auth-method> capabilities are kept; more are ignored.
inline constexpr size_t kMaxAuthMethods = 16;

/// The `type` attribute of the client's <config-auth>.
enum class AuthMessageType : uint8_t {
  kInit,        ///< first POST (and the re-POST after a group change, §3.7)
  kAuthReply,   ///< answers to a form
  kLogout,      ///< accepted if a client sends it (openconnect 9.01 does not, §7.3)
};

/// What the client sent. Optional fields are absent when the element was absent; present
/// and empty when the element was empty (e.g. an empty password field).
struct ClientAuthMessage {
  AuthMessageType type = AuthMessageType::kInit;
  std::optional<std::string> client_version;   ///< <version who="vpn">v9.01-3</version>
  std::optional<std::string> device_id;        ///< <device-id>linux-64</device-id>
  std::optional<std::string> group_access;     ///< <group-access>URL</group-access>
  std::optional<std::string> group_select;     ///< <group-select>NAME</group-select> (child of config-auth)
  std::optional<std::string> username;         ///< <auth><username>
  std::optional<std::string> password;         ///< <auth><password> (also answer/new_password, renamed by the client)
  std::optional<std::string> secondary_password;  ///< <auth><secondary_password> (ocserv accepts it)
  std::vector<std::string> auth_methods;       ///< <capabilities><auth-method> (at most kMaxAuthMethods)
  bool client_cert_fail = false;               ///< <client-cert-fail/>: no client certificate available
};

enum class AuthXmlError : uint8_t {
  kNone,
  kTooLarge,          ///< body above the limit
  kEmpty,
  kForbiddenContent,  ///< NUL byte, DTD or entity declaration
  kMalformed,         ///< not well-formed XML, or not valid UTF-8
  kWrongRoot,         ///< root element is not <config-auth>
  kBadType,           ///< type attribute missing or not init/auth-reply/logout
  kMissingElement,    ///< auth-reply without <auth>
  kDuplicateElement,  ///< an element we read appears twice (ambiguous)
  kFieldTooLong,      ///< a value above kMaxAuthFieldBytes
};

struct AuthXmlParseResult {
  AuthXmlError error = AuthXmlError::kNone;
  std::string message;        ///< names the element or the libxml2 failure; safe to log
  ClientAuthMessage content;  ///< valid when ok()
  bool ok() const { return error == AuthXmlError::kNone; }
};

/// Initialises libxml2 once per process (xmlInitParser). Call it from the main thread
/// before the TLS workers start; auth_xml_parse_client also calls it (idempotent).
void auth_xml_library_init();

/// Parses a client config-auth body. Unknown elements and attributes are ignored.
/// @param body           the HTTP request body
/// @param max_body_bytes bodies above min(this, kMaxAuthXmlBytes) are kTooLarge
/// @return the content, or an error and a message.
/// Thread-safety: reentrant (each call has its own libxml2 parser context).
AuthXmlParseResult auth_xml_parse_client(std::string_view body,
                                         size_t max_body_bytes = kMaxAuthXmlBytes);

/// Short stable name of an error (for logs and counters).
std::string_view auth_xml_error_name(AuthXmlError error);

// ---------------------------------------------------------------------------------------
// Server bodies. All text is XML-escaped; characters XML 1.0 cannot carry (controls other
// than TAB/LF/CR, invalid UTF-8) are replaced by '?'. Pure functions, thread-safe.

enum class AuthInputType : uint8_t { kText, kPassword };

struct AuthFormInput {
  AuthInputType type = AuthInputType::kText;
  std::string_view name;    ///< the element name the client will post back (username, password)
  std::string_view label;   ///< prompt, e.g. "Username:"
};

/// One option of the group list. The client posts `value`; --authgroup matches the label
/// first, then the value (§3.7).
struct AuthGroupOption {
  std::string_view value;
  std::string_view label;   ///< empty = the value
};

/// An auth-request form (§3.2, §3.4, §3.7).
struct AuthFormSpec {
  std::string_view message;                 ///< e.g. "Please enter your username."
  std::string_view action = "/auth";        ///< where the client posts next
  std::span<const AuthFormInput> inputs;
  /// When not empty, a <select name="group_list"> follows the inputs. Configure it on the
  /// first (username) form only, as ocserv does.
  std::span<const AuthGroupOption> groups;
  /// The group the client asked for (its <group-select>): that option is moved first, as
  /// ocserv does. Without it the client loops on NEWGROUP and fails (§10).
  std::string_view selected_group;
  std::string_view group_label = "Group:";
};

/// The auth-request body, byte-for-byte in ocserv's layout.
std::string auth_xml_build_form(const AuthFormSpec& spec);

/// The username form of §3.2 ("Please enter your username.", input "username").
std::string auth_xml_build_username_form(std::span<const AuthGroupOption> groups = {},
                                         std::string_view selected_group = {});

/// The password form of §3.4. `message` lets the worker say "Login failed.\nPlease enter
/// your password." after a wrong password (the client then asks again, or exits 1 in
/// --non-inter mode).
std::string auth_xml_build_password_form(
    std::string_view message = "Please enter your password.");

/// The success body (§3.5): <config-auth type="complete"> with <auth id="success">. The
/// cookie itself travels in Set-Cookie: webvpn=... (http_response.h).
std::string auth_xml_build_complete();

/// The final failure body: an <auth id="failure"> without a form, holding <error>TEXT</error>.
/// openconnect prints the error and stops the login (-EPERM, exit 1). Send it with
/// Connection: close. (ocserv sends a bare "401 <reason>" instead, which the client only
/// reports as "Unexpected 401 result from server".)
std::string auth_xml_build_failure(std::string_view error_text);

/// XML-escapes `text` for element content and attribute values.
std::string auth_xml_escape(std::string_view text);

}  // namespace tg::tunnel
