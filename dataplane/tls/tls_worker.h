// One TLS worker thread of tunnelgate-dataplane: an epoll loop over a listening TCP socket,
// the connections it accepted, an eventfd for cross-thread wakeups and a timer tick. The
// connections are descriptors in that epoll set, or (TlsIo::io_uring) slots of the worker's
// io_uring file table, which RLIMIT_NOFILE does not count (socket_ring.h).
// wolfSSL does the TLS (non-blocking); a TlsHandler (the OpenConnect HTTP/CSTP glue) sees
// per-connection events. See README.md for the threading and wake protocol.
//
// Thread-safety, in one line per entry point:
// - TlsWorker::run(): the worker thread (the thread that calls it), once.
// - TlsWorker::wake(), stop(), counters(): any thread.
// - Everything else, including every Connection method and every TlsHandler callback: the
//   worker thread only (checked by assert in debug builds).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "dataplane/tls/socket_ring.h"
#include "dataplane/tls/tls_context.h"

namespace tg::dp::tls {

using Clock = std::chrono::steady_clock;

/// Unique per process and never reused: (worker index << 56) | per-worker sequence number (a SessionRef with app 0).
using ConnectionId = uint64_t;

// Why a handshake failed (metric label, help text). One counter each per worker.
#define TG_TLS_HANDSHAKE_FAILURES(X)                                                         \
  X(timeout, "no complete handshake within the request timeout")                          \
  X(peer_closed, "the client closed the connection during the handshake")                 \
  X(no_shared_cipher, "no cipher suite in common with the client")                        \
  X(version, "the client's protocol version is below tls.min_version or unknown")        \
  X(client_cert_rejected, "the client's certificate or CertificateVerify was malformed")  \
  X(protocol_error, "malformed or unexpected handshake data, or a fatal alert received")  \
  X(io_error, "socket error (reset) during the handshake")                                \
  X(out_of_memory, "no WOLFSSL session could be allocated")

enum class HandshakeFailure : uint8_t {
#define TG_X(name, help) name,
  TG_TLS_HANDSHAKE_FAILURES(TG_X)
#undef TG_X
};
inline constexpr size_t kHandshakeFailureCount = 0
#define TG_X(name, help) +1
    TG_TLS_HANDSHAKE_FAILURES(TG_X)
#undef TG_X
    ;
std::string_view to_string(HandshakeFailure failure);
std::string_view help_text(HandshakeFailure failure);

// Why an established connection ended (passed to TlsHandler::on_close; one counter each).
#define TG_TLS_CLOSE_REASONS(X)                                                  \
  X(peer_closed, "the client sent close_notify or closed TCP")                  \
  X(local, "the handler called Connection::close()")                           \
  X(deadline, "the connection's deadline passed (first request not complete)")  \
  X(idle_timeout, "no data from the client within the idle timeout")           \
  X(protocol_error, "a TLS record error after the handshake")                  \
  X(io_error, "socket error or reset")                                          \
  X(worker_stopping, "the worker was stopped")

enum class CloseReason : uint8_t {
#define TG_X(name, help) name,
  TG_TLS_CLOSE_REASONS(TG_X)
#undef TG_X
};
inline constexpr size_t kCloseReasonCount = 0
#define TG_X(name, help) +1
    TG_TLS_CLOSE_REASONS(TG_X)
#undef TG_X
    ;
std::string_view to_string(CloseReason reason);
std::string_view help_text(CloseReason reason);

/// A counter written by one thread (the worker) and read by others (the metrics scraper,
/// tests). Relaxed load + store, not fetch_add: there is a single writer, so no locked
/// instruction is needed, and readers only need a value that is not torn.
class RelaxedCounter {
 public:
  void add(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  void raise_to(uint64_t n) {
    if (n > value_.load(std::memory_order_relaxed)) value_.store(n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

/// Counters of one worker (metrics carry a `worker` label). Written by the worker thread only.
struct alignas(64) TlsWorkerCounters {
  RelaxedCounter accepted;             ///< TCP connections accepted (including rejected ones)
  RelaxedCounter rejected_over_limit;  ///< closed at once: max_connections reached
  RelaxedCounter accept_errors;        ///< accept() failures (EMFILE...), socket setup failures
  RelaxedCounter handshakes_ok;
  std::array<RelaxedCounter, kHandshakeFailureCount> handshakes_failed;  ///< by HandshakeFailure
  std::array<RelaxedCounter, kCloseReasonCount> closed;                  ///< by CloseReason
  RelaxedCounter connections;          ///< gauge: sockets held (handshaking, open, closing)
  RelaxedCounter established;          ///< gauge: connections between on_open and on_close
  RelaxedCounter bytes_in;             ///< application bytes delivered to on_data
  RelaxedCounter bytes_out;            ///< application bytes accepted by Connection::send
  RelaxedCounter wire_bytes_in;        ///< TCP payload bytes read (TLS records)
  RelaxedCounter wire_bytes_out;       ///< TCP payload bytes written
  RelaxedCounter backpressure_events;  ///< a connection's output exceeded the bound: reading paused
  RelaxedCounter sends_refused;        ///< Connection::send() returned false
  RelaxedCounter max_pending_output;   ///< high-water mark of one connection's pending output (bytes)
  RelaxedCounter wakeups;              ///< TlsHandler::on_wake calls
};

/// The peer of a connection.
struct PeerAddress {
  config::IpAddr address;
  uint16_t port = 0;
};

class TlsWorker;

/// One accepted TCP connection and its TLS session. Owned by its TlsWorker; a reference is
/// valid until on_close returns (handshake failures before on_open are not reported).
/// Worker thread only.
class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  ConnectionId id() const { return id_; }
  const PeerAddress& peer_address() const { return peer_; }

  /// Encrypt and queue `data`. It is written to the socket as the socket accepts it.
  /// @return false (and counts sends_refused) when the connection is not open (handshake
  ///   not finished, closing) or when its pending output is already above
  ///   TlsWorkerOptions::max_pending_output; on_writable() follows once it has drained.
  ///   One call may take the pending output above the bound by at most its own size.
  bool send(std::span<const uint8_t> data);
  bool send(std::string_view text) {
    return send(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }

  /// Graceful close: after the current callback returns, on_close(reason) is delivered, a TLS
  /// close_notify and the pending output are written, then the TCP write side is shut and the
  /// socket is closed when the client closes or TlsWorkerOptions::linger passes. Idempotent:
  /// the first reason wins.
  void close(CloseReason reason = CloseReason::local);

  /// True between on_open and close(): send() may succeed.
  bool is_open() const;
  /// Encrypted bytes not yet written to the socket.
  size_t pending_output() const { return out_.size() - out_head_; }

  /// RFC 5705 / RFC 8446 keying-material exporter of this session (e.g. the DTLS PSK of
  /// PROTOCOL.md §6.2: label "EXPORTER-openconnect-psk", no context, 32 bytes).
  /// @param context nullopt = "no context" (use_context = 0), which differs from an empty
  ///   context in TLS 1.2.
  /// @return false if the handshake is not complete or wolfSSL refuses (e.g. a reserved label).
  bool export_keying_material(std::string_view label,
                              std::optional<std::span<const uint8_t>> context,
                              std::span<uint8_t> out) const;

  /// Negotiated protocol and suite, e.g. "TLSv1.3", "TLS13-AES128-GCM-SHA256" (after on_open).
  std::string_view tls_version() const { return tls_version_; }
  std::string_view cipher() const { return cipher_; }
  /// The client certificate and the verify verdict (after on_open).
  const ClientCertInfo& client_cert() const { return client_cert_; }

  /// The wolfSSL session (e.g. for wolfSSL_get_keys when keep_handshake_arrays is set).
  /// Do not read, write or shut it down directly: the worker owns its I/O.
  WOLFSSL* native() const { return ssl_; }

  /// Close with CloseReason::deadline at `when` (nullopt: no deadline). A connection starts
  /// with accept time + request_timeout, covering the handshake and the first request; the
  /// handler clears or moves it once a request is complete.
  void set_deadline(std::optional<Clock::time_point> when);
  /// Close with CloseReason::idle_timeout after `idle` without data from the client
  /// (zero: never). Starts as TlsWorkerOptions::idle_timeout.
  void set_idle_timeout(Clock::duration idle);

  /// One pointer for the handler's per-connection state (not owned, not freed).
  void set_user_data(void* data) { user_data_ = data; }
  void* user_data() const { return user_data_; }

 private:
  friend class TlsWorker;
  friend struct ConnectionIo;  // wolfSSL's I/O callbacks (tls_worker.cc)
  enum class State : uint8_t { handshaking, open, closing, draining, dead };
  Connection(TlsWorker& worker, ConnectionId id, int fd, PeerAddress peer);

  TlsWorker& worker_;
  const ConnectionId id_;
  int fd_;                    // descriptor (epoll) or slot of the worker's SocketRing (io_uring)
  PeerAddress peer_;
  State state_ = State::handshaking;
  bool watched_ = false;      // on the worker's watch list (a deadline, handshake or linger)
  bool idle_watched_ = false; // on the worker's idle-timeout sweep
  WOLFSSL* ssl_ = nullptr;
  TlsContextPtr context_;     // keeps the WOLFSSL_CTX (and its certificate) alive
  ClientCertVerdict verdict_; // written by the verify callback during the handshake
  ClientCertInfo client_cert_;
  std::string tls_version_;
  std::string cipher_;
  void* user_data_ = nullptr;

  // Encrypted output not yet on the socket: wolfSSL's send callback appends, flush() writes.
  std::vector<uint8_t> out_;
  size_t out_head_ = 0;

  std::optional<Clock::time_point> deadline_;
  Clock::duration idle_timeout_{};
  Clock::time_point last_input_{};
  Clock::time_point linger_until_{};

  std::optional<CloseReason> close_requested_;
  bool opened_ = false;          // on_open delivered (so on_close is owed)
  bool reading_paused_ = false;  // backpressure: output above the bound
  bool wants_writable_ = false;  // a send was refused or reading paused: on_writable owed
  bool peer_eof_ = false;        // recv() returned 0
  int io_errno_ = 0;             // last hard recv/send error
  bool in_dirty_list_ = false;
  bool in_ready_list_ = false;
  uint32_t epoll_events_ = 0;    // interest currently registered
  bool poll_armed_ = false;      // io_uring: a one-shot poll is in the kernel
};

/// Per-connection events and worker hooks, called on the worker thread. A callback may call
/// any Connection method (close() takes effect after it returns) and TlsWorker::find().
class TlsHandler {
 public:
  virtual ~TlsHandler() = default;
  /// Handshake complete: version, cipher and client certificate are known.
  virtual void on_open(Connection& connection) = 0;
  /// Decrypted application data. `data` is valid only during the call.
  virtual void on_data(Connection& connection, std::span<const uint8_t> data) = 0;
  /// The connection's pending output has drained below half the bound after a refused
  /// send() or a backpressure pause.
  virtual void on_writable(Connection& /*connection*/) {}
  /// The connection is over; it is destroyed after the call. Exactly once per on_open.
  virtual void on_close(Connection& connection, CloseReason reason) = 0;
  /// Every TlsWorkerOptions::tick (after the timeouts were checked).
  virtual void on_tick(TlsWorker& /*worker*/, Clock::time_point /*now*/) {}
  /// After one or more TlsWorker::wake() calls: everything the waking thread did before
  /// wake() is visible here.
  virtual void on_wake(TlsWorker& /*worker*/) {}
  /// Before the first pass of the loop and after every pass (events, wakes, ticks). Return
  /// true while the handler waits for something that cannot wake the worker (answers
  /// another process puts in shared memory): the worker then sleeps at most
  /// TlsWorkerOptions::await_poll instead of until the next tick, and calls this again.
  virtual bool on_pass(TlsWorker& /*worker*/) { return false; }
};

/// TCP connections the TLS workers may hold together for `max_sessions` tunnels: the tunnels,
/// plus room for logins under way and connections lingering after their close (2 s each) at
/// the limit, so a login near limits.max_sessions gets the control plane's answer, not a
/// connection closed at accept (found holding 19,744 sessions: the last 56 logins failed).
uint64_t tls_connections_max(uint32_t max_sessions);

/// How a worker holds its sockets (dataplane.tls_io).
enum class TlsIo : uint8_t {
  epoll,     ///< descriptors in the worker's epoll set
  io_uring,  ///< slots of the worker's io_uring file table (SocketRing): not descriptors
};
std::string_view to_string(TlsIo io);

/// Worker parameters. from_config() derives them from the configuration.
struct TlsWorkerOptions {
  uint32_t worker_index = 0;        ///< 0..65535; the high bits of connection ids
  uint32_t max_connections = 10000; ///< sockets held at once; more are closed at accept
  Clock::duration request_timeout = std::chrono::seconds(30);  ///< handshake + first request
  Clock::duration idle_timeout{};   ///< zero: none (the tunnel's DPD decides)
  Clock::duration tick = std::chrono::milliseconds(20);  ///< timer resolution, on_tick period
  /// Longest sleep while TlsHandler::on_pass() says it awaits something: what a control-
  /// plane answer waits at most before the worker sees it (each login waits for 1-2).
  Clock::duration await_poll = std::chrono::milliseconds(1);
  Clock::duration linger = std::chrono::seconds(2);      ///< bound on a graceful close
  size_t max_pending_output = 256 * 1024;  ///< per connection: above it reading pauses
  uint32_t accept_batch = 64;       ///< accepts per listener event (fairness to connections)
  size_t read_budget = 256 * 1024;  ///< bytes read from one connection before the next
  /// Call wolfSSL_KeepArrays() on every session so wolfSSL_get_keys() works after the
  /// handshake (TLS 1.2 master secret and randoms); costs the arrays' memory per session.
  bool keep_handshake_arrays = false;
  /// TlsIo::io_uring: the file table has max_connections slots (at most RLIMIT_NOFILE).
  TlsIo io = TlsIo::epoll;

  /// limits.request_timeout_s; max_connections = tls_connections_max(limits.max_sessions) / worker_count + 1;
  /// io from dataplane.tls_io ("auto" gives epoll here: the caller decides, tls_io_for()).
  static TlsWorkerOptions from_config(const config::Config& config, uint32_t worker_index,
                                      uint32_t worker_count);
};

/// Result of tls_listen().
struct ListenResult {
  int fd = -1;        ///< non-blocking, close-on-exec, SO_REUSEPORT, listening
  uint16_t port = 0;  ///< the bound port (useful with port 0)
  std::string error;  ///< set when fd < 0: names the address and errno's text
  bool ok() const { return fd >= 0; }
};

/// Open a listening TCP socket with SO_REUSEPORT, so each worker opens its own on the same
/// port and the kernel spreads connections across them (see README for why).
/// @param port 0 picks a free port (the others then bind ListenResult::port).
ListenResult tls_listen(const config::IpAddr& address, uint16_t port, int backlog = 1024);

/// dataplane.tls_io resolved for `nofile` (the soft RLIMIT_NOFILE, after raising it to the
/// hard one): "auto" is epoll when the descriptors hold every connection and `reserved`
/// more, io_uring when they do not.
TlsIo tls_io_for(const config::Config& config, uint64_t nofile, uint64_t reserved);

struct TlsWorkerResult;

/// See the top of this file.
class TlsWorker {
 public:
  /// Create a worker. It owns `listen_fd` (closed on destruction; -1 = no listener, e.g. a
  /// worker fed only by adopt()). `contexts` and `handler` must outlive the worker.
  /// @return the worker or an error (epoll/eventfd creation failed).
  static TlsWorkerResult create(const TlsWorkerOptions& options, const TlsContextHolder& contexts,
                                TlsHandler& handler, int listen_fd);
  ~TlsWorker();
  TlsWorker(const TlsWorker&) = delete;
  TlsWorker& operator=(const TlsWorker&) = delete;

  /// The loop; returns after stop(), once every connection is closed (on_close delivered
  /// with worker_stopping, close_notify attempted without waiting) and the listener is closed.
  void run();
  /// Heap made and freed (a TLS handshake or close; a handler's own, e.g. a DTLS handshake's
  /// ~70 KB of temporaries): counts toward the next malloc_trim() (trim_heap). Worker
  /// thread only.
  void note_heap_churn(uint64_t n);
  /// Make run() return. Any thread; idempotent; may be called before run().
  void stop();
  /// Make the worker call TlsHandler::on_wake soon. Any thread; cheap when the worker is busy
  /// (no syscall unless it sleeps in epoll_wait).
  void wake();

  /// A live connection (not closing) by id, or nullptr. Worker thread.
  Connection* find(ConnectionId id);
  /// Hand over an already-accepted socket (e.g. from a single acceptor). Worker thread.
  /// @return false (the fd is closed and counted) when over max_connections or out of memory.
  bool adopt(int fd, const PeerAddress& peer);

  const TlsWorkerCounters& counters() const { return counters_; }
  const TlsWorkerOptions& options() const { return options_; }

 private:
  friend class Connection;
  friend struct ConnectionIo;
  TlsWorker(const TlsWorkerOptions& options, const TlsContextHolder& contexts, TlsHandler& handler,
            int listen_fd);

  void accept_ready(Clock::time_point now);
  void dispatch(Connection& c, uint32_t events);
  void handshake(Connection& c);
  void read_pass(Connection& c);
  void drain_after_shutdown(Connection& c);
  void flush(Connection& c);
  void settle(Connection& c);
  void settle_dirty();
  void begin_close(Connection& c, CloseReason reason);
  void fail_handshake(Connection& c, HandshakeFailure failure);
  void destroy(Connection& c, std::optional<CloseReason> reason);
  void update_interest(Connection& c);
  // The socket calls, on a descriptor or a SocketRing slot: bytes or -errno, never waiting.
  ssize_t socket_recv(Connection& c, void* buf, size_t len);
  ssize_t socket_send(Connection& c, const void* buf, size_t len);
  void socket_shutdown_write(Connection& c);
  /// Stop watching and close the socket (fd_ = -1).
  void socket_close(Connection& c);
  /// The poll completions of the SocketRing: dispatch each to its connection.
  void ring_events();
  void tick(Clock::time_point now);
  /// Puts `c` on the list tick() checks (once): it has a deadline, a handshake or a linger.
  void watch(Connection& c);
  /// Puts `c` on the idle-timeout sweep (once).
  void watch_idle(Connection& c);
  void sweep_idle(Clock::time_point now);
  void trim_heap(Clock::time_point now);
  void shutdown_all();
  void mark_dirty(Connection& c);
  void mark_ready(Connection& c);
  bool on_worker_thread() const;

  TlsWorkerOptions options_;
  const TlsContextHolder& contexts_;
  TlsHandler& handler_;
  int listen_fd_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<SocketRing> ring_;              // TlsIo::io_uring only
  std::vector<SocketRing::Event> ring_batch_;
  bool accept_paused_ = false;   // EMFILE & co: retried at the next tick
  // Heap given back after a burst of handshakes or closes (see trim_heap()).
  uint64_t churn_since_trim_ = 0;
  Clock::time_point last_churn_{};
  uint64_t next_sequence_ = 1;
  Clock::time_point now_{};      // time of the current loop iteration
  std::thread::id owner_{};

  std::unordered_map<ConnectionId, std::unique_ptr<Connection>> connections_;
  std::vector<ConnectionId> dirty_;  // touched by a handler or an event: settle them
  std::vector<ConnectionId> ready_;  // read budget exhausted, or resumed: read again
  std::vector<ConnectionId> dead_;   // destroyed: erase at the end of the iteration
  // Connections tick() checks every tick: handshaking, a deadline set, closing. An open
  // tunnel (the steady state of every session) is not on it, so a tick costs what is in
  // flight, not what is connected: a scan of all connections every 20 ms took 87 % of an
  // idle worker's CPU at 3000 tunnels.
  std::vector<ConnectionId> watched_;
  // Connections with an idle timeout (every tunnel with DPD: 3 x dpd + 5 s): a slice of them
  // per tick, so each is looked at about once a second, which is plenty for timeouts of
  // seconds. Order does not matter (swap-removal).
  std::vector<ConnectionId> idle_watched_;
  size_t idle_cursor_ = 0;
  std::array<uint8_t, 16 * 1024> read_buffer_;  // one TLS record's plaintext

  // Wake protocol (README): wakers store pending_ then load sleeping_; the worker stores
  // sleeping_ then loads pending_. Both seq_cst, so at least one side sees the other's store.
  alignas(64) std::atomic<bool> wake_pending_{false};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_requested_{false};

  TlsWorkerCounters counters_;
};

/// Result of TlsWorker::create(): exactly one of `worker` and `error` is set.
struct TlsWorkerResult {
  std::unique_ptr<TlsWorker> worker;
  std::string error;
  bool ok() const { return worker != nullptr; }
};

}  // namespace tg::dp::tls
