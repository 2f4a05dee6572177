// RFC 6479 anti-replay window: the default instantiation and the verdict names.
#include "dataplane/dtls/replay_window.h"

namespace tg::dtls {

template class BasicReplayWindow<replay::kDefaultRingWords>;

const char* replay_verdict_name(ReplayVerdict verdict) {
  switch (verdict) {
    case ReplayVerdict::kAccept: return "accept";
    case ReplayVerdict::kTooOld: return "replay_too_old";
    case ReplayVerdict::kDuplicate: return "replay_duplicate";
    case ReplayVerdict::kOutOfRange: return "replay_seq_out_of_range";
  }
  return "unknown";
}

}  // namespace tg::dtls
