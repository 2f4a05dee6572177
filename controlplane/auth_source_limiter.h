// Control plane: the per-source limit on failed logins (brute force from one address).
//
// The per-user lockout (password_auth.h) stops guessing one name; it does nothing against
// one address trying many names, many tokens or many certificates. This table counts
// authentication FAILURES (every method) per source, where a source is the client's IPv4
// address cut to `prefix_len` bits (/32: each address; /24: a whole subnet), and refuses
// every login from a source whose budget is spent, before its credential is looked at (no
// argon2, no signature check: the attacker cannot make the gateway work for it).
//
// The budget is a token bucket (GCRA: one "theoretical arrival time" per source, no timer):
// a source may fail `max_failures` times in a row, then once every window/max_failures;
// it is refused while the bucket is empty. Refused attempts do not count (they cost
// nothing, and a client retrying does not extend its own wait); successful logins neither
// count nor refill (one valid account must not reset an attacker's budget).
//
// Memory is fixed: at most `capacity` sources (only failing sources take a slot). A new
// failing source in a full table evicts the least recently failed one (counted: a flood of
// distinct sources can thus free a limited one — that is the price of bounded memory, as
// with the per-user table). Expired entries (bucket full again) are swept by sweep().
//
// IPv6 sources (none today: the dataplane's outside is IPv4) are grouped by /64; requests
// without a client address (family 0; the worker always sends one) are never limited.
//
// Thread-safety: check/record_failure/sweep on one thread (the ctl server thread); the
// stats() counters are relaxed atomics any thread may read (metrics).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/ctl_messages.h"

namespace tg::controlplane {

/// Does a login refused for `reason` count against its source? Yes when the credential did
/// not prove who the client is (wrong password, unknown user, a locked name, any certificate
/// or token fault); no when it did (group_not_allowed, no_app, unknown_app), when no
/// credential was looked at (method_disabled, source_rate_limited itself) and when the
/// gateway is at fault (internal, session_limit, crl_expired: its own CRL is stale).
bool auth_failure_counts(ctl::CtlReason reason);

class AuthSourceLimiter {
 public:
  struct Options {
    uint32_t max_failures = 20;             ///< bucket size, > 0 (0 = no limiter: not built)
    uint64_t window_ns = 300'000'000'000;   ///< the bucket refills completely in this time
    uint8_t prefix_len = 32;                ///< IPv4 source grouping, 1..32
    uint32_t capacity = 65536;              ///< sources tracked at most, >= 1
    uint32_t log_lines_per_second = 10;     ///< cap on refusal log lines (all sources)
  };

  /// A source: address family + the address cut to the prefix (IPv4) or /64 (IPv6).
  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };

  /// What to do with a login attempt.
  struct Decision {
    bool refused = false;
    /// Write the refusal log line: the first refusal of this source since it became
    /// limited, within the log cap. False for every other refusal (they are counted).
    bool log = false;
    uint64_t suppressed = 0;       ///< refusal lines not written (cap) since the last one
    uint64_t retry_after_ns = 0;   ///< when refused: until one more attempt is allowed
  };

  struct Stats {
    std::atomic<uint64_t> tracked{0};   ///< sources in the table
    std::atomic<uint64_t> limited{0};   ///< of which refused now (as of the last sweep)
    std::atomic<uint64_t> evicted{0};   ///< sources dropped because the table was full
  };

  explicit AuthSourceLimiter(Options options);

  /// The source of a client address (Key{} for family 0, never limited).
  Key key_of(const ctl::CtlAddress& client) const;
  /// "192.0.2.0/24" for the source of `client` (logs); "" for family 0.
  std::string source_text(const ctl::CtlAddress& client) const;

  /// May `client` try to log in now?
  Decision check(const ctl::CtlAddress& client, uint64_t now_ns);
  /// A login from `client` failed (its credential did not prove who it is).
  void record_failure(const ctl::CtlAddress& client, uint64_t now_ns);
  /// Drop the sources whose bucket is full again and refresh stats().limited. Once a second.
  void sweep(uint64_t now_ns);

  const Stats& stats() const { return stats_; }
  const Options& options() const { return options_; }
  size_t size() const { return index_.size(); }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Entry {
    Key key;
    uint64_t tat_ns = 0;       ///< theoretical arrival time: the bucket is full again then
    uint32_t prev = kNone;     ///< towards the most recently failed
    uint32_t next = kNone;     ///< towards the least recently failed
    bool refusal_logged = false;
  };
  /// Keyed with a random seed chosen at construction, so the bucket of an address cannot be
  /// computed offline (no crafted-collision slowdown of the ctl thread).
  struct KeyHash {
    uint64_t seed = 0;
    size_t operator()(const Key& k) const;
  };

  bool limited(const Entry& e, uint64_t now_ns) const;
  void unlink(uint32_t slot);
  void push_front(uint32_t slot);
  void erase(uint32_t slot);
  bool log_allowed(uint64_t now_ns, uint64_t& suppressed);

  Options options_;
  uint64_t interval_ns_;   ///< window / max_failures: one failure's worth of time
  uint64_t burst_ns_;      ///< window - interval: limited when tat - now exceeds it
  uint32_t v4_mask_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  std::unordered_map<Key, uint32_t, KeyHash> index_;  ///< reserved for capacity: no rehash
  uint32_t head_ = kNone;  ///< most recently failed
  uint32_t tail_ = kNone;  ///< least recently failed: evicted first
  uint64_t log_second_ = UINT64_MAX;
  uint32_t log_lines_ = 0;
  uint64_t log_suppressed_ = 0;
  Stats stats_;
};

}  // namespace tg::controlplane
