// Control plane: per-source limit on failed logins (ctl server thread). See
// auth_source_limiter.h.
#include "controlplane/auth_source_limiter.h"

#include <algorithm>
#include <cstdio>
#include <random>

namespace tg::controlplane {

namespace {

constexpr uint64_t kTagV4 = uint64_t{4} << 32;
constexpr uint64_t kTagV6 = uint64_t{6} << 32;
constexpr uint64_t kSecondNs = 1'000'000'000;

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: spreads addresses over the buckets
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) | rd();
}

}  // namespace

bool auth_failure_counts(ctl::CtlReason reason) {
  using R = ctl::CtlReason;
  switch (reason) {
    case R::bad_credentials:
    case R::rate_limited:
    case R::cert_unknown_ca:
    case R::cert_expired:
    case R::cert_not_yet_valid:
    case R::cert_bad_signature:
    case R::cert_malformed:
    case R::cert_no_user:
    case R::cert_revoked:
    case R::token_malformed:
    case R::token_unknown_key:
    case R::token_bad_signature:
    case R::token_expired:
    case R::token_not_yet_valid:
    case R::token_bad_issuer:
    case R::token_bad_audience:
    case R::token_no_user:
      return true;
    default:
      return false;
  }
}

size_t AuthSourceLimiter::KeyHash::operator()(const Key& k) const {
  return static_cast<size_t>(mix64(k.hi ^ mix64(k.lo ^ seed)));
}

AuthSourceLimiter::AuthSourceLimiter(Options options)
    : options_(options), index_(0, KeyHash{random_seed()}) {
  options_.max_failures = std::max<uint32_t>(options_.max_failures, 1);
  options_.capacity = std::max<uint32_t>(options_.capacity, 1);
  options_.prefix_len = std::clamp<uint8_t>(options_.prefix_len, 1, 32);
  options_.window_ns = std::max<uint64_t>(options_.window_ns, options_.max_failures);
  interval_ns_ = options_.window_ns / options_.max_failures;
  burst_ns_ = options_.window_ns - interval_ns_;
  v4_mask_ = options_.prefix_len == 32 ? 0xffffffffu : ~(0xffffffffu >> options_.prefix_len);
  // Everything the table will ever hold, allocated now: a flood of sources never grows it.
  entries_.resize(options_.capacity);
  free_.reserve(options_.capacity);
  for (uint32_t i = options_.capacity; i > 0; --i) free_.push_back(i - 1);
  index_.reserve(options_.capacity);
}

AuthSourceLimiter::Key AuthSourceLimiter::key_of(const ctl::CtlAddress& c) const {
  Key k;
  if (c.family == 4) {
    const uint32_t a = (uint32_t{c.bytes[0]} << 24) | (uint32_t{c.bytes[1]} << 16) |
                       (uint32_t{c.bytes[2]} << 8) | uint32_t{c.bytes[3]};
    k.lo = kTagV4 | (a & v4_mask_);
  } else if (c.family == 6) {
    for (int i = 0; i < 8; ++i) k.hi = (k.hi << 8) | c.bytes[i];
    k.lo = kTagV6;
  }
  return k;
}

std::string AuthSourceLimiter::source_text(const ctl::CtlAddress& c) const {
  const Key k = key_of(c);
  char buf[64];
  if (c.family == 4) {
    const auto a = static_cast<uint32_t>(k.lo);
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
                  a & 0xff, options_.prefix_len);
    return buf;
  }
  if (c.family == 6) {
    std::snprintf(buf, sizeof buf, "%x:%x:%x:%x::/64", static_cast<unsigned>(k.hi >> 48),
                  static_cast<unsigned>((k.hi >> 32) & 0xffff),
                  static_cast<unsigned>((k.hi >> 16) & 0xffff), static_cast<unsigned>(k.hi & 0xffff));
    return buf;
  }
  return "";
}

bool AuthSourceLimiter::limited(const Entry& e, uint64_t now_ns) const {
  // Another failure now would push tat past now + window: the bucket is empty.
  return e.tat_ns > now_ns && e.tat_ns - now_ns > burst_ns_;
}

AuthSourceLimiter::Decision AuthSourceLimiter::check(const ctl::CtlAddress& client, uint64_t now_ns) {
  Decision d;
  if (client.family == 0) return d;
  const auto it = index_.find(key_of(client));
  if (it == index_.end()) return d;
  Entry& e = entries_[it->second];
  if (!limited(e, now_ns)) {
    e.refusal_logged = false;  // allowed again: the next limited period logs anew
    return d;
  }
  d.refused = true;
  d.retry_after_ns = e.tat_ns - burst_ns_ - now_ns;
  if (!e.refusal_logged && log_allowed(now_ns, d.suppressed)) {
    e.refusal_logged = true;
    d.log = true;
  }
  return d;
}

bool AuthSourceLimiter::log_allowed(uint64_t now_ns, uint64_t& suppressed) {
  const uint64_t second = now_ns / kSecondNs;
  if (second != log_second_) {
    log_second_ = second;
    log_lines_ = 0;
  }
  if (log_lines_ >= options_.log_lines_per_second) {
    ++log_suppressed_;
    return false;
  }
  ++log_lines_;
  suppressed = log_suppressed_;
  log_suppressed_ = 0;
  return true;
}

void AuthSourceLimiter::record_failure(const ctl::CtlAddress& client, uint64_t now_ns) {
  if (client.family == 0) return;
  const Key key = key_of(client);
  uint32_t slot;
  if (const auto it = index_.find(key); it != index_.end()) {
    slot = it->second;
    unlink(slot);
  } else {
    if (free_.empty()) {  // full: the least recently failed source goes
      stats_.evicted.fetch_add(1, std::memory_order_relaxed);
      erase(tail_);
    }
    slot = free_.back();
    free_.pop_back();
    entries_[slot] = Entry{};
    entries_[slot].key = key;
    index_.emplace(key, slot);
    stats_.tracked.store(index_.size(), std::memory_order_relaxed);
  }
  Entry& e = entries_[slot];
  e.tat_ns = std::max(e.tat_ns, now_ns) + interval_ns_;
  push_front(slot);
}

void AuthSourceLimiter::sweep(uint64_t now_ns) {
  uint64_t limited_now = 0;
  // From the least recently failed end: entries are mostly in tat order there.
  for (uint32_t slot = tail_; slot != kNone;) {
    const uint32_t prev = entries_[slot].prev;
    if (entries_[slot].tat_ns <= now_ns) {
      erase(slot);  // bucket full again: the same as never having failed
    } else if (limited(entries_[slot], now_ns)) {
      ++limited_now;
    }
    slot = prev;
  }
  stats_.limited.store(limited_now, std::memory_order_relaxed);
}

void AuthSourceLimiter::unlink(uint32_t slot) {
  Entry& e = entries_[slot];
  if (e.prev != kNone) entries_[e.prev].next = e.next; else head_ = e.next;
  if (e.next != kNone) entries_[e.next].prev = e.prev; else tail_ = e.prev;
  e.prev = e.next = kNone;
}

void AuthSourceLimiter::push_front(uint32_t slot) {
  Entry& e = entries_[slot];
  e.prev = kNone;
  e.next = head_;
  if (head_ != kNone) entries_[head_].prev = slot;
  head_ = slot;
  if (tail_ == kNone) tail_ = slot;
}

void AuthSourceLimiter::erase(uint32_t slot) {
  unlink(slot);
  index_.erase(entries_[slot].key);
  free_.push_back(slot);
  stats_.tracked.store(index_.size(), std::memory_order_relaxed);
}

}  // namespace tg::controlplane
