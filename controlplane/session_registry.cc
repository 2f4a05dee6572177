// Control plane: session table and cookies. See session_registry.h.
#include "controlplane/session_registry.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

#include <cerrno>

namespace tg::controlplane {

struct WolfRandom::Impl {
  WC_RNG rng;
};

WolfRandom::WolfRandom() : impl_(std::make_unique<Impl>()) {
  ok_ = wc_InitRng(&impl_->rng) == 0;
}

WolfRandom::~WolfRandom() {
  if (ok_) wc_FreeRng(&impl_->rng);
}

bool WolfRandom::fill(uint8_t* out, size_t len) {
  return ok_ && wc_RNG_GenerateBlock(&impl_->rng, out, static_cast<word32>(len)) == 0;
}

namespace {

std::string hex(const uint8_t* b, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[b[i] >> 4];
    s[2 * i + 1] = kDigits[b[i] & 15];
  }
  return s;
}

}  // namespace

SessionRegistry::SessionRegistry(Options options, RandomSource& random, OnRemove on_remove)
    : options_(options), random_(random), on_remove_(std::move(on_remove)) {
  uint8_t b[4] = {};
  random_.fill(b, sizeof b);  // a failed RNG is caught by create(); ids still stay unique
  id_high_ = (uint64_t{b[0]} << 56) | (uint64_t{b[1]} << 48) | (uint64_t{b[2]} << 40) |
             (uint64_t{b[3]} << 32);
}

bool SessionRegistry::cookie_well_formed(std::string_view cookie) {
  if (cookie.size() != 2 * kCookieBytes) return false;
  for (char c : cookie) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Expected<Session*> SessionRegistry::create(std::string user, std::string group, std::string app,
                                           uint64_t now_ns) {
  if (by_id_.size() >= options_.max_sessions) sweep(now_ns);
  if (by_id_.size() >= options_.max_sessions) {
    return make_error(ENOSPC, "session limit " + std::to_string(options_.max_sessions) + " reached");
  }
  uint8_t raw[kCookieBytes];
  std::string cookie;
  for (int attempt = 0; attempt < 3 && cookie.empty(); ++attempt) {
    if (!random_.fill(raw, sizeof raw)) {
      return make_error(EIO, "random generator failed: no cookie");
    }
    cookie = hex(raw, sizeof raw);
    if (by_cookie_.count(cookie) != 0) cookie.clear();  // 2^-256: a broken RNG, not luck
  }
  if (cookie.empty()) return make_error(EIO, "random generator repeats itself: no cookie");
  uint64_t id = 0;
  do {
    id = id_high_ | next_id_low_++;
  } while (next_id_low_ == 0 || by_id_.count(id) != 0);
  Session s;
  s.id = id;
  s.cookie = cookie;
  s.user = std::move(user);
  s.group = std::move(group);
  s.app = std::move(app);
  s.created_ns = now_ns;
  s.expires_ns = now_ns + options_.lifetime_ns;
  s.detached_since_ns = now_ns;
  auto [it, _] = by_id_.emplace(id, std::move(s));
  by_cookie_.emplace(std::move(cookie), id);
  publish_size();
  return &it->second;
}

Expected<Session*> SessionRegistry::adopt(Adopted a, uint64_t now_ns) {
  if (a.id == 0 || !cookie_well_formed(a.cookie)) {
    return make_error(EINVAL, "session id 0 or malformed cookie");
  }
  if (a.expires_ns <= now_ns) return make_error(ETIME, "session lifetime over");
  if (by_id_.count(a.id) != 0) return make_error(EEXIST, "session id already in the table");
  if (by_cookie_.count(a.cookie) != 0) return make_error(EEXIST, "cookie already in the table");
  if (by_id_.size() >= options_.max_sessions) sweep(now_ns);
  if (by_id_.size() >= options_.max_sessions) {
    return make_error(ENOSPC, "session limit " + std::to_string(options_.max_sessions) + " reached");
  }
  // An id of our own high bits (2^-32 per restart): the next ones we issue start above it.
  if ((a.id & 0xffffffff00000000ull) == id_high_) {
    const auto low = static_cast<uint32_t>(a.id);
    if (low >= next_id_low_ && low != 0xffffffffu) next_id_low_ = low + 1;
  }
  Session s;
  s.id = a.id;
  s.cookie = a.cookie;
  s.user = std::move(a.user);
  s.group = std::move(a.group);
  s.app = std::move(a.app);
  // The login time the previous control plane recorded, as far as the lifetime tells it.
  s.expires_ns = a.expires_ns;
  s.created_ns = a.expires_ns > options_.lifetime_ns ? a.expires_ns - options_.lifetime_ns : 0;
  if (s.created_ns > now_ns) s.created_ns = now_ns;
  s.worker = a.worker;
  s.attach_seq = a.attach_seq;
  s.address = a.address;
  s.pool = std::move(a.pool);
  s.client = std::move(a.client);
  auto [it, _] = by_id_.emplace(a.id, std::move(s));
  by_cookie_.emplace(std::move(a.cookie), a.id);
  set_attached(it->second, true);
  publish_size();
  return &it->second;
}

bool SessionRegistry::expired(const Session& s, uint64_t now_ns, SessionEnd* why) const {
  if (now_ns >= s.expires_ns) {
    *why = SessionEnd::expired;
    return true;
  }
  if (!s.attached && now_ns - s.detached_since_ns >= options_.detached_timeout_ns) {
    *why = SessionEnd::detached_timeout;
    return true;
  }
  return false;
}

Session* SessionRegistry::find_by_cookie(std::string_view cookie, uint64_t now_ns) {
  if (!cookie_well_formed(cookie)) return nullptr;
  const auto c = by_cookie_.find(std::string(cookie));
  if (c == by_cookie_.end()) return nullptr;
  auto it = by_id_.find(c->second);
  if (it == by_id_.end()) return nullptr;
  SessionEnd why{};
  if (expired(it->second, now_ns, &why)) {
    erase(it, why);
    return nullptr;
  }
  return &it->second;
}

Session* SessionRegistry::find(uint64_t id) {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

SessionRegistry::Attach SessionRegistry::attach(Session& s, uint32_t worker) {
  Attach a;
  if (s.attached) {
    a.replaced = true;
    a.old_worker = s.worker;
    a.old_attach_seq = s.attach_seq;
  }
  s.worker = worker;
  ++s.attach_seq;
  set_attached(s, true);
  return a;
}

bool SessionRegistry::detach(uint64_t id, uint32_t attach_seq, uint64_t now_ns) {
  Session* s = find(id);
  if (s == nullptr || !s->attached || s->attach_seq != attach_seq) return false;
  set_attached(*s, false);
  s->detached_since_ns = now_ns;
  return true;
}

bool SessionRegistry::remove(uint64_t id, SessionEnd why) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  erase(it, why);
  return true;
}

void SessionRegistry::detach_all(uint64_t now_ns) {
  for (auto& [id, s] : by_id_) {
    if (s.attached) {
      set_attached(s, false);
      s.detached_since_ns = now_ns;
    }
  }
}

size_t SessionRegistry::sweep(uint64_t now_ns) {
  size_t removed = 0;
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    SessionEnd why{};
    auto next = std::next(it);
    if (expired(it->second, now_ns, &why)) {
      erase(it, why);
      ++removed;
    }
    it = next;
  }
  return removed;
}

void SessionRegistry::erase(std::unordered_map<uint64_t, Session>::iterator it, SessionEnd why) {
  if (on_remove_) on_remove_(it->second, why);
  set_attached(it->second, false);
  by_cookie_.erase(it->second.cookie);
  by_id_.erase(it);
  publish_size();
}

void SessionRegistry::set_attached(Session& s, bool attached) {
  if (s.attached == attached) return;
  s.attached = attached;
  const uint32_t n = attached_.load(std::memory_order_relaxed);
  attached_.store(attached ? n + 1 : n - 1, std::memory_order_relaxed);
}

void SessionRegistry::publish_size() {
  size_.store(static_cast<uint32_t>(by_id_.size()), std::memory_order_relaxed);
}

}  // namespace tg::controlplane
