// libFuzzer: the users-file parser must never crash, and what it accepts must survive an
// edit round trip (replace the first user with itself: the text is unchanged but for CRs
// and a final newline).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controlplane/users_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::controlplane;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const UsersFileParse p = users_file_parse(text, "fuzz");
  for (const UsersFileIssue& e : p.errors) {
    if (e.line < 1) std::abort();
  }
  if (p.ok() && !p.users.empty()) {
    const UserEntry& u = p.users.front();
    auto edited = users_file_edit(text, "fuzz", UserEdit::replace, u.name, u.group, u.hash);
    if (!edited) std::abort();
    const UsersFileParse again = users_file_parse(*edited, "fuzz");
    if (!again.ok() || again.users.size() != p.users.size()) std::abort();
  }
  return 0;
}
