// Dataplane: control-plane client of one TLS worker (that worker's thread). See ctl_client.h.
#include "dataplane/ctl/ctl_client.h"

namespace tg::dataplane {

const char* ctl_submit_name(CtlClient::Submit s) {
  switch (s) {
    case CtlClient::Submit::ok: return "ok";
    case CtlClient::Submit::control_plane_down: return "control_plane_down";
    case CtlClient::Submit::ring_full: return "ring_full";
    case CtlClient::Submit::too_many_in_flight: return "too_many_in_flight";
    case CtlClient::Submit::bad_message: return "bad_message";
  }
  return "unknown";
}

CtlClient::CtlClient(shm::CtlSegment& segment, Options options)
    : segment_(segment),
      channel_(segment.workers[options.worker_id % shm::kCtlMaxWorkers]),
      options_(options) {
  options_.worker_id %= shm::kCtlMaxWorkers;  // the constructor's precondition, made safe
}

bool CtlClient::control_plane_up(uint64_t now_ns) const {
  return shm::ctl_server_alive(segment_, now_ns, options_.heartbeat_timeout_ns);
}

bool CtlClient::take_new_control_plane(uint64_t now_ns) {
  if (!control_plane_up(now_ns)) return false;
  // relaxed: the acquire load of the heartbeat in control_plane_up() already orders this
  // read after the control plane's store of start_ns, which precedes its first beat.
  const uint64_t start = segment_.server.start_ns.load(std::memory_order_relaxed);
  if (start == 0 || start == seen_start_ns_) return false;
  seen_start_ns_ = start;
  ++counters_.control_plane_attaches;
  return true;
}

CtlClient::Submit CtlClient::submit(ctl::CtlMessage& msg, uint64_t now_ns) {
  const auto type = static_cast<ctl::CtlType>(msg.header.type);
  if (!ctl::ctl_type_is_known(msg.header.type) ||
      ctl::ctl_type_direction(type) != ctl::CtlDirection::to_control_plane ||
      msg.header.payload_len != ctl::ctl_payload_size(type)) {
    ++counters_.refused_bad_message;
    return Submit::bad_message;
  }
  if (!control_plane_up(now_ns)) {
    ++counters_.refused_down;
    return Submit::control_plane_down;
  }
  Pending* slot = nullptr;
  for (Pending& p : pending_) {
    if (p.request_id == 0) {
      slot = &p;
      break;
    }
  }
  if (slot == nullptr) {
    ++counters_.refused_in_flight;
    return Submit::too_many_in_flight;
  }
  msg.header.magic = ctl::kCtlMagic;
  msg.header.version = ctl::kCtlVersion;
  msg.header.worker_id = options_.worker_id;
  msg.header.request_id = next_request_id_;
  if (!channel_.requests.try_push(ctl::ctl_message_bytes(msg))) {
    ++counters_.refused_ring_full;
    return Submit::ring_full;
  }
  shm::ctl_doorbell_ring(segment_.server);
  ++next_request_id_;  // never 0: 2^64 requests do not happen
  *slot = Pending{msg.header.request_id, now_ns + options_.request_timeout_ns, type};
  ++in_flight_;
  ++counters_.submitted;
  return Submit::ok;
}

bool CtlClient::next(ctl::CtlMessage& out) {
  uint32_t length = 0;
  while (channel_.responses.try_pop(pop_buffer_, length)) {
    const ctl::CtlDecodeError err = ctl::ctl_decode(
        std::span<const uint8_t>(pop_buffer_.data(), length), ctl::CtlDirection::to_worker, out);
    if (err != ctl::CtlDecodeError::ok) {
      ++counters_.decode_errors[static_cast<size_t>(err)];
      continue;
    }
    if (out.header.worker_id != options_.worker_id) {
      ++counters_.decode_errors[static_cast<size_t>(ctl::CtlDecodeError::bad_worker_id)];
      continue;
    }
    if (ctl::ctl_type_is_notice(static_cast<ctl::CtlType>(out.header.type))) {
      ++counters_.notices;
      return true;
    }
    bool matched = false;
    for (Pending& p : pending_) {
      if (p.request_id != 0 && p.request_id == out.header.request_id) {
        const uint16_t expected = static_cast<uint16_t>(ctl::ctl_answer_type(p.type));
        if (out.header.type != expected &&
            out.header.type != static_cast<uint16_t>(ctl::CtlType::error)) {
          ++counters_.mismatched_responses;
          break;  // left pending: it will expire and be answered try-again
        }
        p.request_id = 0;
        --in_flight_;
        matched = true;
        break;
      }
    }
    if (!matched) {  // expired earlier, from before a control-plane restart, or mismatched
      ++counters_.late_responses;
      continue;
    }
    ++counters_.responses;
    return true;
  }
  return false;
}

}  // namespace tg::dataplane
