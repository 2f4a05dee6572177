// Control plane: the control-segment server thread. See ctl_server.h.
#include "controlplane/ctl_server.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "controlplane/ctl_segment_mapping.h"
#include "controlplane/log.h"

namespace tg::controlplane {

namespace {

void sleep_ns(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

size_t type_slot_of(uint16_t type) {
  switch (static_cast<ctl::CtlType>(type)) {
    case ctl::CtlType::auth_password: return 0;
    case ctl::CtlType::auth_cert: return 1;
    case ctl::CtlType::session_open: return 2;
    case ctl::CtlType::session_close: return 3;
    case ctl::CtlType::ping: return 4;
    case ctl::CtlType::auth_token: return 5;
    case ctl::CtlType::session_resync: return 6;
    default: return CtlServer::kMalformedSlot;
  }
}

/// The result an answer carries, for the counters.
ctl::CtlResult result_of(const ctl::CtlMessage& m) {
  switch (static_cast<ctl::CtlType>(m.header.type)) {
    case ctl::CtlType::auth_result: return static_cast<ctl::CtlResult>(m.payload.auth_result.result);
    case ctl::CtlType::session_params:
      return static_cast<ctl::CtlResult>(m.payload.session_params.result);
    case ctl::CtlType::session_close_ack:
      return static_cast<ctl::CtlResult>(m.payload.session_close_ack.result);
    case ctl::CtlType::session_resync_ack:
      return static_cast<ctl::CtlResult>(m.payload.session_resync_ack.result);
    case ctl::CtlType::pong: return ctl::CtlResult::ok;
    default: return ctl::CtlResult::error;
  }
}

}  // namespace

class CtlServer::Responder final : public CtlResponder {
 public:
  explicit Responder(CtlServer& server) : server_(server) {}

  /// `seg` may be null (no segment mapped: notify() fails).
  void begin(shm::CtlSegment* seg, uint32_t n_workers, const ctl::CtlHeader& request) {
    seg_ = seg;
    n_workers_ = n_workers;
    request_ = request;
    replied_ = false;
  }
  /// For a posted task: notify() works, reply() is ignored (there is no request).
  void begin_task(shm::CtlSegment* seg, uint32_t n_workers) {
    begin(seg, n_workers, ctl::CtlHeader{});
    replied_ = true;
  }
  bool replied() const { return replied_; }

  void reply(ctl::CtlMessage& msg) override {
    if (replied_) return;
    replied_ = true;
    msg.header.magic = ctl::kCtlMagic;
    msg.header.version = ctl::kCtlVersion;
    msg.header.worker_id = request_.worker_id;
    msg.header.request_id = request_.request_id;
    server_.count(type_slot_of(request_.type), result_of(msg));
    push(request_.worker_id, msg);
  }

  bool notify(uint32_t worker_id, ctl::CtlMessage& msg) override {
    if (seg_ == nullptr || worker_id >= n_workers_) return false;
    msg.header.magic = ctl::kCtlMagic;
    msg.header.version = ctl::kCtlVersion;
    msg.header.worker_id = worker_id;
    msg.header.request_id = 0;
    return push(worker_id, msg);
  }

 private:
  bool push(uint32_t worker_id, const ctl::CtlMessage& msg) {
    if (!seg_->workers[worker_id].responses.try_push(ctl::ctl_message_bytes(msg))) {
      server_.responses_dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  CtlServer& server_;
  shm::CtlSegment* seg_ = nullptr;
  uint32_t n_workers_ = 0;
  ctl::CtlHeader request_{};
  bool replied_ = false;
};

CtlServer::CtlServer(Options options, CtlHandler& handler)
    : options_(std::move(options)), handler_(handler) {}

CtlServer::~CtlServer() { stop(); }

void CtlServer::start() { thread_ = std::thread([this] { run(); }); }

void CtlServer::stop() {
  stop_.store(true, std::memory_order_relaxed);
  {
    const std::lock_guard<std::mutex> lock(tasks_mutex_);
    wake_locked();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t CtlServer::requests(size_t type_slot, ctl::CtlResult result) const {
  const auto r = static_cast<size_t>(result);
  if (type_slot >= kTypeSlots || r >= ctl::kCtlResultCount) return 0;
  return requests_[type_slot][r].load(std::memory_order_relaxed);
}

const char* CtlServer::type_slot_name(size_t type_slot) {
  static constexpr const char* kNames[kTypeSlots] = {"auth_password", "auth_cert", "session_open",
                                                     "session_close", "ping", "auth_token",
                                                     "session_resync", "malformed"};
  return type_slot < kTypeSlots ? kNames[type_slot] : "unknown";
}

void CtlServer::post(Task task) {
  const std::lock_guard<std::mutex> lock(tasks_mutex_);
  tasks_.push_back(std::move(task));
  wake_locked();
}

void CtlServer::wake_locked() {
  // The server thread may sleep on the segment's doorbell (idle_wait): wake it instead of
  // leaving a task or a stop for the end of its wait (up to idle_wait_ns).
  if (doorbell_ != nullptr) shm::ctl_doorbell_ring(*doorbell_);
}

void CtlServer::set_doorbell(shm::CtlServerBlock* server) {
  const std::lock_guard<std::mutex> lock(tasks_mutex_);
  doorbell_ = server;
}

void CtlServer::run_tasks(Responder& responder) {
  std::vector<Task> tasks;
  {
    const std::lock_guard<std::mutex> lock(tasks_mutex_);
    if (tasks_.empty()) return;
    tasks.swap(tasks_);
  }
  for (Task& t : tasks) {
    responder.begin_task(mapping_ ? &mapping_->segment() : nullptr,
                         mapping_ ? mapping_->n_workers() : 0);
    t(responder);
  }
}

void CtlServer::count(size_t type_slot, ctl::CtlResult result) {
  const auto r = static_cast<size_t>(result);
  if (type_slot < kTypeSlots && r < ctl::kCtlResultCount) {
    requests_[type_slot][r].fetch_add(1, std::memory_order_relaxed);
  }
}

uint32_t CtlServer::serve_ring(uint32_t worker, Responder& responder) {
  shm::CtlSegment& seg = mapping_->segment();
  shm::CtlRequestRing& ring = seg.workers[worker].requests;
  uint32_t length = 0;
  uint32_t served = 0;
  for (; served < options_.batch_per_ring && ring.try_pop(pop_buffer_, length); ++served) {
    const ctl::CtlDecodeError err =
        ctl::ctl_decode(std::span<const uint8_t>(pop_buffer_.data(), length),
                        ctl::CtlDirection::to_control_plane, request_);
    const bool header_usable = err >= ctl::CtlDecodeError::truncated_payload &&
                               err != ctl::CtlDecodeError::bad_request_id &&
                               err != ctl::CtlDecodeError::bad_worker_id;
    if (err == ctl::CtlDecodeError::ok && request_.header.worker_id == worker) {
      responder.begin(&seg, mapping_->n_workers(), request_.header);
      handler_.handle(request_, responder);
      if (!responder.replied()) {  // a handler bug must not leave the worker waiting
        ctl::CtlMessage m;
        ctl::ctl_message_init(m, ctl::CtlType::error);
        m.payload.error.reason = static_cast<uint16_t>(ctl::CtlReason::internal);
        ctl::ctl_set_string(m.payload.error.reason_text, "request not answered");
        responder.reply(m);
      }
      continue;
    }
    // Rejected. Answer with ERROR when the header says whom to answer (so the worker fails
    // fast instead of timing out); otherwise only count.
    if (err == ctl::CtlDecodeError::ok || header_usable) {
      ctl::CtlMessage m;
      ctl::ctl_message_init(m, ctl::CtlType::error);
      m.header.session_id = request_.header.session_id;
      m.payload.error.decode_error = static_cast<uint16_t>(
          err == ctl::CtlDecodeError::ok ? ctl::CtlDecodeError::bad_worker_id : err);
      m.payload.error.reason = static_cast<uint16_t>(ctl::CtlReason::malformed_request);
      ctl::ctl_set_string(m.payload.error.reason_text,
                          ctl::ctl_decode_error_name(static_cast<ctl::CtlDecodeError>(
                              m.payload.error.decode_error)));
      m.header.magic = ctl::kCtlMagic;
      m.header.version = ctl::kCtlVersion;
      m.header.worker_id = worker;  // the ring says who sent it, whatever the header claims
      m.header.request_id = request_.header.request_id;
      count(kMalformedSlot, ctl::CtlResult::error);
      if (!seg.workers[worker].responses.try_push(ctl::ctl_message_bytes(m))) {
        responses_dropped_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      count(kMalformedSlot, ctl::CtlResult::error);
    }
  }
  return served;
}

void CtlServer::idle_wait(uint64_t now_ns, uint64_t until_ns) {
  if (until_ns <= now_ns) return;
  const uint64_t wait = std::min(until_ns - now_ns, options_.idle_wait_ns);
  if (!mapping_) {
    sleep_ns(wait);
    return;
  }
  shm::CtlSegment& seg = mapping_->segment();
  // The value first, then the rings and tasks: a request pushed (or a task posted) after
  // this load rings a new value, so the wait below returns at once or is woken
  // (api/ctl_segment.h).
  const uint32_t seen = shm::ctl_doorbell_prepare_wait(seg.server);
  bool work = false;
  for (uint32_t w = 0; w < mapping_->n_workers() && !work; ++w) work = seg.workers[w].requests.size() != 0;
  if (!work) {
    const std::lock_guard<std::mutex> lock(tasks_mutex_);
    work = !tasks_.empty();
  }
  shm::ctl_doorbell_wait(seg.server, seen, work ? 0 : wait);
}

void CtlServer::run() {
  Responder responder(*this);
  uint64_t next_remap_check = 0;
  uint64_t next_beat = 0;
  uint64_t next_tick = 0;
  std::string last_open_error;
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t now = monotonic_now_ns();
    if (now >= next_remap_check) {
      next_remap_check = now + options_.remap_interval_ns;
      if (mapping_ && !mapping_->still_current()) {
        log_line("info", "ctl segment replaced or removed: re-mapping",
                 {{"segment", shm::ctl_shm_name(options_.instance)}});
        set_doorbell(nullptr);
        mapping_.reset();
        attached_.store(false, std::memory_order_relaxed);
      }
      if (!mapping_) {
        auto opened = CtlSegmentMapping::open(options_.instance);
        if (opened) {
          mapping_ = std::move(*opened);
          shm::CtlServerBlock& sb = mapping_->segment().server;
          set_doorbell(&sb);
          // relaxed: diagnostics only; the heartbeat below is what workers act on.
          sb.pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
          sb.start_ns.store(now, std::memory_order_relaxed);
          attached_.store(true, std::memory_order_relaxed);
          remaps_.fetch_add(1, std::memory_order_relaxed);
          last_open_error.clear();
          next_beat = 0;
          log_line("info", "serving ctl segment",
                   {{"segment", shm::ctl_shm_name(options_.instance)},
                    {"workers", std::to_string(mapping_->n_workers())}});
          handler_.on_dataplane_change(mapping_->generation());
          handler_.on_attach(mapping_->n_workers());
        } else if (opened.error().message != last_open_error) {
          // ENOENT is the normal "dataplane not started"; log each distinct problem once.
          last_open_error = opened.error().message;
          log_line(opened.error().code == ENOENT ? "info" : "warn", "ctl segment not served",
                   {{"error", last_open_error}});
        }
      }
    }
    uint32_t served = 0;
    if (mapping_) {
      if (now >= next_beat) {
        // release: pairs with the workers' acquire load in ctl_server_alive().
        mapping_->segment().server.heartbeat_ns.store(now, std::memory_order_release);
        next_beat = now + options_.heartbeat_interval_ns;
      }
      for (uint32_t w = 0; w < mapping_->n_workers(); ++w) served += serve_ring(w, responder);
    }
    run_tasks(responder);
    now = monotonic_now_ns();
    if (now >= next_tick) {
      next_tick = now + options_.tick_interval_ns;
      handler_.on_tick(now);
    }
    if (served == 0) idle_wait(now, std::min({next_beat, next_tick, next_remap_check}));
  }
  if (mapping_) {
    // release: workers that see 0 treat the control plane as down at once.
    mapping_->segment().server.heartbeat_ns.store(0, std::memory_order_release);
    set_doorbell(nullptr);
    mapping_.reset();
    attached_.store(false, std::memory_order_relaxed);
  }
  handler_.on_thread_exit();
}

}  // namespace tg::controlplane
