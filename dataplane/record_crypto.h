// Record protection of the DTLS fast path: the cipher state of one session and the burst
// interface the poll lcores run once per RX or TX burst.
//
// Two back ends, chosen per process at start (dataplane.cryptodev) and per session by
// cipher support:
//   * cryptodev: one AEAD session per direction on the process' cryptodev (intel-ipsec-mb
//     crypto_aesni_mb by default), ops allocated in bulk, one enqueue burst per lcore queue
//     pair, then dequeued until every op came back. AAD and IV live in the op's private area.
//   * wolfCrypt (crypto::RecordAead) on the lcore itself: no cryptodev, or one that lacks
//     the negotiated cipher. Slower (Debian's wolfSSL has no AES-NI), never wrong.
// Both produce the same bytes: the unit tests check each against a wolfSSL DTLS peer.
//
// Thread-safety: RecordCryptoDev is set up on the main lcore before the poll lcores start
// and is read-only after. cipher_state_create/free may run on any thread (TLS workers
// create, the owning lcore frees). record_crypto_run runs on one poll lcore with its own
// queue pair.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "crypto/dtls_record_keys.h"
#include "crypto/record_aead.h"
#include "dataplane/dtls/dtls_record.h"

struct rte_mbuf;
struct rte_mempool;

namespace tg::dp {

/// The process' cryptodev (or none). Set up by record_crypto_setup().
struct RecordCryptoDev {
  int dev_id = -1;          ///< -1: no cryptodev, every session uses wolfCrypt
  std::string name;         ///< driver name, for logs and metrics
  rte_mempool* session_pool = nullptr;
  rte_mempool* op_pool = nullptr;
  uint16_t n_queue_pairs = 0;  ///< one per poll lcore
  bool aes_gcm = false;     ///< capabilities found on the device
  bool chacha20_poly1305 = false;
  bool supports(crypto::DtlsCipher c) const {
    return dev_id >= 0 && (c == crypto::DtlsCipher::kChacha20Poly1305 ? chacha20_poly1305 : aes_gcm);
  }
};

/// Creates and starts the cryptodev named by `spec` ("auto": crypto_aesni_mb, "none": no
/// device) with `n_queue_pairs` queue pairs, room for `max_sessions` DTLS sessions.
/// @return "" on success; for "auto" a failure is not an error: dev stays without a device
///   and *warning says why. For a named device a failure is the returned error.
std::string record_crypto_setup(const std::string& spec, uint16_t n_queue_pairs, uint32_t max_sessions,
                                int socket_id, RecordCryptoDev* dev, std::string* warning);
/// Stops and closes the device, frees the pools.
void record_crypto_teardown(RecordCryptoDev* dev);

/// Cipher state of one DTLS session, both directions. Created by a TLS worker after the
/// handshake (keys in, never the long-term secrets), handed to the owning lcore, freed there.
struct CipherState {
  crypto::DtlsCipher cipher{};
  int dev_id = -1;             ///< >= 0: the cryptodev sessions below are used
  void* dev_rx = nullptr;      ///< cryptodev decrypt session
  void* dev_tx = nullptr;      ///< cryptodev encrypt session
  crypto::DtlsDirectionKeys rx_iv;  ///< only iv/iv_len kept (salt or ChaCha IV); key zeroed
  crypto::DtlsDirectionKeys tx_iv;
  crypto::RecordAead soft_rx;  ///< wolfCrypt, when dev_id < 0
  crypto::RecordAead soft_tx;
  uint16_t explicit_nonce = 0; ///< 8 for GCM, 0 for ChaCha20-Poly1305
  uint16_t overhead = 0;       ///< explicit nonce + tag
};

/// @return a new state (rte_zmalloc'd) or nullptr with *error. Uses the cryptodev when it
///   supports keys.cipher, else wolfCrypt.
CipherState* cipher_state_create(const RecordCryptoDev& dev, const crypto::DtlsRecordKeys& keys,
                                 std::string* error);
void cipher_state_free(CipherState* cs);

/// One DTLS application-data record in a single-segment mbuf.
struct RecordJob {
  rte_mbuf* m = nullptr;
  const CipherState* cs = nullptr;
  uint8_t* record = nullptr;   ///< the 13-byte header, inside m's data
  bool seal = false;
  // open: the parsed record (its spans point into m)
  dtls::DtlsRecord rec{};
  // seal: plaintext at record + 13 + explicit nonce, 16 bytes of room after it
  uint16_t plaintext_len = 0;
  uint16_t epoch = 0;
  uint64_t sequence = 0;
  // results
  bool ok = false;
  std::span<uint8_t> plaintext;  ///< open: the decrypted bytes
};

/// Per-lcore crypto counters (the caller's stats block).
struct RecordCryptoCounters {
  uint64_t* enqueued;
  uint64_t* dequeued;
  uint64_t* failed;        ///< ops the device could not take or completed with an error other than auth
  uint64_t* queue_depth_max;
};

/// Protects or opens `n` records; sets ok (and plaintext for opens) per job. A job whose
/// session is on the cryptodev goes through queue pair `qp`; others through wolfCrypt.
void record_crypto_run(const RecordCryptoDev& dev, uint16_t qp, RecordJob* jobs, unsigned n,
                       const RecordCryptoCounters& counters);

}  // namespace tg::dp
