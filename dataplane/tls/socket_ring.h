// The TLS worker's sockets as slots of an io_uring file table ("direct descriptors") instead
// of file descriptors: a slot is not an entry of the process' descriptor table, so the
// connections one process holds are not bounded by RLIMIT_NOFILE. Each ring's table may be
// as large as RLIMIT_NOFILE (the kernel's bound, io_sqe_files_register), one ring per TLS
// worker, so W workers hold W x RLIMIT_NOFILE connections: 100,000 tunnels under a hard
// limit of 20,000 with 6 workers. Used when the descriptor limit cannot hold
// limits.max_sessions (dataplane.tls_io, docs/tuning.md).
//
// The worker keeps its epoll loop (listener, eventfd, timer) and its non-blocking,
// level-triggered logic; only the per-connection calls change:
// - readiness: a one-shot IORING_OP_POLL_ADD per connection, re-armed after it fires
//   (= level-triggered epoll), its mask changed in place (poll update);
// - recv/send/shutdown/close: one io_uring_enter each, completed inline (MSG_DONTWAIT on a
//   non-blocking socket returns -EAGAIN instead of waiting), as many syscalls as before;
// - accept: accept4() as before, the descriptor moved into a free slot and closed, so a
//   connection holds a descriptor only for the microseconds between the two.
// Poll completions that arrive while a call waits for its own are kept for the loop.
// One thread uses a SocketRing (the worker's); needs Linux 5.15 (close of a slot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

struct io_uring;
struct io_uring_sqe;

namespace tg::dp::tls {

class SocketRing {
 public:
  /// A poll that completed: the tag given to arm() and the events (EPOLLIN... as poll(2)
  /// reports them; EPOLLERR when the poll itself failed).
  struct Event {
    uint64_t tag;
    uint32_t events;
  };

  /// A ring whose file table has `slots` entries.
  /// @return nullptr and `error` set when io_uring is unavailable (kernel, seccomp,
  ///   kernel.io_uring_disabled) or the table is refused (more slots than RLIMIT_NOFILE).
  static std::unique_ptr<SocketRing> create(uint32_t slots, std::string& error);
  ~SocketRing();
  SocketRing(const SocketRing&) = delete;
  SocketRing& operator=(const SocketRing&) = delete;

  /// The ring's descriptor: readable (epoll) when completions wait.
  int ring_fd() const;
  uint32_t slots() const { return slots_; }
  uint32_t slots_in_use() const { return slots_ - static_cast<uint32_t>(free_.size()); }

  /// Move `fd` into a free slot. The caller closes `fd` either way.
  /// @return the slot, or -ENFILE (table full) / -errno.
  int install(int fd);
  /// recv(2)/send(2) on a slot, never waiting: bytes, 0 (EOF), or -errno (-EAGAIN).
  ssize_t recv(int slot, void* buf, size_t len);
  ssize_t send(int slot, const void* buf, size_t len);
  /// shutdown(slot, SHUT_WR): 0 or -errno.
  int shutdown_write(int slot);
  /// Cancel the slot's poll (if armed with `tag`), close the socket and free the slot.
  void close(int slot, uint64_t tag, bool poll_armed);

  /// Watch the slot for `events` (EPOLLIN/EPOLLOUT; errors and hang-ups always) once: one
  /// Event with `tag` comes back when one of them holds. Queued: goes in with the next call
  /// or submit().
  void arm(int slot, uint64_t tag, uint32_t events);
  /// Change the mask of the armed poll `tag`. If it already fired, its Event is on its way
  /// and the caller re-arms after handling it.
  void rearm(uint64_t tag, uint32_t events);
  /// Send the queued arms and updates to the kernel.
  void submit();

  /// True when take_events() has something.
  bool has_events();
  /// Append the completed polls (those kept during calls first) to `out`.
  void take_events(std::vector<Event>& out);

 private:
  SocketRing() = default;
  /// Run the queued entry (tagged kCallTag) now and return its result.
  int call();
  /// call() for an entry prepared with a slot where a descriptor goes.
  int call_on_slot(io_uring_sqe* sqe);
  /// A free submission entry (submits the queue when it is full).
  io_uring_sqe* entry();
  /// One completion: a call's result is returned through `call_result`; others are kept.
  void absorb(uint64_t tag, int32_t res, bool& call_done, int& call_result);

  std::unique_ptr<io_uring> ring_;
  uint32_t slots_ = 0;
  std::vector<int> free_;     // free slots (a stack)
  std::vector<Event> kept_;   // poll completions seen while waiting for a call
};

}  // namespace tg::dp::tls
