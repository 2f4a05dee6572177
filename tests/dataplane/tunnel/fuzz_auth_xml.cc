// libFuzzer: the config-auth XML parser on arbitrary bodies, and the server-body builders
// with arbitrary text, whose output must always be well-formed XML.
#include <libxml/parser.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/tunnel/auth_xml.h"

namespace {

bool well_formed(const std::string& xml) {
  xmlDoc* doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) return false;
  xmlFreeDoc(doc);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::tunnel;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const AuthXmlParseResult parsed = auth_xml_parse_client(input);
  if (parsed.ok()) {
    const ClientAuthMessage& m = parsed.content;
    for (const auto* field : {&m.username, &m.password, &m.secondary_password, &m.group_select,
                              &m.group_access, &m.client_version, &m.device_id}) {
      if (*field && (*field)->size() > kMaxAuthFieldBytes) std::abort();
    }
    if (m.auth_methods.size() > kMaxAuthMethods) std::abort();
  } else if (parsed.message.empty()) {
    std::abort();
  }

  // Whatever text the builders get, the client must receive well-formed XML.
  const size_t half = input.size() / 2;
  const AuthGroupOption groups[] = {{input.substr(0, half), input.substr(half)}, {"x", ""}};
  const AuthFormInput inputs[] = {{AuthInputType::kText, input.substr(half), input.substr(0, half)}};
  AuthFormSpec spec;
  spec.message = input;
  spec.action = input.substr(half);
  spec.inputs = inputs;
  spec.groups = groups;
  spec.selected_group = "x";
  if (!well_formed(auth_xml_build_form(spec))) std::abort();
  if (!well_formed(auth_xml_build_failure(input))) std::abort();
  return 0;
}
