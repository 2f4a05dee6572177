// Control plane: the authoritative table of VPN sessions, keyed by session id and by the
// `webvpn` cookie (PROTOCOL.md §3.5-3.6, §7).
//
// Life of a session:
//   create()   after a successful login: a cookie of 32 random bytes (wolfCrypt RNG), in
//              lower-case hex; the session has no tunnel yet ("detached").
//   attach()   CONNECT with the cookie: the session gets (or keeps) its address and is bound
//              to the worker's new tunnel; attach_seq increases. If another tunnel of the same
//              session is still up, it is replaced (openconnect's reconnect after a network
//              change, §7.2: the new CONNECT wins, the old worker is told to close, and the
//              client gets the SAME address, which it requires).
//   detach()   the tunnel ended without a logout (TCP lost, DPD, dataplane restart): the
//              session and its address stay, so the client can reconnect with its cookie.
//   remove()   logout (BYE 0xb0), idle timeout, admin, or expiry: the cookie dies and the
//              address goes back to the pool.
// Expiry (sweep() and every lookup):
//   - lifetime_ns after create() (default 24 h; like ocserv's session-timeout, after which
//     the user must log in again; sent to the client as X-CSTP-Session-Timeout);
//   - detached_timeout_ns after the session was last detached or created without a tunnel
//     (default 300 s, ocserv's cookie-timeout: how long a client may take to reconnect).
// limits.max_sessions bounds all sessions (attached or not).
//
// Session ids carry 32 random high bits chosen at start-up, so ids of a previous control
// plane (still held by workers after a control-plane restart) never match new sessions.
//   adopt()    a live tunnel of a previous control plane, reported by its worker after a
//              restart (SESSION_RESYNC): the session comes back with its id and cookie,
//              attached; ids issued afterwards skip every adopted one.
// Thread-safety: one thread (the ctl server thread); size()/attached() through relaxed
// atomics for metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controlplane/expected.h"

namespace tg::controlplane {

/// Source of random bytes (seam for tests). Single thread.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  /// Fill `out` with `len` random bytes. False on failure.
  virtual bool fill(uint8_t* out, size_t len) = 0;
};

/// wolfCrypt's DRBG (wc_InitRng / wc_RNG_GenerateBlock).
class WolfRandom final : public RandomSource {
 public:
  WolfRandom();
  ~WolfRandom() override;
  WolfRandom(const WolfRandom&) = delete;
  WolfRandom& operator=(const WolfRandom&) = delete;
  bool ok() const { return ok_; }
  bool fill(uint8_t* out, size_t len) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool ok_ = false;
};

inline constexpr size_t kCookieBytes = 32;

struct Session {
  uint64_t id = 0;
  std::string cookie;  ///< 64 lower-case hex digits
  std::string user;
  std::string group;
  std::string app;
  uint64_t created_ns = 0;
  uint64_t expires_ns = 0;  ///< created_ns + lifetime
  bool attached = false;
  uint32_t worker = 0;             ///< worker holding the tunnel (when attached)
  uint32_t attach_seq = 0;         ///< of the current/last tunnel
  uint64_t detached_since_ns = 0;  ///< when !attached
  std::optional<uint32_t> address; ///< lease, kept across reconnects
  std::string pool;                ///< pool of the lease
  std::string client;              ///< "a.b.c.d:port" / "[v6]:port" of the last CONNECT, "" unknown
};

/// Why a session left the table (for the remove callback, logs and metrics).
enum class SessionEnd : uint8_t { logout, idle, admin, expired, detached_timeout };

class SessionRegistry {
 public:
  struct Options {
    uint32_t max_sessions = 10000;
    uint64_t lifetime_ns = 24ull * 3600 * 1'000'000'000;
    uint64_t detached_timeout_ns = 300ull * 1'000'000'000;
  };
  /// Called for every session that leaves the table, before it is destroyed (the handler
  /// releases the address).
  using OnRemove = std::function<void(const Session&, SessionEnd)>;

  SessionRegistry(Options options, RandomSource& random, OnRemove on_remove);

  /// A new detached session with a fresh cookie.
  /// @return the session (valid until it is removed), or Error ENOSPC (max_sessions
  ///         reached) or EIO (the RNG failed).
  Expected<Session*> create(std::string user, std::string group, std::string app, uint64_t now_ns);

  /// A session a previous control plane created, whose tunnel is still up on `worker`.
  struct Adopted {
    uint64_t id = 0;
    std::string cookie;
    std::string user, group, app;
    uint32_t worker = 0;
    uint32_t attach_seq = 0;
    uint64_t expires_ns = 0;  ///< end of its lifetime; created_ns = expires_ns - lifetime
    std::optional<uint32_t> address;
    std::string pool;
    std::string client;
  };
  /// Take `a` into the table, attached.
  /// @return the session, or Error EINVAL (id 0 or malformed cookie), ETIME (lifetime over),
  ///         EEXIST (the id or the cookie is taken) or ENOSPC (max_sessions reached).
  Expected<Session*> adopt(Adopted a, uint64_t now_ns);

  /// The live session with this cookie, or nullptr (unknown, malformed, or expired — an
  /// expired one is removed now).
  Session* find_by_cookie(std::string_view cookie, uint64_t now_ns);
  Session* find(uint64_t id);

  struct Attach {
    bool replaced = false;        ///< another tunnel of this session was up
    uint32_t old_worker = 0;      ///< its worker
    uint32_t old_attach_seq = 0;  ///< its attach_seq
  };
  /// Bind the session to a new tunnel on `worker`.
  Attach attach(Session& s, uint32_t worker);

  /// The tunnel (id, attach_seq) ended without a logout. False when it is not the current
  /// tunnel (already replaced or detached): nothing changes.
  bool detach(uint64_t id, uint32_t attach_seq, uint64_t now_ns);

  /// Remove a session (logout, idle, admin). False when unknown.
  bool remove(uint64_t id, SessionEnd why);

  /// Every tunnel is gone (dataplane restart): detach all sessions.
  void detach_all(uint64_t now_ns);

  /// Remove expired sessions. @return how many.
  size_t sweep(uint64_t now_ns);

  /// Call `fn` for every session (ctl server thread; the admin socket's listing). `fn` must
  /// not create or remove sessions.
  void for_each(const std::function<void(const Session&)>& fn) const {
    for (const auto& [id, s] : by_id_) fn(s);
  }

  /// Sessions in the table. Any thread.
  uint32_t size() const { return size_.load(std::memory_order_relaxed); }
  /// Sessions with a tunnel up. Any thread.
  uint32_t attached_count() const { return attached_.load(std::memory_order_relaxed); }

  /// True for 64 lower-case hex digits.
  static bool cookie_well_formed(std::string_view cookie);

 private:
  bool expired(const Session& s, uint64_t now_ns, SessionEnd* why) const;
  void erase(std::unordered_map<uint64_t, Session>::iterator it, SessionEnd why);
  void set_attached(Session& s, bool attached);
  void publish_size();

  Options options_;
  RandomSource& random_;
  OnRemove on_remove_;
  uint64_t id_high_ = 0;
  uint32_t next_id_low_ = 1;
  std::unordered_map<uint64_t, Session> by_id_;
  std::unordered_map<std::string, uint64_t> by_cookie_;
  // Relaxed: gauges read by the metrics thread.
  std::atomic<uint32_t> size_{0};
  std::atomic<uint32_t> attached_{0};
};

}  // namespace tg::controlplane
