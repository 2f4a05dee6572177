#include "controlplane/session_segment_reader.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "controlplane/shm_mapping.h"

namespace tg::controlplane {

namespace {

Error bad(int code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace

Expected<LiveSessions> session_segment_decode(std::span<const std::byte> bytes) {
  using shm::SessionSegmentHeader;
  // Records are read with atomic loads: they must sit on their cache lines (a mapping does).
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(shm::SessionRecord) != 0) {
    return bad(EINVAL, "segment bytes not aligned to " + std::to_string(alignof(shm::SessionRecord)));
  }
  if (bytes.size() < sizeof(SessionSegmentHeader)) {
    return bad(EINVAL, std::to_string(bytes.size()) + " bytes, fewer than the " +
                           std::to_string(sizeof(SessionSegmentHeader)) + "-byte header");
  }
  // acquire on the magic pairs with the dataplane's release store: the header written
  // before it is visible to the copy that follows.
  const uint32_t magic = std::atomic_ref<const uint32_t>(*reinterpret_cast<const uint32_t*>(bytes.data()))
                             .load(std::memory_order_acquire);
  SessionSegmentHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (magic == 0) return bad(EAGAIN, "header not published yet (dataplane starting)");
  if (magic != shm::kSessionsMagic) return bad(EPROTO, "bad magic " + std::to_string(magic));
  if (h.version != shm::kSessionsVersion) {
    return bad(EPROTO, "layout version " + std::to_string(h.version) + ", this build reads " +
                           std::to_string(shm::kSessionsVersion));
  }
  if (h.record_size != sizeof(shm::SessionRecord)) {
    return bad(EPROTO, "record_size " + std::to_string(h.record_size) + ", this build's is " +
                           std::to_string(sizeof(shm::SessionRecord)));
  }
  if (h.n_records > shm::kMaxSessionRecords) {
    return bad(EINVAL, "n_records " + std::to_string(h.n_records) + " above " +
                           std::to_string(shm::kMaxSessionRecords));
  }
  if (h.size != shm::session_segment_size(h.n_records)) {
    return bad(EINVAL, "size " + std::to_string(h.size) + " does not match n_records " +
                           std::to_string(h.n_records));
  }
  if (bytes.size() < h.size) {
    return bad(EINVAL, std::to_string(bytes.size()) + " bytes, fewer than the header's size " +
                           std::to_string(h.size));
  }
  LiveSessions out;
  out.generation = h.generation;
  out.pid = h.pid;
  out.n_records = h.n_records;
  // The records start right after the 64-byte header, each on its own cache line.
  const auto* records = reinterpret_cast<const shm::SessionRecord*>(bytes.data() + sizeof h);
  for (uint32_t i = 0; i < h.n_records; i++) {
    shm::SessionLive v;
    bool ok = false;
    for (int attempt = 0; attempt < 3 && !ok; attempt++) ok = shm::session_record_load(records[i], &v);
    if (!ok) {
      out.busy++;
      continue;
    }
    if (v.session_id == 0) continue;
    if (v.channel == 0 || v.channel >= shm::kSessionChannelCount) {
      out.bad++;
      continue;
    }
    out.by_session.emplace(v.session_id, v);
  }
  return out;
}

Expected<LiveSessions> session_segment_open_and_read(const std::string& instance) {
  const std::string name = shm::session_shm_name(instance);
  Expected<ShmMapping> map = ShmMapping::open(name, shm::session_segment_size(shm::kMaxSessionRecords));
  if (!map) return map.error();
  Expected<LiveSessions> r = session_segment_decode(map->bytes());
  if (!r) return Error{r.error().code, name + ": " + r.error().message};
  return r;
}

}  // namespace tg::controlplane
