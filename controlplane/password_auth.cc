// Control plane: password verification with timing equalisation and rate limiting.
// See password_auth.h.
#include "controlplane/password_auth.h"

#include <cstdlib>

#include "controlplane/log.h"
#include "controlplane/password_hash.h"

namespace tg::controlplane {

PasswordAuthenticator::PasswordAuthenticator(UsersFile& users, Options options)
    : users_(users), options_(options) {
  auto dummy = password_hash("tunnelgate-dummy-password", Argon2Params{});
  if (!dummy) {  // impossible after init unless out of memory: crash (STYLE #19 triage)
    log_line("error", "cannot make the dummy argon2 hash", {{"error", dummy.error().message}});
    std::abort();
  }
  dummy_hash_ = std::move(*dummy);
}

PasswordAuthenticator::Outcome PasswordAuthenticator::verify(std::string_view user,
                                                              std::string_view password,
                                                              std::string_view group,
                                                              uint64_t now_ns) {
  Outcome out;
  if (auto st = users_.reload_if_changed(); !st && users_.loads() == 0) {
    // Never loaded: every answer would be wrong. With an older good table we go on using it
    // (the error was logged by whoever edits the file; the handler logs it on each change).
    out.result = ctl::CtlResult::try_again;
    out.reason = ctl::CtlReason::internal;
    return out;
  }
  const std::string key(user.substr(0, kUserNameMax + 1));
  if (auto it = failures_.find(key); it != failures_.end() && now_ns < it->second.locked_until_ns) {
    out.reason = ctl::CtlReason::rate_limited;
    return out;
  }
  const UserEntry* entry = user_name_valid(user) ? users_.find(user) : nullptr;
  // Always run exactly one argon2 verification, against the dummy hash when there is no
  // entry, so unknown names cost the same time.
  const bool match = password_verify(entry ? entry->hash : dummy_hash_, password);
  if (entry == nullptr || !match || password.empty()) {
    record_failure(key, now_ns);
    return out;
  }
  if (!entry->group.empty() && !group.empty() && group != entry->group) {
    out.reason = ctl::CtlReason::group_not_allowed;
    return out;
  }
  failures_.erase(key);
  out.result = ctl::CtlResult::ok;
  out.reason = ctl::CtlReason::none;
  out.user = entry->name;
  out.group = entry->group.empty() ? std::string(group) : entry->group;
  return out;
}

void PasswordAuthenticator::record_failure(std::string_view user, uint64_t now_ns) {
  auto it = failures_.find(std::string(user));
  if (it == failures_.end()) {
    make_room(now_ns);
    it = failures_.emplace(std::string(user), Failures{0, now_ns, 0, now_ns}).first;
  }
  Failures& f = it->second;
  if (now_ns - f.first_ns > options_.window_ns) f = Failures{0, now_ns, 0, now_ns};
  ++f.count;
  f.last_ns = now_ns;
  if (f.count >= options_.max_failures) {
    f.locked_until_ns = now_ns + options_.lockout_ns;
    f.count = 0;
    f.first_ns = now_ns;
  }
}

void PasswordAuthenticator::make_room(uint64_t now_ns) {
  if (failures_.size() < options_.table_size) return;
  for (auto it = failures_.begin(); it != failures_.end();) {
    const bool expired = now_ns >= it->second.locked_until_ns &&
                         now_ns - it->second.first_ns > options_.window_ns;
    it = expired ? failures_.erase(it) : std::next(it);
  }
  while (failures_.size() >= options_.table_size) {
    auto oldest = failures_.begin();
    for (auto it = failures_.begin(); it != failures_.end(); ++it) {
      if (it->second.last_ns < oldest->second.last_ns) oldest = it;
    }
    failures_.erase(oldest);
  }
}

}  // namespace tg::controlplane
