// Control plane: reads the dataplane's live session segment (api/session_shm.h): which
// channel carries each tunnel and its traffic so far, for `tunnelgatectl sessions`.
//
// Trust model as for the statistics segment (stats_segment_reader.h): written by another
// process that may be older, newer, buggy or starting. The header is checked (magic,
// version, sizes, record count against the object's size) before any record is read;
// records are copied under their seqlock, and a record's values are only ever matched
// against the registry's session ids and printed — never used as sizes or indices.
// Reentrant: no globals, no caching between calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "api/session_shm.h"
#include "controlplane/expected.h"

namespace tg::controlplane {

/// What the segment says now.
struct LiveSessions {
  uint64_t generation = 0;  ///< the dataplane run that wrote it
  uint32_t pid = 0;
  uint32_t n_records = 0;
  /// Records in use, by session id (the first record wins if a broken writer repeats one).
  std::unordered_map<uint64_t, shm::SessionLive> by_session;
  uint32_t busy = 0;        ///< records skipped: a writer was in the middle three times running
  uint32_t bad = 0;         ///< records skipped: unknown channel
};

/// Decodes a segment from `bytes` (the live mapping or a copy aligned like one: 64 bytes). Errors (EINVAL, EPROTO for a
/// foreign layout, EAGAIN when the header is not published yet) name the offending field.
Expected<LiveSessions> session_segment_decode(std::span<const std::byte> bytes);

/// Maps /dev/shm/tunnelgate-<instance>-sessions read-only and decodes it. ENOENT when the
/// dataplane is not running (or runs without pools).
Expected<LiveSessions> session_segment_open_and_read(const std::string& instance);

}  // namespace tg::controlplane
