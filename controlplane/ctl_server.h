// Control plane: the server side of the control segment. One thread polls every worker's
// request ring, hands each valid request to a CtlHandler, pushes the answer onto that
// worker's response ring and beats the heartbeat (api/ctl_segment.h).
//
// Life cycle: the thread (re)opens the segment every remap_interval until it exists; when
// the dataplane restarts (the name points to a new object) it drops the old mapping and
// maps the new one, telling the handler (on_dataplane_change) so it can detach tunnels that
// died with the old dataplane. When the server stops it clears the heartbeat so workers
// answer try-again at once; a restarted control plane simply maps the segment again.
//
// Never blocks on the dataplane: a full response ring drops the answer and counts it (the
// worker's request then expires into try-again). When no request arrived in a pass the
// thread sleeps idle_sleep (no busy spin).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/ctl_messages.h"
#include "api/ctl_segment.h"

namespace tg::controlplane {

class CtlSegmentMapping;

/// How a handler answers. Valid only during CtlHandler::handle().
class CtlResponder {
 public:
  virtual ~CtlResponder() = default;
  /// Send the answer to the request being handled. The server fills magic, version,
  /// worker_id and request_id; the handler sets type (ctl_message_init), session_id and the
  /// payload. At most one reply per request (later ones are ignored).
  virtual void reply(ctl::CtlMessage& msg) = 0;
  /// Send an unsolicited message (session_terminate, request_id 0) to worker `worker_id`.
  /// @return false when that worker's response ring is full or the worker is out of range.
  virtual bool notify(uint32_t worker_id, ctl::CtlMessage& msg) = 0;
};

/// Decides requests. Called only on the server thread.
class CtlHandler {
 public:
  virtual ~CtlHandler() = default;
  /// A request that passed ctl_decode() and whose worker_id is the ring's.
  virtual void handle(const ctl::CtlMessage& request, CtlResponder& out) = 0;
  /// About every tick_interval (expiry sweeps).
  virtual void on_tick(uint64_t /*now_ns*/) {}
  /// A new dataplane segment was mapped (first time, or after a dataplane restart):
  /// tunnels of the previous dataplane are gone.
  virtual void on_dataplane_change(uint64_t /*generation*/) {}
  /// This server has just mapped a segment with `n_workers` worker channels (after
  /// on_dataplane_change): each worker will report the tunnels it holds (SESSION_RESYNC,
  /// ending with a kResyncDone message), since this control plane is new to it.
  virtual void on_attach(uint32_t /*n_workers*/) {}
  /// The server thread is about to end: release what the handler's libraries keep per
  /// thread (wolfCrypt's ECC point cache).
  virtual void on_thread_exit() {}
};

class CtlServer {
 public:
  struct Options {
    std::string instance;                       ///< names the segment
    uint64_t heartbeat_interval_ns = shm::kCtlHeartbeatIntervalNs;
    /// Longest wait on the doorbell after a pass with no request (api/ctl_segment.h), and
    /// the sleep while no segment is mapped: how late a posted task (admin) may run.
    uint64_t idle_wait_ns = shm::kCtlIdleWaitNs;
    uint64_t remap_interval_ns = 500'000'000;   ///< how often to look for a (new) segment
    uint64_t tick_interval_ns = 1'000'000'000;  ///< CtlHandler::on_tick period
    uint32_t batch_per_ring = 8;                ///< requests per ring per pass (fairness)
  };

  /// Counters by request type (7 request types + "malformed") and result (4).
  static constexpr size_t kTypeSlots = 8;
  static constexpr size_t kMalformedSlot = 7;

  /// @param handler  outlives the server
  CtlServer(Options options, CtlHandler& handler);
  ~CtlServer();  ///< stop()
  CtlServer(const CtlServer&) = delete;
  CtlServer& operator=(const CtlServer&) = delete;

  /// Start the thread. Call once.
  void start();
  /// Clear the heartbeat, stop and join the thread. Idempotent.
  void stop();

  /// Work for the server thread from another thread (the admin socket): `task` runs there,
  /// between two passes over the rings, with a responder whose notify() reaches the workers
  /// of the mapped segment (false when none is mapped; reply() does nothing). Tasks run in
  /// order; tasks still queued when the server stops are destroyed without running, so the
  /// poster must not wait without a timeout. Any thread.
  using Task = std::function<void(CtlResponder&)>;
  void post(Task task);

  /// True while a segment is mapped (and locked) by this server. Any thread.
  bool attached() const { return attached_.load(std::memory_order_relaxed); }

  /// Requests answered, by type slot and result (see type_slot_name). Any thread.
  uint64_t requests(size_t type_slot, ctl::CtlResult result) const;
  /// Label of a type slot: "auth_password", ..., "ping", "auth_token", "session_resync",
  /// "malformed".
  static const char* type_slot_name(size_t type_slot);
  uint64_t responses_dropped() const { return responses_dropped_.load(std::memory_order_relaxed); }
  uint64_t remaps() const { return remaps_.load(std::memory_order_relaxed); }

 private:
  class Responder;
  void run();
  /// Serve up to batch_per_ring requests of one worker. @return requests taken.
  uint32_t serve_ring(uint32_t worker, Responder& responder);
  void count(size_t type_slot, ctl::CtlResult result);
  void run_tasks(Responder& responder);
  /// After a pass with no request: wait for the doorbell until `until_ns` (at most
  /// idle_wait_ns), unless a request or a task is already waiting.
  void idle_wait(uint64_t now_ns, uint64_t until_ns);
  /// The mapped segment's server block (nullptr: none) for post() to ring; server thread.
  void set_doorbell(shm::CtlServerBlock* server);
  /// Ring the mapped segment's doorbell, if any; tasks_mutex_ held.
  void wake_locked();

  Options options_;
  CtlHandler& handler_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<CtlSegmentMapping> mapping_;  ///< server thread only
  // Relaxed: independent monotonic counters / a status flag, read only for reporting.
  std::atomic<bool> attached_{false};
  std::array<std::array<std::atomic<uint64_t>, ctl::kCtlResultCount>, kTypeSlots> requests_{};
  std::atomic<uint64_t> responses_dropped_{0};
  std::atomic<uint64_t> remaps_{0};
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;  ///< guarded by tasks_mutex_
  /// The doorbell of mapping_'s segment, for post(); guarded by tasks_mutex_ (set before a
  /// segment is used, cleared before it is unmapped).
  shm::CtlServerBlock* doorbell_ = nullptr;
  std::array<uint8_t, shm::CtlRequestRing::kMaxMessageBytes> pop_buffer_{};
  ctl::CtlMessage request_{};
};

}  // namespace tg::controlplane
