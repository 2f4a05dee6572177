// The TLS worker loop. Runs on one TLS worker thread (see README.md for the thread layout).
#include "dataplane/tls/tls_worker.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstring>

namespace tg::dp::tls {
namespace {

// epoll user data: connection ids never reach these (48-bit sequence under a 16-bit index).
constexpr uint64_t kListenerTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;
constexpr uint64_t kRingTag = ~uint64_t{0} - 4;  // the SocketRing has completions (its own tags: -2, -3)
constexpr int kMaxEvents = 64;
// Output buffers above this are freed once they drain (a burst must not pin memory).
constexpr size_t kKeepOutputCapacity = 64 * 1024;

PeerAddress peer_from_sockaddr(const sockaddr_storage& ss) {
  PeerAddress peer;
  if (ss.ss_family == AF_INET) {
    const auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
    peer.address = config::IpAddr::from_v4_host(ntohl(sin.sin_addr.s_addr));
    peer.port = ntohs(sin.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
    peer.address.family = config::IpAddr::Family::v6;
    std::memcpy(peer.address.bytes.data(), &sin6.sin6_addr, 16);
    peer.port = ntohs(sin6.sin6_port);
  }
  return peer;
}

HandshakeFailure classify_handshake_error(int error, const Connection& /*c*/, bool peer_eof,
                                          int io_errno) {
  if (peer_eof) return HandshakeFailure::peer_closed;
  if (io_errno != 0) return HandshakeFailure::io_error;
  switch (error) {
    case MATCH_SUITE_ERROR: return HandshakeFailure::no_shared_cipher;
    case VERSION_ERROR: return HandshakeFailure::version;
    case VERIFY_CERT_ERROR:
    case NO_PEER_CERT:
    case SIG_VERIFY_E: return HandshakeFailure::client_cert_rejected;
    case SOCKET_PEER_CLOSED_E: return HandshakeFailure::peer_closed;
    case SOCKET_ERROR_E: return HandshakeFailure::io_error;
    default: return HandshakeFailure::protocol_error;
  }
}

}  // namespace

// ------------------------------------------------------------------ names of the tables

std::string_view to_string(HandshakeFailure failure) {
  switch (failure) {
#define TG_X(name, help) case HandshakeFailure::name: return #name;
    TG_TLS_HANDSHAKE_FAILURES(TG_X)
#undef TG_X
  }
  return "?";
}
std::string_view help_text(HandshakeFailure failure) {
  switch (failure) {
#define TG_X(name, help) case HandshakeFailure::name: return help;
    TG_TLS_HANDSHAKE_FAILURES(TG_X)
#undef TG_X
  }
  return "?";
}
std::string_view to_string(CloseReason reason) {
  switch (reason) {
#define TG_X(name, help) case CloseReason::name: return #name;
    TG_TLS_CLOSE_REASONS(TG_X)
#undef TG_X
  }
  return "?";
}
std::string_view help_text(CloseReason reason) {
  switch (reason) {
#define TG_X(name, help) case CloseReason::name: return help;
    TG_TLS_CLOSE_REASONS(TG_X)
#undef TG_X
  }
  return "?";
}

// ------------------------------------------------------------------ wolfSSL I/O callbacks

/// wolfSSL reads the socket directly, but writes into the connection's output buffer: a
/// write never returns WANT_WRITE, so wolfSSL_write never has to be repeated with the same
/// arguments, and the pending output (what backpressure bounds) is ours to measure.
struct ConnectionIo {
  static int recv(WOLFSSL* /*ssl*/, char* buf, int size, void* arg) {
    auto& c = *static_cast<Connection*>(arg);
    const ssize_t n = c.worker_.socket_recv(c, buf, static_cast<size_t>(size));
    if (n > 0) {
      c.worker_.counters_.wire_bytes_in.add(static_cast<uint64_t>(n));
      return static_cast<int>(n);
    }
    if (n == 0) {
      c.peer_eof_ = true;
      return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    }
    if (n == -EAGAIN || n == -EWOULDBLOCK) return WOLFSSL_CBIO_ERR_WANT_READ;
    c.io_errno_ = static_cast<int>(-n);
    return n == -ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
  }

  static int send(WOLFSSL* /*ssl*/, char* buf, int size, void* arg) {
    auto& c = *static_cast<Connection*>(arg);
    c.out_.insert(c.out_.end(), buf, buf + size);
    c.worker_.counters_.max_pending_output.raise_to(c.pending_output());
    c.worker_.mark_dirty(c);  // so settle() flushes it
    return size;
  }
};

// ------------------------------------------------------------------ Connection

Connection::Connection(TlsWorker& worker, ConnectionId id, int fd, PeerAddress peer)
    : worker_(worker), id_(id), fd_(fd), peer_(peer) {}

Connection::~Connection() {
  // destroy() normally released both; this covers a worker destroyed without run().
  if (ssl_ != nullptr) wolfSSL_free(ssl_);
  if (fd_ >= 0 && !worker_.ring_) ::close(fd_);  // a ring's slots close with the ring
}

bool Connection::is_open() const { return state_ == State::open && !close_requested_; }

bool Connection::send(std::span<const uint8_t> data) {
  assert(worker_.on_worker_thread());
  if (!is_open() || pending_output() > worker_.options_.max_pending_output) {
    worker_.counters_.sends_refused.add();
    if (is_open()) wants_writable_ = true;
    return false;
  }
  size_t done = 0;
  while (done < data.size()) {
    const int chunk = static_cast<int>(std::min<size_t>(data.size() - done, INT_MAX / 2));
    const int ret = wolfSSL_write(ssl_, data.data() + done, chunk);
    if (ret <= 0) {
      close(CloseReason::protocol_error);
      worker_.counters_.sends_refused.add();
      return false;
    }
    done += static_cast<size_t>(ret);
  }
  worker_.counters_.bytes_out.add(data.size());
  return true;
}

void Connection::close(CloseReason reason) {
  assert(worker_.on_worker_thread());
  if (!close_requested_) close_requested_ = reason;
  worker_.mark_dirty(*this);
}

bool Connection::export_keying_material(std::string_view label,
                                        std::optional<std::span<const uint8_t>> context,
                                        std::span<uint8_t> out) const {
  if (!opened_ || state_ == State::dead || ssl_ == nullptr) return false;
  const int ret = wolfSSL_export_keying_material(
      ssl_, out.data(), out.size(), label.data(), label.size(),
      context ? context->data() : nullptr, context ? context->size() : 0, context ? 1 : 0);
  return ret == WOLFSSL_SUCCESS;
}

// ------------------------------------------------------------------ options, listener

uint64_t tls_connections_max(uint32_t max_sessions) {
  return uint64_t{max_sessions} + max_sessions / 16 + 64;
}

std::string_view to_string(TlsIo io) { return io == TlsIo::io_uring ? "io_uring" : "epoll"; }

TlsIo tls_io_for(const config::Config& config, uint64_t nofile, uint64_t reserved) {
  if (config.dataplane.tls_io == "io_uring") return TlsIo::io_uring;
  if (config.dataplane.tls_io == "epoll") return TlsIo::epoll;
  return nofile >= tls_connections_max(config.limits.max_sessions) + reserved ? TlsIo::epoll : TlsIo::io_uring;
}

TlsWorkerOptions TlsWorkerOptions::from_config(const config::Config& config, uint32_t worker_index,
                                               uint32_t worker_count) {
  TlsWorkerOptions options;
  options.worker_index = worker_index;
  const uint32_t workers = std::max<uint32_t>(worker_count, 1);
  options.max_connections = static_cast<uint32_t>(tls_connections_max(config.limits.max_sessions) / workers + 1);
  options.request_timeout = std::chrono::seconds(config.limits.request_timeout_s);
  options.io = config.dataplane.tls_io == "io_uring" ? TlsIo::io_uring : TlsIo::epoll;
  return options;
}

ListenResult tls_listen(const config::IpAddr& address, uint16_t port, int backlog) {
  ListenResult result;
  const std::string where = config::to_string(address) + " port " + std::to_string(port);
  sockaddr_storage ss{};
  socklen_t length = 0;
  if (address.is_v4()) {
    auto& sin = reinterpret_cast<sockaddr_in&>(ss);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(address.v4_host());
    length = sizeof sin;
  } else {
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    std::memcpy(&sin6.sin6_addr, address.bytes.data(), 16);
    length = sizeof sin6;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    result.error = "listen " + where + ": socket: " + std::strerror(errno);
    return result;
  }
  const int one = 1;
  // TCP_NODELAY: records, not a byte stream; accepted sockets inherit it.
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    result.error = "listen " + where + ": setsockopt: " + std::strerror(errno);
    ::close(fd);
    return result;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), length) != 0 || ::listen(fd, backlog) != 0) {
    result.error = "listen " + where + ": " + std::strerror(errno);
    ::close(fd);
    return result;
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  result.port = peer_from_sockaddr(bound).port;
  result.fd = fd;
  return result;
}

// ------------------------------------------------------------------ TlsWorker: life cycle

TlsWorker::TlsWorker(const TlsWorkerOptions& options, const TlsContextHolder& contexts,
                     TlsHandler& handler, int listen_fd)
    : options_(options), contexts_(contexts), handler_(handler), listen_fd_(listen_fd) {}

TlsWorkerResult TlsWorker::create(const TlsWorkerOptions& options,
                                  const TlsContextHolder& contexts, TlsHandler& handler,
                                  int listen_fd) {
  TlsWorkerResult result;
  std::unique_ptr<TlsWorker> worker(new TlsWorker(options, contexts, handler, listen_fd));
  if (options.worker_index > 0xFFFF) {
    result.error = "tls worker: worker_index " + std::to_string(options.worker_index) + " > 65535";
    return result;  // the worker's destructor closes listen_fd
  }
  worker->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  worker->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (worker->epoll_fd_ < 0 || worker->wake_fd_ < 0) {
    result.error = std::string("tls worker: epoll/eventfd: ") + std::strerror(errno);
    return result;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(worker->epoll_fd_, EPOLL_CTL_ADD, worker->wake_fd_, &ev) != 0) {
    result.error = std::string("tls worker: epoll_ctl(eventfd): ") + std::strerror(errno);
    return result;
  }
  if (options.io == TlsIo::io_uring) {
    std::string error;
    worker->ring_ = SocketRing::create(options.max_connections, error);
    if (!worker->ring_) {
      result.error = "tls worker: " + error;
      return result;
    }
    ev.events = EPOLLIN;
    ev.data.u64 = kRingTag;
    if (::epoll_ctl(worker->epoll_fd_, EPOLL_CTL_ADD, worker->ring_->ring_fd(), &ev) != 0) {
      result.error = std::string("tls worker: epoll_ctl(io_uring): ") + std::strerror(errno);
      return result;
    }
  }
  if (listen_fd >= 0) {
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag;
    if (::epoll_ctl(worker->epoll_fd_, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
      result.error = std::string("tls worker: epoll_ctl(listener): ") + std::strerror(errno);
      return result;
    }
  }
  result.worker = std::move(worker);
  return result;
}

TlsWorker::~TlsWorker() {
  connections_.clear();  // Connection's destructor frees the session and closes the socket
  ring_.reset();         // closes the sockets still in its table
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool TlsWorker::on_worker_thread() const {
  // Before run() (owner_ unset) the creating thread may still set things up.
  return owner_ == std::thread::id() || owner_ == std::this_thread::get_id();
}

void TlsWorker::stop() {
  // release: pairs with the acquire load in run(); then wake() so a sleeping worker sees it.
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void TlsWorker::wake() {
  // seq_cst store then seq_cst load (Dekker): either the worker's load of wake_pending_
  // (after it stored sleeping_ = true) sees this store and skips sleeping, or this load
  // sees sleeping_ == true and the eventfd write interrupts epoll_wait. Without seq_cst
  // both loads could see the old values and the wakeup would be lost until the next tick.
  wake_pending_.store(true, std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst)) {
    const uint64_t one = 1;
    // EAGAIN only when the counter is saturated: a wakeup is pending anyway.
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
}

void TlsWorker::run() {
  owner_ = std::this_thread::get_id();
  epoll_event events[kMaxEvents];
  now_ = Clock::now();
  Clock::time_point next_tick = now_ + options_.tick;
  bool awaiting = handler_.on_pass(*this);  // answers that cannot wake us are awaited

  while (!stop_requested_.load(std::memory_order_acquire)) {
    int timeout_ms = 0;
    if (ring_) ring_->submit();  // the polls armed during the last pass
    if (ready_.empty() && !(ring_ && ring_->has_events())) {
      const Clock::duration until_tick = next_tick - now_;
      const Clock::duration sleep = awaiting ? std::min(until_tick, options_.await_poll) : until_tick;
      const auto sleep_ms = std::chrono::ceil<std::chrono::milliseconds>(sleep);
      timeout_ms = static_cast<int>(std::max<int64_t>(sleep_ms.count(), 0));
    }
    if (timeout_ms > 0) {
      sleeping_.store(true, std::memory_order_seq_cst);  // see wake()
      if (wake_pending_.load(std::memory_order_seq_cst) ||
          stop_requested_.load(std::memory_order_acquire)) {
        timeout_ms = 0;
      }
    }
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    // relaxed: only an optimisation for wakers (a stale true costs one eventfd write).
    sleeping_.store(false, std::memory_order_relaxed);
    now_ = Clock::now();

    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t count;
        [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
      } else if (tag == kListenerTag) {
        accept_ready(now_);
      } else if (tag == kRingTag) {
        // ring_events() below, for every pass: calls may have collected completions too.
      } else if (auto it = connections_.find(tag); it != connections_.end()) {
        dispatch(*it->second, events[i].events);
      }
    }
    if (ring_) ring_events();
    // acquire: what the waker wrote before wake() is visible to on_wake.
    if (wake_pending_.exchange(false, std::memory_order_acquire)) {
      counters_.wakeups.add();
      handler_.on_wake(*this);
      settle_dirty();
    }
    // Connections whose read budget ran out, or that resumed after backpressure.
    if (!ready_.empty()) {
      std::vector<ConnectionId> again;
      again.swap(ready_);
      for (ConnectionId id : again) {
        if (auto it = connections_.find(id); it != connections_.end()) {
          Connection& c = *it->second;
          c.in_ready_list_ = false;
          if (c.state_ == Connection::State::open) read_pass(c);
          settle(c);
        }
      }
      settle_dirty();
    }
    if (now_ >= next_tick) {
      tick(now_);
      next_tick = now_ + options_.tick;
    }
    awaiting = handler_.on_pass(*this);
    settle_dirty();
    for (ConnectionId id : dead_) connections_.erase(id);
    dead_.clear();
  }
  shutdown_all();
  tls_thread_exit();  // this thread's ECC cache (see tls_context.h)
}

void TlsWorker::shutdown_all() {
  for (auto& [id, connection] : connections_) {
    Connection& c = *connection;
    if (c.state_ == Connection::State::dead) continue;
    if (c.state_ == Connection::State::open) {
      // Best effort: close_notify and whatever output the socket takes now; no lingering.
      begin_close(c, CloseReason::worker_stopping);
    }
    if (c.state_ != Connection::State::dead) destroy(c, CloseReason::worker_stopping);
  }
  connections_.clear();
  dead_.clear();
  dirty_.clear();
  ready_.clear();
  if (listen_fd_ >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

// ------------------------------------------------------------------ accept

void TlsWorker::accept_ready(Clock::time_point now) {
  (void)now;
  for (uint32_t i = 0; i < options_.accept_batch; ++i) {
    sockaddr_storage ss{};
    socklen_t length = sizeof ss;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      counters_.accept_errors.add();
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The pending connection stays queued and the listener stays readable: stop
        // polling it until the next tick instead of spinning.
        epoll_event ev{};
        ev.data.u64 = kListenerTag;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_ = true;
      }
      return;
    }
    adopt(fd, peer_from_sockaddr(ss));
  }
}

bool TlsWorker::adopt(int fd, const PeerAddress& peer) {
  assert(on_worker_thread());
  counters_.accepted.add();
  if (counters_.connections.get() >= options_.max_connections) {
    counters_.rejected_over_limit.add();
    ::close(fd);
    return false;
  }
  const int one = 1;  // the listener's sockets inherit it; adopt() also takes others
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ring_) {
    // From here on the connection is a slot, not a descriptor (socket_ring.h).
    const int slot = ring_->install(fd);
    ::close(fd);
    if (slot < 0) {
      counters_.accept_errors.add();
      return false;
    }
    fd = slot;
  }

  // A SessionRef with app 0 (dataplane/session_table.h): worker in the top byte.
  const ConnectionId id = (uint64_t{options_.worker_index} << 56) | next_sequence_++;
  std::unique_ptr<Connection> owned(new Connection(*this, id, fd, peer));
  Connection& c = *owned;
  c.context_ = contexts_.current();
  c.ssl_ = c.context_ ? wolfSSL_new(c.context_->native()) : nullptr;
  if (c.ssl_ == nullptr) {
    counters_.handshakes_failed[static_cast<size_t>(HandshakeFailure::out_of_memory)].add();
    socket_close(c);
    return false;
  }
  wolfSSL_SSLSetIORecv(c.ssl_, &ConnectionIo::recv);
  wolfSSL_SSLSetIOSend(c.ssl_, &ConnectionIo::send);
  wolfSSL_SetIOReadCtx(c.ssl_, &c);
  wolfSSL_SetIOWriteCtx(c.ssl_, &c);
  tls_session_attach(c.ssl_, &c.verdict_);
  if (options_.keep_handshake_arrays) wolfSSL_KeepArrays(c.ssl_);

  if (ring_) {
    ring_->arm(fd, id, EPOLLIN);
    c.poll_armed_ = true;
  } else {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      counters_.accept_errors.add();
      return false;  // `owned` closes the socket
    }
  }
  c.epoll_events_ = EPOLLIN;
  c.deadline_ = now_ + options_.request_timeout;
  c.idle_timeout_ = options_.idle_timeout;
  watch(c);
  if (c.idle_timeout_ > Clock::duration::zero()) watch_idle(c);
  c.last_input_ = now_;
  connections_.emplace(id, std::move(owned));
  counters_.connections.add();
  // The ClientHello often arrives with the connection: try at once, saving an epoll round.
  handshake(c);
  settle(c);
  settle_dirty();
  return true;
}

// ------------------------------------------------------------------ per-connection events

void TlsWorker::dispatch(Connection& c, uint32_t events) {
  if (c.state_ == Connection::State::dead) return;
  if (events & EPOLLOUT) flush(c);
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    switch (c.state_) {
      case Connection::State::handshaking: handshake(c); break;
      case Connection::State::open:
        if (!c.reading_paused_) read_pass(c);
        break;
      case Connection::State::draining: drain_after_shutdown(c); break;
      case Connection::State::closing:
        // Only HUP/ERR reach here (no EPOLLIN interest while flushing): the next flush
        // reports the error.
        if (events & (EPOLLHUP | EPOLLERR)) flush(c);
        break;
      case Connection::State::dead: break;
    }
  }
  settle(c);
  settle_dirty();
}

void TlsWorker::handshake(Connection& c) {
  const int ret = wolfSSL_accept(c.ssl_);
  flush(c);
  if (ret == WOLFSSL_SUCCESS) {
    c.state_ = Connection::State::open;
    c.opened_ = true;
    c.last_input_ = now_;
    if (const char* v = wolfSSL_get_version(c.ssl_)) c.tls_version_ = v;
    if (const char* name = wolfSSL_get_cipher_name(c.ssl_)) c.cipher_ = name;
    c.client_cert_ = tls_session_client_cert(c.ssl_, *c.context_, c.verdict_);
    counters_.handshakes_ok.add();
    counters_.established.add();
    note_heap_churn(1);
    handler_.on_open(c);
    // TLS 1.3 clients may send data right behind their Finished: it is in wolfSSL's buffer
    // or the socket already, and epoll may not report it again.
    if (c.is_open()) read_pass(c);
    return;
  }
  const int error = wolfSSL_get_error(c.ssl_, ret);
  if (error == WOLFSSL_ERROR_WANT_READ || error == WOLFSSL_ERROR_WANT_WRITE) {
    if (c.peer_eof_) fail_handshake(c, HandshakeFailure::peer_closed);
    return;
  }
  fail_handshake(c, classify_handshake_error(error, c, c.peer_eof_, c.io_errno_));
}

void TlsWorker::fail_handshake(Connection& c, HandshakeFailure failure) {
  counters_.handshakes_failed[static_cast<size_t>(failure)].add();
  flush(c);  // wolfSSL may have queued an alert: one attempt, no lingering for a failed peer
  destroy(c, std::nullopt);
}

void TlsWorker::read_pass(Connection& c) {
  size_t budget = options_.read_budget;
  while (c.state_ == Connection::State::open && !c.close_requested_) {
    if (c.pending_output() > options_.max_pending_output) {
      // Backpressure: the client does not read what it causes us to send. Stop reading
      // (its TCP window then closes) until the output drains below half the bound.
      if (!c.reading_paused_) {
        c.reading_paused_ = true;
        c.wants_writable_ = true;
        counters_.backpressure_events.add();
      }
      return;
    }
    const int n = wolfSSL_read(c.ssl_, read_buffer_.data(), static_cast<int>(read_buffer_.size()));
    if (n > 0) {
      counters_.bytes_in.add(static_cast<uint64_t>(n));
      c.last_input_ = now_;
      handler_.on_data(c, std::span<const uint8_t>(read_buffer_.data(), static_cast<size_t>(n)));
      if (budget <= static_cast<size_t>(n)) {
        mark_ready(c);  // more may be waiting: come back after the other connections
        return;
      }
      budget -= static_cast<size_t>(n);
      continue;
    }
    const int error = wolfSSL_get_error(c.ssl_, n);
    if (error == WOLFSSL_ERROR_WANT_READ || error == WOLFSSL_ERROR_WANT_WRITE) {
      if (c.peer_eof_) c.close(CloseReason::peer_closed);
      return;
    }
    if (error == WOLFSSL_ERROR_ZERO_RETURN || c.peer_eof_ || error == SOCKET_PEER_CLOSED_E) {
      c.close(CloseReason::peer_closed);
    } else if (c.io_errno_ != 0 || error == SOCKET_ERROR_E) {
      destroy(c, CloseReason::io_error);
    } else {
      c.close(CloseReason::protocol_error);
    }
    return;
  }
}

void TlsWorker::drain_after_shutdown(Connection& c) {
  // Our write side is shut; read and discard until the client closes, so closing never
  // turns unread input into an RST that could destroy the response we just sent.
  for (;;) {
    const ssize_t n = socket_recv(c, read_buffer_.data(), read_buffer_.size());
    if (n > 0) continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    destroy(c, std::nullopt);  // EOF or error: done
    return;
  }
}

void TlsWorker::flush(Connection& c) {
  while (c.pending_output() > 0 && c.io_errno_ == 0) {
    const ssize_t n = socket_send(c, c.out_.data() + c.out_head_, c.pending_output());
    if (n > 0) {
      counters_.wire_bytes_out.add(static_cast<uint64_t>(n));
      c.out_head_ += static_cast<size_t>(n);
      continue;
    }
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    c.io_errno_ = n < 0 ? static_cast<int>(-n) : EPIPE;
  }
  if (c.out_head_ == c.out_.size()) {
    c.out_head_ = 0;
    if (c.out_.capacity() > kKeepOutputCapacity) {
      std::vector<uint8_t>().swap(c.out_);
    } else {
      c.out_.clear();
    }
  } else if (c.out_head_ > kKeepOutputCapacity && c.out_head_ * 2 > c.out_.size()) {
    // Compact: the sent prefix is more than half the buffer.
    c.out_.erase(c.out_.begin(), c.out_.begin() + static_cast<std::ptrdiff_t>(c.out_head_));
    c.out_head_ = 0;
  }
}

void TlsWorker::watch(Connection& c) {
  if (c.watched_) return;
  c.watched_ = true;
  watched_.push_back(c.id_);
}

void Connection::set_deadline(std::optional<Clock::time_point> when) {
  deadline_ = when;
  if (when) worker_.watch(*this);
}

void TlsWorker::watch_idle(Connection& c) {
  if (c.idle_watched_) return;
  c.idle_watched_ = true;
  idle_watched_.push_back(c.id_);
}

void Connection::set_idle_timeout(Clock::duration idle) {
  idle_timeout_ = idle;
  if (idle > Clock::duration::zero()) worker_.watch_idle(*this);
}

void TlsWorker::begin_close(Connection& c, CloseReason reason) {
  if (c.state_ != Connection::State::open) return;
  c.state_ = Connection::State::closing;
  c.close_requested_ = c.close_requested_.value_or(reason);
  counters_.closed[static_cast<size_t>(reason)].add();
  counters_.established.sub();
  handler_.on_close(c, reason);
  // close_notify goes into the output buffer (the send callback never blocks).
  wolfSSL_shutdown(c.ssl_);
  flush(c);
  c.linger_until_ = now_ + options_.linger;
  watch(c);
}

void TlsWorker::destroy(Connection& c, std::optional<CloseReason> reason) {
  if (c.state_ == Connection::State::dead) return;
  if (c.state_ == Connection::State::open) {
    const CloseReason why = reason.value_or(CloseReason::io_error);
    counters_.closed[static_cast<size_t>(why)].add();
    counters_.established.sub();
    c.state_ = Connection::State::dead;  // before on_close: send() from it is refused
    handler_.on_close(c, why);
  }
  c.state_ = Connection::State::dead;
  socket_close(c);
  wolfSSL_free(c.ssl_);
  c.ssl_ = nullptr;
  c.context_.reset();
  counters_.connections.sub();
  note_heap_churn(1);
  dead_.push_back(c.id_);
}

/// Apply what happened to `c`: requested closes, finished flushes, I/O errors, the epoll
/// interest, owed on_writable calls.
void TlsWorker::settle(Connection& c) {
  for (int round = 0; round < 4 && c.state_ != Connection::State::dead; ++round) {
    flush(c);
    if (c.io_errno_ != 0) {
      destroy(c, CloseReason::io_error);
      return;
    }
    if (c.close_requested_) {
      if (c.state_ == Connection::State::handshaking) {
        destroy(c, std::nullopt);
        return;
      }
      if (c.state_ == Connection::State::open) begin_close(c, *c.close_requested_);
      if (c.io_errno_ != 0) continue;
    }
    if (c.state_ == Connection::State::closing && c.pending_output() == 0) {
      socket_shutdown_write(c);
      c.state_ = Connection::State::draining;
      if (c.peer_eof_) {
        destroy(c, std::nullopt);
        return;
      }
      drain_after_shutdown(c);
      if (c.state_ == Connection::State::dead) return;
    }
    if (c.state_ == Connection::State::open && c.reading_paused_ &&
        c.pending_output() <= options_.max_pending_output / 2) {
      c.reading_paused_ = false;
      mark_ready(c);  // wolfSSL may hold decrypted records the socket will not signal again
    }
    if (c.state_ == Connection::State::open && c.wants_writable_ && !c.reading_paused_ &&
        c.pending_output() <= options_.max_pending_output / 2) {
      c.wants_writable_ = false;
      handler_.on_writable(c);
      continue;  // it may have sent or closed: settle again
    }
    break;
  }
  if (c.state_ != Connection::State::dead) update_interest(c);
}

void TlsWorker::settle_dirty() {
  // settle() may mark more connections dirty (handlers touching others): loop until empty.
  while (!dirty_.empty()) {
    std::vector<ConnectionId> batch;
    batch.swap(dirty_);
    for (ConnectionId id : batch) {
      auto it = connections_.find(id);
      if (it == connections_.end()) continue;
      it->second->in_dirty_list_ = false;
      settle(*it->second);
    }
  }
}

void TlsWorker::update_interest(Connection& c) {
  uint32_t want = 0;
  switch (c.state_) {
    case Connection::State::handshaking: want = EPOLLIN; break;
    case Connection::State::open: want = c.reading_paused_ ? 0u : uint32_t{EPOLLIN}; break;
    case Connection::State::closing: want = 0; break;
    case Connection::State::draining: want = EPOLLIN; break;
    case Connection::State::dead: return;
  }
  if (c.pending_output() > 0) want |= EPOLLOUT;
  if (ring_) {
    // One-shot polls, re-armed after each completion: level-triggered, as epoll here.
    if (!c.poll_armed_) {
      ring_->arm(c.fd_, c.id_, want);
      c.poll_armed_ = true;
    } else if (want != c.epoll_events_) {
      ring_->rearm(c.id_, want);
    }
    c.epoll_events_ = want;
    return;
  }
  if (want == c.epoll_events_) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd_, &ev);
  c.epoll_events_ = want;
}

ssize_t TlsWorker::socket_recv(Connection& c, void* buf, size_t len) {
  if (ring_) return ring_->recv(c.fd_, buf, len);
  for (;;) {
    const ssize_t n = ::recv(c.fd_, buf, len, 0);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

ssize_t TlsWorker::socket_send(Connection& c, const void* buf, size_t len) {
  if (ring_) return ring_->send(c.fd_, buf, len);
  for (;;) {
    const ssize_t n = ::send(c.fd_, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

void TlsWorker::socket_shutdown_write(Connection& c) {
  if (ring_) {
    ring_->shutdown_write(c.fd_);
  } else {
    ::shutdown(c.fd_, SHUT_WR);
  }
}

void TlsWorker::socket_close(Connection& c) {
  if (c.fd_ < 0) return;
  if (ring_) {
    ring_->close(c.fd_, c.id_, c.poll_armed_);
    c.poll_armed_ = false;
  } else {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd_, nullptr);
    ::close(c.fd_);
  }
  c.fd_ = -1;
}

void TlsWorker::ring_events() {
  // One batch per pass, as one epoll_wait: what the calls below collect waits for the next
  // pass (which then does not sleep), so wakes and ticks are not starved.
  ring_batch_.clear();
  ring_->take_events(ring_batch_);
  for (const SocketRing::Event& event : ring_batch_) {
    auto it = connections_.find(event.tag);
    if (it == connections_.end()) continue;  // closed since (its poll was cancelled)
    it->second->poll_armed_ = false;
    dispatch(*it->second, event.events);
  }
}

void TlsWorker::mark_dirty(Connection& c) {
  if (c.in_dirty_list_) return;
  c.in_dirty_list_ = true;
  dirty_.push_back(c.id_);
}

void TlsWorker::mark_ready(Connection& c) {
  if (c.in_ready_list_) return;
  c.in_ready_list_ = true;
  ready_.push_back(c.id_);
}

Connection* TlsWorker::find(ConnectionId id) {
  assert(on_worker_thread());
  auto it = connections_.find(id);
  if (it == connections_.end() || !it->second->is_open()) return nullptr;
  return it->second.get();
}

// ------------------------------------------------------------------ timers

void TlsWorker::tick(Clock::time_point now) {
  if (accept_paused_ && listen_fd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    accept_paused_ = false;
  }
  // Only the watched connections (see watched_); by index, as closing one may watch another.
  size_t kept = 0;
  for (size_t i = 0; i < watched_.size(); i++) {
    const auto it = connections_.find(watched_[i]);
    if (it == connections_.end()) continue;
    Connection& c = *it->second;
    switch (c.state_) {
      case Connection::State::handshaking:
        if (c.deadline_ && now >= *c.deadline_) fail_handshake(c, HandshakeFailure::timeout);
        break;
      case Connection::State::open:
        if (c.close_requested_) break;
        if (c.deadline_ && now >= *c.deadline_) {
          c.close(CloseReason::deadline);
        } else if (c.idle_timeout_ > Clock::duration::zero() &&
                   now - c.last_input_ >= c.idle_timeout_) {
          c.close(CloseReason::idle_timeout);
        }
        break;
      case Connection::State::closing:
      case Connection::State::draining:
        if (now >= c.linger_until_) destroy(c, std::nullopt);
        break;
      case Connection::State::dead: break;
    }
    const bool timed = c.state_ == Connection::State::handshaking || c.state_ == Connection::State::closing ||
                       c.state_ == Connection::State::draining ||
                       (c.state_ == Connection::State::open && (c.deadline_ || c.close_requested_));
    if (timed) {
      watched_[kept++] = c.id_;
    } else {
      c.watched_ = false;
    }
  }
  watched_.resize(kept);
  sweep_idle(now);
  settle_dirty();
  handler_.on_tick(*this, now);
  settle_dirty();
  trim_heap(now);
}

void TlsWorker::sweep_idle(Clock::time_point now) {
  const auto ticks_per_second = std::max<Clock::rep>(1, std::chrono::seconds(1) / options_.tick);
  size_t budget = idle_watched_.size() / static_cast<size_t>(ticks_per_second) + 1;
  while (budget-- > 0 && !idle_watched_.empty()) {
    if (idle_cursor_ >= idle_watched_.size()) idle_cursor_ = 0;
    const auto it = connections_.find(idle_watched_[idle_cursor_]);
    bool keep = false;
    if (it != connections_.end()) {
      Connection& c = *it->second;
      keep = (c.state_ == Connection::State::handshaking || c.state_ == Connection::State::open) &&
             c.idle_timeout_ > Clock::duration::zero();
      if (keep && c.state_ == Connection::State::open && !c.close_requested_ &&
          now - c.last_input_ >= c.idle_timeout_) {
        c.close(CloseReason::idle_timeout);
        keep = false;
      }
      if (!keep) c.idle_watched_ = false;
    }
    if (keep) {
      idle_cursor_++;
    } else {
      idle_watched_[idle_cursor_] = idle_watched_.back();
      idle_watched_.pop_back();
    }
  }
}

// A handshake allocates ~50 KB of temporaries (wolfSSL's input buffer, hashes, key shares,
// certificate parsing) between the allocations that live on with the connection, so after
// a burst of logins the worker's malloc arena is full of free holes that free() cannot give
// back (only the arena's top is trimmed): measured 53 KB per session held after 3000 logins,
// more than the sessions used. malloc_trim(0) returns every free page inside the arena
// (madvise), once the burst is over: 1 s without a handshake or close, and at least 64 of
// them since the last trim (DTLS handshakes count: note_heap_churn()). It walks the arena under its lock (milliseconds at 100 MB), on
// this thread only: never on a poll lcore.
void TlsWorker::note_heap_churn(uint64_t n) {
  assert(on_worker_thread());
  churn_since_trim_ += n;
  last_churn_ = now_;
}

void TlsWorker::trim_heap(Clock::time_point now) {
  constexpr uint64_t kMinChurn = 64;
  if (churn_since_trim_ < kMinChurn || now - last_churn_ < std::chrono::seconds(1)) return;
  churn_since_trim_ = 0;
  malloc_trim(0);
}

}  // namespace tg::dp::tls
