// Record protection of the DTLS fast path: the cipher state of one session and the burst
// interface the poll lcores run once per RX or TX burst.
//
// Engines, chosen per process at start (dataplane.cryptodev) and per session by cipher:
//   * intel-ipsec-mb's direct AES-GCM API (the default for AES-GCM, dataplane.cryptodev
//     "auto"): the lcore calls the library the intel-ipsec-mb PMDs wrap, one call per
//     record, with the session's expanded keys (gcm_key_data) beside its cipher state, as
//     VPP's ipsecmb engine does. No cryptodev session, job or vector (the PMD copies ~20
//     session fields into an IMB_JOB per record): the record path takes 280 instead of 297
//     cycles at 64 B and 448 instead of 503 at 1400 B to decrypt, 223 / 245 and 390 / 471
//     to encrypt (bench/dtls_record_bench BM_Dtls*Path engine:1 vs engine:3), and a 64-byte
//     record reads 5 lines of key material (the round keys, the lowest GHASH key powers)
//     instead of 7 lines of a cryptodev session.
//   * cryptodev, synchronous CPU crypto (RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO; in DPDK 22.11 the
//     intel-ipsec-mb PMDs crypto_aesni_mb, the default for ChaCha20-Poly1305 and for every
//     cipher when dataplane.cryptodev names it, and crypto_aesni_gcm; the flag is only
//     believed after one record per cipher went through, because 22.11's
//     crypto_chacha20_poly1305 sets it without implementing the call): one AEAD session per
//     direction, and the lcore runs the cipher itself over a vector of the burst's records
//     (rte_cryptodev_sym_cpu_crypto_process, one call per run of records of the same
//     session), as DPDK's lib/ipsec does for RTE_SECURITY_ACTION_TYPE_CPU_CRYPTO. No ops, no
//     rings, no polling.
//   * cryptodev, asynchronous (a device without that flag, e.g. a hardware cryptodev through
//     SR-IOV): ops allocated in bulk, one enqueue burst per lcore queue pair, then dequeued
//     until every op came back. AAD and IV live in the op's private area.
//   * wolfCrypt (crypto::RecordAead) on the lcore itself: no cryptodev, or one that lacks
//     the negotiated cipher. One call per record. With tunnelgate's static wolfSSL
//     (/opt/tunnelgate/wolfssl: AES-NI, intelasm) AES-GCM takes 1.5x (64 B) to 2x (1400 B)
//     the cycles of intel-ipsec-mb's VAES code (dataplane/README.md); Debian's wolfSSL has
//     no AES-NI.
// All produce the same bytes: the unit tests check each against a wolfSSL DTLS peer.
//
// Thread-safety: RecordCryptoDev is set up on the main lcore before the poll lcores start
// and is read-only after. cipher_state_create/free may run on any thread (TLS workers
// create, the owning lcore frees). record_crypto_run runs on one poll lcore with its own
// queue pair.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include <rte_prefetch.h>

#include "crypto/dtls_record_keys.h"
#include "crypto/record_aead.h"
#include "dataplane/dtls/dtls_record.h"

struct rte_mbuf;
struct rte_mempool;
struct IMB_MGR;  // intel-ipsec-mb's manager (intel-ipsec-mb.h)

namespace tg::dp {

/// Who runs a session's AEAD (record_crypto.h's header comment).
enum class RecordEngine : uint8_t { kWolfCrypt, kIpsecMb, kCpuCrypto, kQueuePair };
/// Its name in logs: wolfCrypt, intel-ipsec-mb, cryptodev_cpu_crypto, cryptodev_queue_pair.
const char* record_engine_name(RecordEngine e);

/// Bit k: the k-th 64 bytes of a session's key material that the AEAD of a short and of a
/// long record reads (record_crypto_prefetch_key).
struct KeyLines {
  uint64_t short_record = 0;
  uint64_t long_record = 0;
};

/// What record_crypto_prefetch_key knows of an intel-ipsec-mb key (gcm_key_data).
struct IpsecMbKeyLayout {
  /// The lines of an AES-128 / AES-256 key a record reads, beyond the GHASH key powers the
  /// record's length needs.
  KeyLines lines[2];
  /// GHASH key powers are laid out as intel-ipsec-mb 1.3's VAES code has them (48, the
  /// lowest last): a record's length says which lines it reads. Else every line is prefetched.
  bool vaes = false;
};

/// The process' record crypto engines. Set up by record_crypto_setup().
struct RecordCryptoDev {
  /// intel-ipsec-mb for AES-GCM (nullptr: AES-GCM goes to the cryptodev). Its direct GCM
  /// calls only read the manager's function pointers: one manager serves every lcore.
  IMB_MGR* ipsec_mb = nullptr;
  IpsecMbKeyLayout ipsec_mb_layout;
  int dev_id = -1;          ///< -1: no cryptodev, every session uses wolfCrypt (or intel-ipsec-mb)
  std::string name;         ///< driver name, for logs and metrics
  rte_mempool* session_pool = nullptr;
  rte_mempool* op_pool = nullptr;
  uint16_t n_queue_pairs = 0;  ///< one per poll lcore
  /// RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO: sessions made on this device run on the lcore
  /// (cleared by tests to exercise the enqueue/dequeue path on the same device)
  bool cpu_crypto = false;
  void* warm_session = nullptr;  ///< for record_crypto_lcore_init (CPU crypto only)
  /// The lines of one of its sessions (from the session pointer) a record reads.
  KeyLines session_lines;
  bool aes_gcm = false;     ///< capabilities found on the device
  bool chacha20_poly1305 = false;
  bool supports(crypto::DtlsCipher c) const {
    return dev_id >= 0 && (c == crypto::DtlsCipher::kChacha20Poly1305 ? chacha20_poly1305 : aes_gcm);
  }
  /// The engine a new session of cipher `c` gets.
  RecordEngine engine_for(crypto::DtlsCipher c) const {
    if (ipsec_mb != nullptr && c != crypto::DtlsCipher::kChacha20Poly1305) return RecordEngine::kIpsecMb;
    if (!supports(c)) return RecordEngine::kWolfCrypt;
    return cpu_crypto ? RecordEngine::kCpuCrypto : RecordEngine::kQueuePair;
  }
};

/// Creates and starts the cryptodev named by `spec` ("auto": intel-ipsec-mb for AES-GCM and
/// crypto_aesni_mb for the rest, "none": wolfCrypt only) with `n_queue_pairs` queue pairs,
/// room for `max_sessions` DTLS sessions.
/// @return "" on success; for "auto" a failure is not an error: dev stays without that
///   engine and *warning says why. For a named device a failure is the returned error.
std::string record_crypto_setup(const std::string& spec, uint16_t n_queue_pairs, uint32_t max_sessions,
                                int socket_id, RecordCryptoDev* dev, std::string* warning);
/// Stops and closes the device, frees the pools and the intel-ipsec-mb manager.
void record_crypto_teardown(RecordCryptoDev* dev);
/// Readies the calling lcore for CPU crypto (the PMD's per-thread intel-ipsec-mb manager
/// is allocated on a thread's first call), so that the first record does not allocate.
/// Call on each poll lcore before its loop; nothing to do without CPU crypto.
void record_crypto_lcore_init(const RecordCryptoDev& dev);

/// Cipher state of one DTLS session, both directions. Created by a TLS worker after the
/// handshake (keys in, never the long-term secrets), handed to the owning lcore, freed there.
/// Its first line holds all a record reads when a cryptodev does the work: with many
/// sessions it is one miss per record (the lengths behind the wolfCrypt contexts made three).
struct alignas(64) CipherState {
  /// The key material each direction's AEAD reads: the cryptodev session, or the
  /// intel-ipsec-mb expanded key (gcm_key_data, allocated behind this struct). nullptr
  /// with wolfCrypt.
  void* key_rx = nullptr;
  void* key_tx = nullptr;
  std::array<uint8_t, 12> rx_iv{};  ///< implicit IV: GCM's 4-byte salt (RFC 5288) or ChaCha's 12 bytes (RFC 7905)
  std::array<uint8_t, 12> tx_iv{};
  int dev_id = -1;             ///< >= 0: the keys are sessions of this cryptodev
  uint16_t explicit_nonce = 0; ///< 8 for GCM, 0 for ChaCha20-Poly1305
  uint16_t overhead = 0;       ///< explicit nonce + tag
  crypto::DtlsCipher cipher{};
  RecordEngine engine = RecordEngine::kWolfCrypt;
  crypto::RecordAead soft_rx;  ///< wolfCrypt, when dev_id < 0
  crypto::RecordAead soft_tx;
};

/// @return a new state (rte_zmalloc'd) or nullptr with *error, on the engine
///   dev.engine_for(keys.cipher).
CipherState* cipher_state_create(const RecordCryptoDev& dev, const crypto::DtlsRecordKeys& keys,
                                 std::string* error);
/// Frees it and wipes its keys.
void cipher_state_free(CipherState* cs);

/// Records longer than this read most of a cryptodev session's GHASH key powers.
inline constexpr size_t kShortRecordBytes = 256;

/// Bytes of one direction's intel-ipsec-mb expanded key (gcm_key_data, rounded to lines).
/// cipher_state_create puts the receive key right behind its CipherState and the send key
/// behind that, so a key's address follows from the state's without reading the state.
inline constexpr size_t kIpsecMbKeyStride = 1024;

/// The expanded key behind an intel-ipsec-mb cipher state.
inline const void* ipsec_mb_key_behind(const CipherState* cs, bool tx) {
  return reinterpret_cast<const char*>(cs + 1) + (tx ? kIpsecMbKeyStride : 0);
}

/// Puts in flight line k of `base` for each bit k of `lines`.
/// (rte_prefetch0, an asm volatile: GCC removed a loop of __builtin_prefetch here.)
inline void prefetch_lines(const void* base, uint64_t lines) {
  const auto* p = static_cast<const char*>(base);
  for (; lines != 0; lines &= lines - 1) rte_prefetch0(p + __builtin_ctzll(lines) * RTE_CACHE_LINE_SIZE);
}

/// Puts in flight the lines of an intel-ipsec-mb key that opening or sealing a record of
/// `fragment_len` bytes reads (record_crypto_prefetch_key's, for that engine).
inline void record_crypto_prefetch_ipsec_mb_key(const RecordCryptoDev& dev, bool aes256, const void* key,
                                                size_t fragment_len) {
  const KeyLines& l = dev.ipsec_mb_layout.lines[aes256 ? 1 : 0];
  uint64_t m;
  if (dev.ipsec_mb_layout.vaes) {
    // H^n..H^1 for a record of n blocks (the AAD's block and the lengths' use H^1), n at
    // most 48; H^k is at byte 240 + 16 * (48 - k) of the 1008.
    const size_t n = std::min<size_t>((fragment_len + 15) / 16, 48);
    const size_t first_line = (240 + 16 * (48 - std::max<size_t>(n, 1))) / 64;
    m = l.short_record | (((uint64_t{1} << 16) - 1) & ~((uint64_t{1} << first_line) - 1));
  } else {
    m = l.long_record;
  }
  prefetch_lines(key, m);
}

/// Puts in flight the lines of `key` (cs.key_rx or cs.key_tx) that opening or sealing a
/// record of `fragment_len` bytes reads, for record_crypto_run to find in cache: with many
/// sessions each is cold, and the AEAD reads them one after another.
inline void record_crypto_prefetch_key(const RecordCryptoDev& dev, const CipherState& cs, const void* key,
                                       size_t fragment_len) {
  if (cs.engine == RecordEngine::kIpsecMb)
    return record_crypto_prefetch_ipsec_mb_key(dev, cs.cipher == crypto::DtlsCipher::kAes256Gcm, key, fragment_len);
  prefetch_lines(key, fragment_len > kShortRecordBytes ? dev.session_lines.long_record : dev.session_lines.short_record);
}

/// Jobs record_crypto_run takes at once (the TX side stages two bursts, plus room).
inline constexpr unsigned kMaxRecordJobs = 128;

/// One DTLS application-data record in a single-segment mbuf. No default member values:
/// the lcores keep a burst of these on the stack and set the fields a job needs (m, cs,
/// record, seal, then rec or plaintext_len/epoch/sequence); zeroing every job of every
/// burst cost more than the nonce and AAD. `RecordJob{}` still gives a zeroed job.
struct RecordJob {
  rte_mbuf* m;
  const CipherState* cs;
  uint8_t* record;             ///< the 13-byte header, inside m's data
  bool seal;
  // open: the parsed record (its spans point into m)
  dtls::DtlsRecord rec;
  // seal: plaintext at record + 13 + explicit nonce, 16 bytes of room after it
  uint16_t plaintext_len;
  uint16_t epoch;
  uint64_t sequence;
  // results (set by record_crypto_run)
  bool ok;
  std::span<uint8_t> plaintext;  ///< open: the decrypted bytes
};

/// Room for N jobs on the stack that constructs none: RecordJob's spans zero themselves, and
/// zeroing a TX burst's 64 jobs on every call was a tenth of tx_process (perf). The lcores
/// set each job's fields before it is used (see RecordJob).
template <unsigned N>
union RecordJobs {
  static_assert(std::is_trivially_destructible_v<RecordJob>);
  RecordJob job[N];
  RecordJobs() {}
};

/// Per-lcore crypto counters (the caller's stats block).
struct RecordCryptoCounters {
  uint64_t* enqueued;
  uint64_t* dequeued;
  uint64_t* failed;        ///< ops the device could not take or completed with an error other than auth
  uint64_t* queue_depth_max;
};

/// Protects or opens `n` records; sets ok (and plaintext for opens) per job. A job whose
/// session is on the cryptodev runs through its CPU crypto API or queue pair `qp`; others
/// through wolfCrypt. At most kMaxRecordJobs jobs (more are counted failed).
void record_crypto_run(const RecordCryptoDev& dev, uint16_t qp, RecordJob* jobs, unsigned n,
                       const RecordCryptoCounters& counters);

}  // namespace tg::dp
