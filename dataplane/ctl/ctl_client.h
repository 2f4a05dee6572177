// Dataplane: a TLS worker's client of the control plane over its own pair of rings in the
// control segment (api/ctl_segment.h). Non-blocking: submit() queues or refuses at once,
// poll() delivers what has arrived, expire() reports requests that got no answer in time.
//
// What a worker does with the outcomes (docs/auth.md "Failure behaviour"):
//   - submit() != ok: answer the client "try again" now (HTTP 503), count the reason;
//   - a response: act on it (result ok / denied / try_again / error);
//   - expire() reports a request: answer "try again" (the control plane was slow or died).
// A request therefore ends within min(request_timeout, time until the heartbeat is seen
// stale) and nothing waits for a control plane that is not there.
//
// Thread-safety: one CtlClient per worker thread, used only by that thread (it is the sole
// producer of the request ring and the sole consumer of the response ring of its channel).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "api/ctl_messages.h"
#include "api/ctl_segment.h"

namespace tg::dataplane {

class CtlClient {
 public:
  struct Options {
    uint32_t worker_id = 0;                     ///< < segment.n_workers
    uint64_t request_timeout_ns = 5'000'000'000;  ///< per request (argon2 verification is slow)
    uint64_t heartbeat_timeout_ns = shm::kCtlHeartbeatTimeoutNs;
  };

  enum class Submit : uint8_t {
    ok,
    control_plane_down,  ///< no heartbeat within heartbeat_timeout_ns (or never)
    ring_full,           ///< the request ring is full
    too_many_in_flight,  ///< kCtlMaxInFlight requests already wait for an answer
    bad_message,         ///< the message is not a request or is larger than its type says
  };

  /// Counters, read by the owning thread (e.g. to export them).
  struct Counters {
    uint64_t submitted = 0;
    uint64_t refused_down = 0;
    uint64_t refused_ring_full = 0;
    uint64_t refused_in_flight = 0;
    uint64_t refused_bad_message = 0;
    uint64_t responses = 0;       ///< answers delivered
    uint64_t notices = 0;         ///< session_terminate delivered
    uint64_t late_responses = 0;  ///< answers to expired or unknown request ids (dropped)
    uint64_t mismatched_responses = 0;  ///< answer of the wrong type (dropped; request expires)
    uint64_t timeouts = 0;        ///< requests reported by expire()
    uint64_t control_plane_attaches = 0;  ///< control planes seen by take_new_control_plane()
    std::array<uint64_t, ctl::kCtlDecodeErrorCount> decode_errors{};  ///< responses rejected
  };

  /// @param segment  a published control segment that outlives the client
  CtlClient(shm::CtlSegment& segment, Options options);

  /// True when the control plane's heartbeat is fresh at `now_ns` (CLOCK_MONOTONIC).
  bool control_plane_up(uint64_t now_ns) const;

  /// True once for every control plane this client has not seen before: its heartbeat is
  /// fresh at `now_ns` and its CtlServerBlock::start_ns differs from the last one seen (the
  /// first control plane after the dataplane started, or one that replaced a crashed or
  /// stopped one, however quickly). Such a control plane knows none of this worker's
  /// tunnels: the caller reports them (SESSION_RESYNC).
  bool take_new_control_plane(uint64_t now_ns);

  /// Queue a request. Fills msg.header's magic, version, worker_id and a new request_id
  /// (read it back from msg.header.request_id to match the answer); the caller sets the
  /// type (ctl_message_init), payload and session_id.
  /// @return ok, or why nothing was queued (the caller answers try-again and counts).
  Submit submit(ctl::CtlMessage& msg, uint64_t now_ns);

  /// Deliver up to `max` messages that have arrived: answers to pending requests and
  /// notices. Each is validated by ctl_decode(); invalid ones and late answers are counted
  /// and dropped. `on_message(const ctl::CtlMessage&)` is called for each delivered one.
  /// @return messages delivered.
  template <typename F>
  size_t poll(F&& on_message, size_t max = shm::kCtlResponseSlots) {
    size_t delivered = 0;
    while (delivered < max && next(scratch_)) {
      on_message(static_cast<const ctl::CtlMessage&>(scratch_));
      ++delivered;
    }
    return delivered;
  }

  /// Report and forget the pending requests whose deadline has passed, or all of them when
  /// the control plane is down at `now_ns`. `on_timeout(uint64_t request_id, ctl::CtlType
  /// type)` is called for each. @return requests reported.
  template <typename F>
  size_t expire(uint64_t now_ns, F&& on_timeout) {
    const bool down = !control_plane_up(now_ns);
    size_t n = 0;
    for (Pending& p : pending_) {
      if (p.request_id != 0 && (down || now_ns >= p.deadline_ns)) {
        const uint64_t id = p.request_id;
        const ctl::CtlType type = p.type;
        p.request_id = 0;
        --in_flight_;
        ++counters_.timeouts;
        ++n;
        on_timeout(id, type);
      }
    }
    return n;
  }

  size_t in_flight() const { return in_flight_; }
  const Counters& counters() const { return counters_; }
  uint32_t worker_id() const { return options_.worker_id; }

 private:
  struct Pending {
    uint64_t request_id = 0;  ///< 0 = free
    uint64_t deadline_ns = 0;
    ctl::CtlType type = ctl::CtlType::ping;
  };

  /// Pop and validate the next deliverable message into `out`. False when the ring is empty.
  bool next(ctl::CtlMessage& out);

  shm::CtlSegment& segment_;
  shm::CtlWorkerChannel& channel_;
  Options options_;
  uint64_t next_request_id_ = 1;
  uint64_t seen_start_ns_ = 0;  ///< start_ns of the last control plane seen (0 = none yet)
  size_t in_flight_ = 0;
  std::array<Pending, shm::kCtlMaxInFlight> pending_{};
  Counters counters_;
  ctl::CtlMessage scratch_{};
  std::array<uint8_t, shm::CtlResponseRing::kMaxMessageBytes> pop_buffer_{};
};

const char* ctl_submit_name(CtlClient::Submit s);

}  // namespace tg::dataplane
