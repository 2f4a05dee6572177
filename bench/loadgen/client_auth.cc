// config-auth XML of tunnelgate-loadgen (see the header).
#include "bench/loadgen/client_auth.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <memory>
#include <mutex>

namespace tg::loadgen {

namespace {

struct DocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
struct XmlCharDeleter {
  void operator()(xmlChar* p) const { xmlFree(p); }
};

bool named(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE &&
         std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

std::string attribute(const xmlNode* node, const char* name) {
  std::unique_ptr<xmlChar, XmlCharDeleter> value(
      xmlGetProp(node, reinterpret_cast<const xmlChar*>(name)));
  return value ? std::string(reinterpret_cast<const char*>(value.get())) : std::string();
}

bool has_attribute(const xmlNode* node, const char* name) {
  return xmlHasProp(node, reinterpret_cast<const xmlChar*>(name)) != nullptr;
}

std::string text(const xmlNode* node) {
  std::unique_ptr<xmlChar, XmlCharDeleter> value(xmlNodeGetContent(node));
  return value ? std::string(reinterpret_cast<const char*>(value.get())) : std::string();
}

ServerAuthParseResult fail(std::string message) {
  ServerAuthParseResult result;
  result.error = std::move(message);
  return result;
}

void parse_form(const xmlNode* form, ServerAuthReply* reply) {
  reply->has_form = true;
  reply->action = attribute(form, "action");
  for (const xmlNode* child = form->children; child != nullptr; child = child->next) {
    if (named(child, "input") && reply->inputs.size() < kMaxFormInputs) {
      reply->inputs.push_back({attribute(child, "type"), attribute(child, "name"),
                               attribute(child, "value")});
    } else if (named(child, "select") && attribute(child, "name") == "group_list") {
      reply->has_group_list = true;
      for (const xmlNode* option = child->children; option != nullptr; option = option->next) {
        if (!named(option, "option") || reply->groups.size() >= kMaxGroupOptions) continue;
        GroupOption group;
        group.label = text(option);
        group.value = has_attribute(option, "value") ? attribute(option, "value") : group.label;
        reply->groups.push_back(std::move(group));
      }
    }
  }
}

void append_common(std::string* out, const ClientIdentity& identity, const char* type) {
  *out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth client=\"vpn\" type=\"";
  *out += type;
  *out += "\" aggregate-auth-version=\"2\"><version who=\"vpn\">" + xml_escape(identity.version) +
          "</version><device-id>" + xml_escape(identity.device_id) +
          "</device-id><capabilities><auth-method>single-sign-on-v2</auth-method>"
          "<auth-method>single-sign-on-external-browser</auth-method></capabilities>";
}

}  // namespace

ServerAuthParseResult parse_server_auth(std::string_view body) {
  if (body.size() > kMaxServerXmlBytes) return fail("auth body too large");
  if (body.substr(0, 5) != "<?xml") return fail("auth body is not XML (no <?xml)");
  if (body.find('\0') != std::string_view::npos) return fail("NUL byte in the auth body");
  // No DTD, entity or other markup declaration reaches libxml2 (comments and CDATA may).
  for (size_t at = body.find("<!"); at != std::string_view::npos; at = body.find("<!", at + 2)) {
    const std::string_view rest = body.substr(at);
    if (rest.substr(0, 4) != "<!--" && rest.substr(0, 9) != "<![CDATA[")
      return fail("markup declaration in the auth body");
  }
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  std::unique_ptr<xmlDoc, DocDeleter> doc(
      xmlReadMemory(body.data(), static_cast<int>(body.size()), "auth.xml", "UTF-8",
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) return fail("auth body is not well-formed XML");
  if (doc->intSubset != nullptr || doc->extSubset != nullptr) return fail("DTD in the auth body");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root == nullptr || !named(root, "config-auth")) return fail("root is not <config-auth>");

  ServerAuthParseResult result;
  ServerAuthReply& reply = result.reply;
  reply.type = attribute(root, "type");
  for (const xmlNode* child = root->children; child != nullptr; child = child->next) {
    if (named(child, "auth") && !reply.has_auth) {
      reply.has_auth = true;
      reply.auth_id = attribute(child, "id");
      for (const xmlNode* item = child->children; item != nullptr; item = item->next) {
        if (named(item, "message")) reply.message = text(item);
        else if (named(item, "error")) reply.error = text(item);
        else if (named(item, "form") && !reply.has_form) parse_form(item, &reply);
      }
    } else if (named(child, "session-token")) {
      reply.session_token = text(child);
    } else if (named(child, "client-cert-request")) {
      reply.client_cert_request = true;
    }
  }
  if (!reply.has_auth && !reply.client_cert_request)
    return fail("XML response has no \"auth\" node");
  result.ok = true;
  return result;
}

std::string build_init(const ClientIdentity& identity, std::string_view group) {
  std::string out;
  append_common(&out, identity, "init");
  out += "<group-access>" + xml_escape(identity.group_access) + "</group-access>";
  if (!group.empty()) out += "<group-select>" + xml_escape(group) + "</group-select>";
  out += "</config-auth>\n";  // libxml2's xmlDocDumpMemory ends with a newline
  return out;
}

std::string build_auth_reply(const ClientIdentity& identity, const std::vector<FormAnswer>& answers,
                             std::string_view group) {
  std::string out;
  append_common(&out, identity, "auth-reply");
  out += "<auth>";
  for (const FormAnswer& answer : answers)
    out += "<" + answer.name + ">" + xml_escape(answer.value) + "</" + answer.name + ">";
  out += "</auth>";
  if (!group.empty()) out += "<group-select>" + xml_escape(group) + "</group-select>";
  out += "</config-auth>\n";  // libxml2's xmlDocDumpMemory ends with a newline
  return out;
}

const GroupOption* find_group(const std::vector<GroupOption>& groups, std::string_view wanted) {
  for (const GroupOption& group : groups)
    if (group.label == wanted) return &group;
  for (const GroupOption& group : groups)
    if (group.value == wanted) return &group;
  return nullptr;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace tg::loadgen
