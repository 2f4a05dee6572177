// DTLS anti-replay: an RFC 6479 sliding bitmap over 48-bit record sequence numbers.
//
// The bitmap is a ring of 64-bit words. Moving the window forward zeroes whole words
// instead of shifting bits (RFC 6479 §2), so the cost of a jump is bounded by the ring
// size whatever its distance. This is the layout of wireguard-go `replay/` and of VPP's
// ipsec anti-replay, with the DTLS window rule of RFC 6347 §4.1.2.6 (= RFC 4303 §3.4.3):
// with `top` the highest sequence number authenticated so far, a number is in the window
// when top - seq < kWindowSize, so the window holds exactly kWindowSize numbers: top and
// the kWindowSize - 1 below it. The ring needs one more word than the window covers,
// because the word holding `top` is only partly inside the window.
//
// Two phases, because a record is only known to be genuine after its AEAD tag is checked
// (an attacker can put any sequence number in a forged record):
//
//   1. check(seq)   on the poll lcore before the record is handed to decryption: reject
//                   what is too old or already seen. Read-only: a forged record must not
//                   move the window.
//   2. advance(seq) in the post-decrypt pass, only for a record whose tag verified. It
//                   checks again and marks the number seen. A batch can hold two copies
//                   of one record that both passed check() (both in flight at once), so
//                   advance() returns false for the second one and the caller drops it as
//                   a replay (VPP checks twice for the same reason).
//
// One window per direction per epoch: DTLS restarts the sequence at 0 in a new epoch, so
// the owner calls reset() when the receive epoch changes.
//
// Thread-safety: none. A window belongs to one session's receive state, which only the
// session's owner lcore touches (STYLE habit 9); no atomics, no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace tg::dtls {

namespace replay {
/// DTLS 1.2 sequence numbers are 48 bits (RFC 6347 §4.1); a sender must not wrap them.
inline constexpr uint64_t kMaxSequence = (uint64_t{1} << 48) - 1;
inline constexpr uint32_t kBitsPerWordLog2 = 6;
inline constexpr uint32_t kBitsPerWord = 1u << kBitsPerWordLog2;
/// Ring of the default window: 16 words = 1024 bits, a 960-number window (wireguard-go
/// uses 128 words for a WireGuard counter; DTLS over one UDP path reorders far less, and
/// the window lives in the session's hot part, so it is kept to about two cache lines).
inline constexpr uint32_t kDefaultRingWords = 16;
}  // namespace replay

/// What check() / advance() decided about one sequence number.
enum class ReplayVerdict : uint8_t {
  kAccept,      ///< new and inside (or ahead of) the window
  kTooOld,      ///< kWindowSize or more below the highest number seen
  kDuplicate,   ///< inside the window and already seen
  kOutOfRange,  ///< above 2^48 - 1: not a DTLS sequence number (caller bug, not wire data)
};

/// RFC 6479 anti-replay window.
/// @tparam kRingWords number of 64-bit words in the ring: a power of two, at least 2. The
///         window is (kRingWords - 1) * 64 sequence numbers.
/// Plain data (trivially copyable, standard layout, no allocation): it lives inside the
/// session's hot receive state. Zero-initialised (`ReplayWindow w{}` or reset()) it has
/// seen nothing, so the first record, even seq 0, is accepted.
template <uint32_t kRingWords>
class BasicReplayWindow {
  static_assert(kRingWords >= 2 && (kRingWords & (kRingWords - 1)) == 0,
                "the ring is a power of two of at least two words");

 public:
  /// Sequence numbers the window covers: `top` and the kWindowSize - 1 below it.
  static constexpr uint64_t kWindowSize = uint64_t{kRingWords - 1} * replay::kBitsPerWord;

  /// Phase 1, before decryption: would `seq` be accepted now? Does not change the window.
  /// @param seq the record's 48-bit sequence number (untrusted: not yet authenticated).
  /// @return kAccept, or the reason to drop the record without decrypting it.
  ReplayVerdict check(uint64_t seq) const {
    if (seq > replay::kMaxSequence) return ReplayVerdict::kOutOfRange;
    if (seq > top_) return ReplayVerdict::kAccept;  // ahead of the window: never seen
    if (top_ - seq >= kWindowSize) return ReplayVerdict::kTooOld;
    return (words_[word_index(seq)] & bit_mask(seq)) != 0 ? ReplayVerdict::kDuplicate
                                                         : ReplayVerdict::kAccept;
  }

  /// Phase 2, after the record's AEAD tag verified: check again and mark `seq` seen,
  /// sliding the window forward when `seq` is above the highest number seen.
  /// @param seq the authenticated record's sequence number.
  /// @return kAccept when the record is new (deliver it), otherwise the reason to drop it
  ///         (kDuplicate when another copy was advanced since its check()).
  ReplayVerdict advance(uint64_t seq) {
    if (seq > replay::kMaxSequence) return ReplayVerdict::kOutOfRange;
    if (seq > top_) {
      // Zero the words the window slides over, at most the whole ring: a jump of more
      // than the window forgets everything, which is right since all of it is too old.
      const uint64_t top_word = top_ >> replay::kBitsPerWordLog2;
      uint64_t words_to_clear = (seq >> replay::kBitsPerWordLog2) - top_word;
      if (words_to_clear > kRingWords) words_to_clear = kRingWords;
      for (uint64_t i = 1; i <= words_to_clear; i++) words_[(top_word + i) & kRingMask] = 0;
      top_ = seq;
    } else if (top_ - seq >= kWindowSize) {
      return ReplayVerdict::kTooOld;
    }
    uint64_t& word = words_[word_index(seq)];
    const uint64_t bit = bit_mask(seq);
    if ((word & bit) != 0) return ReplayVerdict::kDuplicate;
    word |= bit;
    return ReplayVerdict::kAccept;
  }

  /// Forget everything (new epoch, new DTLS session).
  void reset() { *this = BasicReplayWindow{}; }

  /// Highest sequence number advanced so far (0 when nothing was).
  uint64_t top() const { return top_; }

  /// The ring word check(seq) and advance(seq) read besides `top`: for a prefetch ahead of
  /// them (a session's window is cold when records of many sessions interleave).
  const uint64_t* word_of(uint64_t seq) const { return &words_[word_index(seq)]; }

 private:
  static constexpr uint64_t kRingMask = kRingWords - 1;
  static size_t word_index(uint64_t seq) {
    return static_cast<size_t>((seq >> replay::kBitsPerWordLog2) & kRingMask);
  }
  static uint64_t bit_mask(uint64_t seq) {
    return uint64_t{1} << (seq & (replay::kBitsPerWord - 1));
  }

  uint64_t top_ = 0;
  uint64_t words_[kRingWords] = {};
};

/// The window of a session's DTLS receive state.
using ReplayWindow = BasicReplayWindow<replay::kDefaultRingWords>;
extern template class BasicReplayWindow<replay::kDefaultRingWords>;

static_assert(ReplayWindow::kWindowSize >= 64, "RFC 6347 §4.1.2.6: at least 64 numbers");
// It sits in the session's hot receive part next to the key handle and epoch: 136 bytes,
// about two cache lines, no pointers, copyable with memcpy.
static_assert(sizeof(ReplayWindow) == sizeof(uint64_t) * (replay::kDefaultRingWords + 1));
static_assert(sizeof(ReplayWindow) <= 3 * 64, "keep the hot session part small");
static_assert(std::is_trivially_copyable_v<ReplayWindow>);
static_assert(std::is_standard_layout_v<ReplayWindow>);

/// Short stable name of a verdict (logs and drop counters).
const char* replay_verdict_name(ReplayVerdict verdict);

}  // namespace tg::dtls
