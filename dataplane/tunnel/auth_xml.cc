// config-auth XML parser (libxml2) and builders (see auth_xml.h).
#include "dataplane/tunnel/auth_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <memory>
#include <mutex>

namespace tg::tunnel {
namespace {

// libxml2 options: no network, no error printing, and deliberately NOT XML_PARSE_NOENT
// (entity substitution), XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR or XML_PARSE_HUGE.
constexpr int kXmlParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
// Forced decoding: a declaration claiming another encoding (or UTF-16) cannot change it.
constexpr const char* kForcedEncoding = "UTF-8";

/// Server version string, as ocserv sends it (openconnect ignores the value).
constexpr std::string_view kServerVersionElement = "<version who=\"sg\">0.1(1)</version>\n";
constexpr std::string_view kXmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
constexpr std::string_view kAuthRequestOpen = "<config-auth client=\"vpn\" type=\"auth-request\">\n";
// ocserv ends its auth-request bodies without a newline (Content-Length 306/310/456 in the
// traces); the success body ends with one (189).
constexpr std::string_view kConfigAuthClose = "</config-auth>";
constexpr char kReplacementChar = '?';

struct XmlDocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;

struct XmlCharFree {
  void operator()(xmlChar* text) const { xmlFree(text); }
};
using XmlCharPtr = std::unique_ptr<xmlChar, XmlCharFree>;

const char* as_chars(const xmlChar* s) { return reinterpret_cast<const char*>(s); }

bool node_named(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE && std::strcmp(as_chars(node->name), name) == 0;
}

/// Any markup declaration ("<!" not starting a comment or CDATA) means a DTD is present.
/// Checked on the raw bytes so a DTD never reaches libxml2 at all.
bool has_markup_declaration(std::string_view body) {
  constexpr std::string_view kDeclStart = "<!";
  constexpr std::string_view kComment = "<!--";
  constexpr std::string_view kCdata = "<![CDATA[";
  for (size_t pos = body.find(kDeclStart); pos != std::string_view::npos;
       pos = body.find(kDeclStart, pos + 1)) {
    const std::string_view rest = body.substr(pos);
    if (rest.substr(0, kComment.size()) != kComment && rest.substr(0, kCdata.size()) != kCdata) {
      return true;
    }
  }
  return false;
}

/// Walks the parsed tree into a ClientAuthMessage; stops at the first error.
class ClientMessageReader {
 public:
  explicit ClientMessageReader(AuthXmlParseResult& result) : result_(result) {}

  bool read_root(const xmlNode* root) {
    if (root == nullptr || !node_named(root, "config-auth")) {
      return fail(AuthXmlError::kWrongRoot, "root element is not <config-auth>");
    }
    XmlCharPtr type(xmlGetNoNsProp(root, reinterpret_cast<const xmlChar*>("type")));
    if (!type) return fail(AuthXmlError::kBadType, "<config-auth> has no type attribute");
    const std::string_view type_text = as_chars(type.get());
    ClientAuthMessage& msg = result_.content;
    if (type_text == "init") {
      msg.type = AuthMessageType::kInit;
    } else if (type_text == "auth-reply") {
      msg.type = AuthMessageType::kAuthReply;
    } else if (type_text == "logout") {
      msg.type = AuthMessageType::kLogout;
    } else {
      return fail(AuthXmlError::kBadType, "type is not init, auth-reply or logout");
    }

    bool seen_auth = false;
    bool seen_capabilities = false;
    for (const xmlNode* child = root->children; child != nullptr; child = child->next) {
      if (child->type != XML_ELEMENT_NODE) continue;
      bool ok = true;
      if (node_named(child, "version")) {
        ok = read_once(child, msg.client_version);
      } else if (node_named(child, "device-id")) {
        ok = read_once(child, msg.device_id);
      } else if (node_named(child, "group-access")) {
        ok = read_once(child, msg.group_access);
      } else if (node_named(child, "group-select")) {
        ok = read_once(child, msg.group_select);
      } else if (node_named(child, "client-cert-fail")) {
        msg.client_cert_fail = true;
      } else if (node_named(child, "capabilities")) {
        ok = !seen_capabilities ? read_capabilities(child)
                                : fail(AuthXmlError::kDuplicateElement, "<capabilities> twice");
        seen_capabilities = true;
      } else if (node_named(child, "auth")) {
        ok = !seen_auth ? read_auth(child) : fail(AuthXmlError::kDuplicateElement, "<auth> twice");
        seen_auth = true;
      }
      // Anything else (opaque, host-scan-token, ...) is ignored.
      if (!ok) return false;
    }
    if (msg.type == AuthMessageType::kAuthReply && !seen_auth) {
      return fail(AuthXmlError::kMissingElement, "auth-reply without <auth>");
    }
    return true;
  }

 private:
  bool fail(AuthXmlError error, std::string message) {
    result_.error = error;
    result_.message = std::move(message);
    return false;
  }

  /// Direct text and CDATA children only: markup inside a value is ignored, not flattened.
  bool read_text(const xmlNode* element, std::string& out) {
    out.clear();
    for (const xmlNode* child = element->children; child != nullptr; child = child->next) {
      if (child->type != XML_TEXT_NODE && child->type != XML_CDATA_SECTION_NODE) continue;
      if (child->content == nullptr) continue;
      const size_t len = std::strlen(as_chars(child->content));
      if (len > kMaxAuthFieldBytes - out.size()) {
        return fail(AuthXmlError::kFieldTooLong,
                    "<" + std::string(as_chars(element->name)) + "> value too long");
      }
      out.append(as_chars(child->content), len);
    }
    return true;
  }

  bool read_once(const xmlNode* element, std::optional<std::string>& slot) {
    if (slot) {
      return fail(AuthXmlError::kDuplicateElement,
                  "<" + std::string(as_chars(element->name)) + "> twice");
    }
    std::string value;
    if (!read_text(element, value)) return false;
    slot = std::move(value);
    return true;
  }

  bool read_capabilities(const xmlNode* capabilities) {
    for (const xmlNode* child = capabilities->children; child != nullptr; child = child->next) {
      if (!node_named(child, "auth-method")) continue;
      if (result_.content.auth_methods.size() >= kMaxAuthMethods) break;
      std::string method;
      if (!read_text(child, method)) return false;
      result_.content.auth_methods.push_back(std::move(method));
    }
    return true;
  }

  bool read_auth(const xmlNode* auth) {
    ClientAuthMessage& msg = result_.content;
    for (const xmlNode* child = auth->children; child != nullptr; child = child->next) {
      bool ok = true;
      if (node_named(child, "username")) {
        ok = read_once(child, msg.username);
      } else if (node_named(child, "password")) {
        ok = read_once(child, msg.password);
      } else if (node_named(child, "secondary_password")) {
        ok = read_once(child, msg.secondary_password);
      }
      if (!ok) return false;
    }
    return true;
  }

  AuthXmlParseResult& result_;
};

/// Appends one code point's bytes if `text[i..]` starts a valid UTF-8 sequence of a
/// character XML 1.0 allows; returns the bytes used (0 = invalid).
size_t valid_utf8_char_length(std::string_view text, size_t i) {
  constexpr unsigned char kTwoByteLead = 0xc2, kThreeByteLead = 0xe0, kFourByteLead = 0xf0,
                          kLastLead = 0xf4, kContinuationMask = 0xc0, kContinuationTag = 0x80;
  constexpr uint32_t kMinThreeByte = 0x800, kMinFourByte = 0x10000, kMaxCodePoint = 0x10ffff,
                     kSurrogateFirst = 0xd800, kSurrogateLast = 0xdfff, kNonCharFffe = 0xfffe,
                     kNonCharFfff = 0xffff;
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (lead >= kTwoByteLead && lead < kThreeByteLead) {
    len = 2;
    cp = lead & 0x1fu;
  } else if (lead >= kThreeByteLead && lead < kFourByteLead) {
    len = 3;
    cp = lead & 0x0fu;
  } else if (lead >= kFourByteLead && lead <= kLastLead) {
    len = 4;
    cp = lead & 0x07u;
  } else {
    return 0;
  }
  if (text.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(text[i + k]);
    if ((c & kContinuationMask) != kContinuationTag) return 0;
    cp = (cp << 6) | (c & 0x3fu);
  }
  if ((len == 3 && cp < kMinThreeByte) || (len == 4 && cp < kMinFourByte) || cp > kMaxCodePoint ||
      (cp >= kSurrogateFirst && cp <= kSurrogateLast) || cp == kNonCharFffe ||
      cp == kNonCharFfff) {
    return 0;
  }
  return len;
}

void append_escaped(std::string& out, std::string_view text) {
  constexpr unsigned char kFirstPrintable = 0x20, kFirstNonAscii = 0x80;
  for (size_t i = 0; i < text.size();) {
    const char ch = text[i];
    const auto c = static_cast<unsigned char>(ch);
    if (c >= kFirstNonAscii) {
      const size_t len = valid_utf8_char_length(text, i);
      if (len == 0) {
        out += kReplacementChar;
        ++i;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t':
      case '\n':
      case '\r': out += ch; break;
      default: out += (c < kFirstPrintable) ? kReplacementChar : ch; break;
    }
    ++i;
  }
}

}  // namespace

void auth_xml_library_init() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string_view auth_xml_error_name(AuthXmlError error) {
  switch (error) {
    case AuthXmlError::kNone: return "none";
    case AuthXmlError::kTooLarge: return "too_large";
    case AuthXmlError::kEmpty: return "empty";
    case AuthXmlError::kForbiddenContent: return "forbidden_content";
    case AuthXmlError::kMalformed: return "malformed";
    case AuthXmlError::kWrongRoot: return "wrong_root";
    case AuthXmlError::kBadType: return "bad_type";
    case AuthXmlError::kMissingElement: return "missing_element";
    case AuthXmlError::kDuplicateElement: return "duplicate_element";
    case AuthXmlError::kFieldTooLong: return "field_too_long";
  }
  return "unknown";
}

AuthXmlParseResult auth_xml_parse_client(std::string_view body, size_t max_body_bytes) {
  AuthXmlParseResult result;
  auto fail = [&result](AuthXmlError error, std::string message) {
    result.error = error;
    result.message = std::move(message);
    result.content = ClientAuthMessage{};
    return result;
  };
  if (body.size() > std::min(max_body_bytes, kMaxAuthXmlBytes)) {
    return fail(AuthXmlError::kTooLarge, "config-auth body too large");
  }
  if (body.empty()) return fail(AuthXmlError::kEmpty, "empty config-auth body");
  if (body.find('\0') != std::string_view::npos) {
    return fail(AuthXmlError::kForbiddenContent, "NUL byte in config-auth body");
  }
  if (has_markup_declaration(body)) {
    return fail(AuthXmlError::kForbiddenContent, "DTD or markup declaration not allowed");
  }

  auth_xml_library_init();
  // The size fits an int: it is bounded by kMaxAuthXmlBytes above.
  XmlDocPtr doc(xmlReadMemory(body.data(), static_cast<int>(body.size()), "config-auth.xml",
                              kForcedEncoding, kXmlParseOptions));
  if (!doc) return fail(AuthXmlError::kMalformed, "not well-formed UTF-8 XML");
  if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
    return fail(AuthXmlError::kForbiddenContent, "DTD not allowed");
  }
  ClientMessageReader reader(result);
  if (!reader.read_root(xmlDocGetRootElement(doc.get()))) {
    result.content = ClientAuthMessage{};
  }
  return result;
}

std::string auth_xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text);
  return out;
}

std::string auth_xml_build_form(const AuthFormSpec& spec) {
  std::string out;
  out.reserve(512);
  out += kXmlDeclaration;
  out += kAuthRequestOpen;
  out += kServerVersionElement;
  out += "<auth id=\"main\">\n";
  out += "<message>";
  append_escaped(out, spec.message);
  out += "</message>\n";
  out += "<form method=\"post\" action=\"";
  append_escaped(out, spec.action);
  out += "\">\n";
  for (const AuthFormInput& input : spec.inputs) {
    out += "<input type=\"";
    out += input.type == AuthInputType::kPassword ? "password" : "text";
    out += "\" name=\"";
    append_escaped(out, input.name);
    out += "\" label=\"";
    append_escaped(out, input.label);
    out += "\" />\n";
  }
  if (!spec.groups.empty()) {
    out += "<select name=\"group_list\" label=\"";
    append_escaped(out, spec.group_label);
    out += "\">\n";
    auto append_option = [&out](const AuthGroupOption& option) {
      out += "<option value=\"";
      append_escaped(out, option.value);
      out += "\">";
      append_escaped(out, option.label.empty() ? option.value : option.label);
      out += "</option>\n";
    };
    // The client treats the first option (or selected="true") as its current group; the
    // chosen one goes first as in ocserv, the rest keep their configured order.
    bool selected_found = false;
    for (const AuthGroupOption& option : spec.groups) {
      if (!selected_found && !spec.selected_group.empty() && option.value == spec.selected_group) {
        append_option(option);
        selected_found = true;
      }
    }
    bool selected_skipped = false;
    for (const AuthGroupOption& option : spec.groups) {
      if (selected_found && !selected_skipped && option.value == spec.selected_group) {
        selected_skipped = true;
        continue;
      }
      append_option(option);
    }
    out += "</select>\n";
  }
  out += "</form></auth>\n";
  out += kConfigAuthClose;
  return out;
}

std::string auth_xml_build_username_form(std::span<const AuthGroupOption> groups,
                                         std::string_view selected_group) {
  static constexpr AuthFormInput kUsernameInput{AuthInputType::kText, "username", "Username:"};
  AuthFormSpec spec;
  spec.message = "Please enter your username.";
  spec.inputs = std::span<const AuthFormInput>(&kUsernameInput, 1);
  spec.groups = groups;
  spec.selected_group = selected_group;
  return auth_xml_build_form(spec);
}

std::string auth_xml_build_password_form(std::string_view message) {
  static constexpr AuthFormInput kPasswordInput{AuthInputType::kPassword, "password",
                                                "Password:"};
  AuthFormSpec spec;
  spec.message = message;
  spec.inputs = std::span<const AuthFormInput>(&kPasswordInput, 1);
  return auth_xml_build_form(spec);
}

std::string auth_xml_build_complete() {
  std::string out;
  out += kXmlDeclaration;
  out += "<config-auth client=\"vpn\" type=\"complete\">\n";
  out += kServerVersionElement;
  out += "<auth id=\"success\">\n";
  out += "<title>SSL VPN Service</title></auth></config-auth>\n";
  return out;
}

std::string auth_xml_build_failure(std::string_view error_text) {
  std::string out;
  out += kXmlDeclaration;
  out += kAuthRequestOpen;
  out += kServerVersionElement;
  out += "<auth id=\"failure\">\n";
  out += "<error>";
  append_escaped(out, error_text);
  out += "</error>\n";
  out += "</auth>\n";
  out += kConfigAuthClose;
  out += '\n';
  return out;
}

}  // namespace tg::tunnel
