#include "dataplane/tls/socket_ring.h"

#include <liburing.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace tg::dp::tls {
namespace {
// user_data of the entries that are not polls (poll tags are connection ids, which never
// reach these: a 16-bit worker index over a 48-bit sequence).
constexpr uint64_t kCallTag = ~uint64_t{0} - 2;
constexpr uint64_t kIgnoreTag = ~uint64_t{0} - 3;
// Submission queue: arms and updates of one loop pass are batched; a full queue is
// submitted. Completion queue: polls of many connections may fire together (a burst of
// logins); the kernel keeps overflowing completions rather than drop them (NODROP), but a
// roomy queue avoids that slow path.
constexpr unsigned kSubmissionEntries = 256;
constexpr unsigned kCompletionEntries = 8192;
}  // namespace

std::unique_ptr<SocketRing> SocketRing::create(uint32_t slots, std::string& error) {
  std::unique_ptr<SocketRing> ring(new SocketRing());
  ring->ring_ = std::make_unique<io_uring>();
  io_uring_params params{};
  // SUBMIT_ALL: an entry refused at submission (its error comes back as a completion) must
  // not hold back the ones behind it, among them the call a worker waits for.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = kCompletionEntries;
  if (const int ret = io_uring_queue_init_params(kSubmissionEntries, ring->ring_.get(), &params); ret < 0) {
    ring->ring_.reset();
    error = std::string("io_uring_setup: ") + std::strerror(-ret) +
            " (kernel.io_uring_disabled, a seccomp filter, or a kernel older than 5.19)";
    return nullptr;
  }
  if (const int ret = io_uring_register_files_sparse(ring->ring_.get(), slots); ret < 0) {
    error = "io_uring file table of " + std::to_string(slots) + " slots: " + std::strerror(-ret) +
            (ret == -EMFILE ? " (a table may not exceed RLIMIT_NOFILE: more TLS workers, fewer slots each)" : "");
    return nullptr;
  }
  ring->slots_ = slots;
  ring->free_.reserve(slots);
  for (uint32_t s = slots; s > 0; --s) ring->free_.push_back(static_cast<int>(s - 1));
  return ring;
}

SocketRing::~SocketRing() {
  // Unregistering the table drops the ring's reference of every socket still in it.
  if (ring_) io_uring_queue_exit(ring_.get());
}

int SocketRing::ring_fd() const { return ring_->ring_fd; }

io_uring_sqe* SocketRing::entry() {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) {
    io_uring_submit(ring_.get());
    sqe = io_uring_get_sqe(ring_.get());  // the queue was just emptied
  }
  return sqe;
}

void SocketRing::absorb(uint64_t tag, int32_t res, bool& call_done, int& call_result) {
  if (tag == kCallTag) {
    call_done = true;
    call_result = res;
  } else if (tag != kIgnoreTag) {
    // A poll's result is its revents, or -errno (-ECANCELED after close(): its tag is gone).
    kept_.push_back({tag, res >= 0 ? static_cast<uint32_t>(res) : uint32_t{EPOLLERR}});
  }
}

int SocketRing::call() {
  bool done = false;
  int result = 0;
  int ret;
  do {
    ret = io_uring_submit_and_wait(ring_.get(), 1);
  } while (ret == -EINTR);
  if (ret < 0) return ret;
  while (!done) {
    io_uring_cqe* cqe = nullptr;
    ret = io_uring_wait_cqe(ring_.get(), &cqe);
    if (ret == -EINTR) continue;
    if (ret < 0) return ret;
    absorb(cqe->user_data, cqe->res, done, result);
    io_uring_cqe_seen(ring_.get(), cqe);
  }
  return result;
}

int SocketRing::install(int fd) {
  if (free_.empty()) return -ENFILE;
  const int slot = free_.back();
  const int ret = io_uring_register_files_update(ring_.get(), static_cast<unsigned>(slot), &fd, 1);
  if (ret < 0) return ret;
  free_.pop_back();
  return slot;
}

int SocketRing::call_on_slot(io_uring_sqe* sqe) {
  sqe->flags |= IOSQE_FIXED_FILE;  // the fd argument of the prep was a slot
  sqe->user_data = kCallTag;
  return call();
}

ssize_t SocketRing::recv(int slot, void* buf, size_t len) {
  io_uring_sqe* sqe = entry();
  io_uring_prep_recv(sqe, slot, buf, len, MSG_DONTWAIT);
  return call_on_slot(sqe);
}

ssize_t SocketRing::send(int slot, const void* buf, size_t len) {
  io_uring_sqe* sqe = entry();
  io_uring_prep_send(sqe, slot, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  return call_on_slot(sqe);
}

int SocketRing::shutdown_write(int slot) {
  io_uring_sqe* sqe = entry();
  io_uring_prep_shutdown(sqe, slot, SHUT_WR);
  return call_on_slot(sqe);
}

void SocketRing::close(int slot, uint64_t tag, bool poll_armed) {
  if (poll_armed) {
    // The armed poll holds a reference of the socket: without the cancel, closing the slot
    // would not close the connection.
    io_uring_sqe* sqe = entry();
    io_uring_prep_poll_remove(sqe, tag);
    sqe->user_data = kIgnoreTag;
  }
  io_uring_sqe* sqe = entry();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(slot));
  sqe->user_data = kCallTag;
  call();  // an error leaves nothing to do: the slot is empty or was never filled
  free_.push_back(slot);
}

void SocketRing::arm(int slot, uint64_t tag, uint32_t events) {
  io_uring_sqe* sqe = entry();
  io_uring_prep_poll_add(sqe, slot, events);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = tag;
}

void SocketRing::rearm(uint64_t tag, uint32_t events) {
  io_uring_sqe* sqe = entry();
  // Same tag (a new one would need IORING_POLL_UPDATE_USER_DATA, else -EINVAL), new mask,
  // still one-shot (no IORING_POLL_ADD_MULTI). -ENOENT when it fired.
  io_uring_prep_poll_update(sqe, tag, 0, events, IORING_POLL_UPDATE_EVENTS);
  sqe->user_data = kIgnoreTag;
}

void SocketRing::submit() {
  if (io_uring_sq_ready(ring_.get()) > 0) io_uring_submit(ring_.get());
}

bool SocketRing::has_events() { return !kept_.empty() || io_uring_cq_ready(ring_.get()) > 0; }

void SocketRing::take_events(std::vector<Event>& out) {
  out.insert(out.end(), kept_.begin(), kept_.end());
  kept_.clear();
  io_uring_cqe* cqe = nullptr;
  unsigned head;
  unsigned seen = 0;
  bool done = false;
  int result = 0;
  io_uring_for_each_cqe(ring_.get(), head, cqe) {
    absorb(cqe->user_data, cqe->res, done, result);
    ++seen;
  }
  io_uring_cq_advance(ring_.get(), seen);
  out.insert(out.end(), kept_.begin(), kept_.end());
  kept_.clear();
}

}  // namespace tg::dp::tls
