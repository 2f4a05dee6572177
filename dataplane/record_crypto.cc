// The session pool constructor of DPDK 22.11 is still marked experimental (it replaced the
// old two-step session API in this release); it is the only way to size the pool for the PMD.
#define ALLOW_EXPERIMENTAL_API 1
#include "dataplane/record_crypto.h"

#include <algorithm>
#include <cstring>
#include <new>

#include <rte_bus_vdev.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/dataplane.h"

namespace tg::dp {
namespace {

// The op's private area: the 12-byte nonce (padded to 16), the 13-byte AAD (padded to 16),
// then the index of the job the op belongs to.
constexpr uint16_t kOpIvOffset = sizeof(rte_crypto_op) + sizeof(rte_crypto_sym_op);
constexpr uint16_t kOpAadOffset = kOpIvOffset + 16;
constexpr uint16_t kOpJobOffset = kOpAadOffset + 16;
constexpr uint16_t kOpPrivBytes = 16 + 16 + 8;
constexpr uint32_t kOpPoolSize = 8191;
constexpr uint16_t kQueueDescriptors = 2048;
constexpr unsigned kMaxJobs = 4 * kBurst;
// A software cryptodev completes every op within a few dequeue calls; a device that stops
// answering must not hang the lcore for ever.
constexpr unsigned kMaxDequeueSpins = 1u << 20;

bool is_gcm(crypto::DtlsCipher c) { return c != crypto::DtlsCipher::kChacha20Poly1305; }

rte_crypto_aead_algorithm aead_algo(crypto::DtlsCipher c) {
  return is_gcm(c) ? RTE_CRYPTO_AEAD_AES_GCM : RTE_CRYPTO_AEAD_CHACHA20_POLY1305;
}

bool device_has(uint8_t dev_id, rte_crypto_aead_algorithm algo, uint16_t key_len) {
  rte_cryptodev_sym_capability_idx idx{};
  idx.type = RTE_CRYPTO_SYM_XFORM_AEAD;
  idx.algo.aead = algo;
  const rte_cryptodev_symmetric_capability* cap = rte_cryptodev_sym_capability_get(dev_id, &idx);
  return cap != nullptr &&
         rte_cryptodev_sym_capability_check_aead(cap, key_len, dtls::aead::kTagBytes, dtls::aead::kAadBytes,
                                                 dtls::aead::kNonceBytes) == 0;
}

}  // namespace

std::string record_crypto_setup(const std::string& spec, uint16_t n_queue_pairs, uint32_t max_sessions,
                                int socket_id, RecordCryptoDev* dev, std::string* warning) {
  *dev = RecordCryptoDev{};
  if (spec == "none") {
    *warning = "dataplane.cryptodev is \"none\": DTLS records are protected with wolfCrypt on the poll lcores";
    return {};
  }
  const std::string driver = spec == "auto" ? "crypto_aesni_mb" : spec;
  auto fail = [&](const std::string& why) -> std::string {
    record_crypto_teardown(dev);
    if (spec == "auto") {
      *warning = "no cryptodev (" + why + "): DTLS records are protected with wolfCrypt on the poll lcores";
      return {};
    }
    return "cryptodev " + driver + ": " + why;
  };
  // vdev names start with the driver's name; the suffix keeps ours apart from any --vdev.
  const std::string name = driver + "_tunnelgate";
  const std::string args = "max_nb_queue_pairs=" + std::to_string(n_queue_pairs) +
                           ",socket_id=" + std::to_string(socket_id < 0 ? 0 : socket_id);
  if (rte_vdev_init(name.c_str(), args.c_str()) != 0) return fail("cannot create the vdev");
  const int id = rte_cryptodev_get_dev_id(name.c_str());
  if (id < 0) return fail("not registered after creation");
  dev->dev_id = id;
  dev->name = driver;
  const auto dev_id = static_cast<uint8_t>(id);
  dev->aes_gcm = device_has(dev_id, RTE_CRYPTO_AEAD_AES_GCM, 16) && device_has(dev_id, RTE_CRYPTO_AEAD_AES_GCM, 32);
  dev->chacha20_poly1305 = device_has(dev_id, RTE_CRYPTO_AEAD_CHACHA20_POLY1305, 32);
  if (!dev->aes_gcm && !dev->chacha20_poly1305) return fail("it has neither AES-GCM nor ChaCha20-Poly1305");

  rte_cryptodev_config conf{};
  conf.socket_id = socket_id;
  conf.nb_queue_pairs = n_queue_pairs;
  conf.ff_disable = RTE_CRYPTODEV_FF_ASYMMETRIC_CRYPTO | RTE_CRYPTODEV_FF_SECURITY;
  if (rte_cryptodev_configure(dev_id, &conf) != 0) return fail("configure failed");
  // Two sessions (one per direction) for every DTLS session, plus the ones being replaced.
  const uint32_t n_sessions = 2 * max_sessions + 64;
  dev->session_pool = rte_cryptodev_sym_session_pool_create(
      "tg_crypto_sessions", n_sessions, rte_cryptodev_sym_get_private_session_size(dev_id), 0, 0, socket_id);
  if (dev->session_pool == nullptr) return fail(std::string("session pool: ") + rte_strerror(rte_errno));
  for (uint16_t q = 0; q < n_queue_pairs; q++) {
    rte_cryptodev_qp_conf qp{};
    qp.nb_descriptors = kQueueDescriptors;
    qp.mp_session = dev->session_pool;
    if (rte_cryptodev_queue_pair_setup(dev_id, q, &qp, socket_id) != 0)
      return fail("queue pair " + std::to_string(q) + " setup failed");
  }
  dev->n_queue_pairs = n_queue_pairs;
  if (rte_cryptodev_start(dev_id) != 0) return fail("start failed");
  dev->op_pool = rte_crypto_op_pool_create("tg_crypto_ops", RTE_CRYPTO_OP_TYPE_SYMMETRIC, kOpPoolSize, 128,
                                           kOpPrivBytes, socket_id);
  if (dev->op_pool == nullptr) return fail(std::string("op pool: ") + rte_strerror(rte_errno));
  return {};
}

void record_crypto_teardown(RecordCryptoDev* dev) {
  if (dev->dev_id >= 0) {
    const auto dev_id = static_cast<uint8_t>(dev->dev_id);
    rte_cryptodev_stop(dev_id);
    rte_cryptodev_close(dev_id);
    rte_vdev_uninit((dev->name + "_tunnelgate").c_str());
  }
  rte_mempool_free(dev->op_pool);
  rte_mempool_free(dev->session_pool);
  *dev = RecordCryptoDev{};
}

CipherState* cipher_state_create(const RecordCryptoDev& dev, const crypto::DtlsRecordKeys& keys,
                                 std::string* error) {
  void* mem = rte_zmalloc("tg_cipher_state", sizeof(CipherState), RTE_CACHE_LINE_SIZE);
  if (mem == nullptr) {
    *error = "out of memory for a cipher state";
    return nullptr;
  }
  auto* cs = new (mem) CipherState();
  cs->cipher = keys.cipher;
  cs->explicit_nonce = is_gcm(keys.cipher) ? dtls::aead::kGcmExplicitNonceBytes : 0;
  cs->overhead = static_cast<uint16_t>(cs->explicit_nonce + dtls::aead::kTagBytes);
  if (dev.supports(keys.cipher)) {
    cs->dev_id = dev.dev_id;
    for (int dir = 0; dir < 2; dir++) {
      const crypto::DtlsDirectionKeys& k = dir == 0 ? keys.rx : keys.tx;
      rte_crypto_sym_xform x{};
      x.type = RTE_CRYPTO_SYM_XFORM_AEAD;
      x.aead.op = dir == 0 ? RTE_CRYPTO_AEAD_OP_DECRYPT : RTE_CRYPTO_AEAD_OP_ENCRYPT;
      x.aead.algo = aead_algo(keys.cipher);
      x.aead.key.data = k.key.data();
      x.aead.key.length = k.key_len;
      x.aead.iv.offset = kOpIvOffset;
      x.aead.iv.length = dtls::aead::kNonceBytes;
      x.aead.digest_length = dtls::aead::kTagBytes;
      x.aead.aad_length = dtls::aead::kAadBytes;
      void* s = rte_cryptodev_sym_session_create(static_cast<uint8_t>(dev.dev_id), &x, dev.session_pool);
      if (s == nullptr) {
        *error = std::string("cryptodev session: ") + rte_strerror(rte_errno);
        cipher_state_free(cs);
        return nullptr;
      }
      (dir == 0 ? cs->dev_rx : cs->dev_tx) = s;
    }
    // The device holds the expanded keys; keep only the implicit IVs here.
    cs->rx_iv = keys.rx;
    cs->tx_iv = keys.tx;
    cs->rx_iv.key.fill(0);
    cs->tx_iv.key.fill(0);
    return cs;
  }
  if (!cs->soft_rx.init(keys.cipher, keys.rx) || !cs->soft_tx.init(keys.cipher, keys.tx)) {
    *error = std::string("wolfCrypt refused the ") + crypto::dtls_cipher_name(keys.cipher) + " keys";
    cipher_state_free(cs);
    return nullptr;
  }
  return cs;
}

void cipher_state_free(CipherState* cs) {
  if (cs == nullptr) return;
  if (cs->dev_rx != nullptr) rte_cryptodev_sym_session_free(static_cast<uint8_t>(cs->dev_id), cs->dev_rx);
  if (cs->dev_tx != nullptr) rte_cryptodev_sym_session_free(static_cast<uint8_t>(cs->dev_id), cs->dev_tx);
  cs->~CipherState();
  rte_free(cs);
}

namespace {

// Fills one op from its job; false when the record cannot be processed (too short).
bool fill_op(rte_crypto_op* op, RecordJob& job, uint16_t job_index) {
  const CipherState& cs = *job.cs;
  uint8_t* iv = rte_crypto_op_ctod_offset(op, uint8_t*, kOpIvOffset);
  uint8_t* aad = rte_crypto_op_ctod_offset(op, uint8_t*, kOpAadOffset);
  *rte_crypto_op_ctod_offset(op, uint16_t*, kOpJobOffset) = job_index;
  const bool gcm = is_gcm(cs.cipher);
  uint8_t* data;
  uint16_t len;
  dtls::AeadNonce nonce;
  dtls::AeadAad ad;
  if (job.seal) {
    uint8_t* r = job.record;
    const uint16_t frag_len = static_cast<uint16_t>(cs.explicit_nonce + job.plaintext_len + dtls::aead::kTagBytes);
    r[dtls::wire::kTypeOffset] = static_cast<uint8_t>(dtls::ContentType::kApplicationData);
    store_be16(r + dtls::wire::kVersionOffset, dtls::wire::kVersionDtls12);
    const auto seq_num = dtls::dtls_seq_num(job.epoch, job.sequence);
    std::memcpy(r + dtls::wire::kEpochOffset, seq_num.data(), seq_num.size());
    store_be16(r + dtls::wire::kLengthOffset, frag_len);
    if (gcm) {
      std::memcpy(r + dtls::wire::kRecordHeaderBytes, seq_num.data(), seq_num.size());
      dtls::GcmSalt salt;
      std::memcpy(salt.data(), cs.tx_iv.iv.data(), salt.size());
      nonce = dtls::dtls_gcm_nonce_tx(salt, job.epoch, job.sequence);
    } else {
      dtls::ChachaIv civ;
      std::memcpy(civ.data(), cs.tx_iv.iv.data(), civ.size());
      nonce = dtls::dtls_chacha_nonce(civ, job.epoch, job.sequence);
    }
    ad = dtls::dtls_aead_aad(job.epoch, job.sequence, dtls::ContentType::kApplicationData,
                             dtls::wire::kVersionDtls12, job.plaintext_len);
    data = r + dtls::wire::kRecordHeaderBytes + cs.explicit_nonce;
    len = job.plaintext_len;
  } else {
    size_t pt_len = 0;
    if (dtls::dtls_aead_plaintext_len(gcm ? dtls::AeadCipher::kAesGcm : dtls::AeadCipher::kChacha20Poly1305,
                                      job.rec.fragment.size(), &pt_len) != dtls::DtlsParseError::kOk)
      return false;
    const uint8_t* frag = job.rec.fragment.data();
    if (gcm) {
      dtls::GcmSalt salt;
      std::memcpy(salt.data(), cs.rx_iv.iv.data(), salt.size());
      dtls::GcmExplicitNonce explicit_nonce;
      std::memcpy(explicit_nonce.data(), frag, explicit_nonce.size());
      nonce = dtls::dtls_gcm_nonce_rx(salt, explicit_nonce);
    } else {
      dtls::ChachaIv civ;
      std::memcpy(civ.data(), cs.rx_iv.iv.data(), civ.size());
      nonce = dtls::dtls_chacha_nonce(civ, job.rec.epoch, job.rec.sequence);
    }
    ad = dtls::dtls_aead_aad(job.rec.epoch, job.rec.sequence, job.rec.type, job.rec.version,
                             static_cast<uint16_t>(pt_len));
    data = const_cast<uint8_t*>(frag) + cs.explicit_nonce;
    len = static_cast<uint16_t>(pt_len);
  }
  std::memcpy(iv, nonce.data(), nonce.size());
  std::memcpy(aad, ad.data(), ad.size());
  rte_crypto_op_attach_sym_session(op, job.seal ? cs.dev_tx : cs.dev_rx);
  rte_crypto_sym_op* sym = op->sym;
  sym->m_src = job.m;
  sym->m_dst = nullptr;
  uint8_t* base = rte_pktmbuf_mtod(job.m, uint8_t*);
  sym->aead.data.offset = static_cast<uint32_t>(data - base);
  sym->aead.data.length = len;
  sym->aead.digest.data = data + len;
  sym->aead.digest.phys_addr = rte_pktmbuf_iova_offset(job.m, data + len - base);
  sym->aead.aad.data = aad;
  sym->aead.aad.phys_addr = rte_crypto_op_ctophys_offset(op, kOpAadOffset);
  job.plaintext = std::span<uint8_t>(data, len);
  return true;
}

}  // namespace

void record_crypto_run(const RecordCryptoDev& dev, uint16_t qp, RecordJob* jobs, unsigned n,
                       const RecordCryptoCounters& counters) {
  uint16_t dev_jobs[kMaxJobs];
  unsigned n_dev = 0;
  for (unsigned i = 0; i < n; i++) {
    RecordJob& j = jobs[i];
    j.ok = false;
    if (j.cs->dev_id >= 0 && n_dev < kMaxJobs) {
      dev_jobs[n_dev++] = static_cast<uint16_t>(i);
      continue;
    }
    if (j.cs->dev_id >= 0) {  // more jobs than one batch holds: never with our burst sizes
      *counters.failed += 1;
      continue;
    }
    if (j.seal) {
      j.ok = j.cs->soft_tx.seal(j.record, j.plaintext_len, j.epoch, j.sequence) != 0;
    } else {
      j.ok = j.cs->soft_rx.open(j.rec, j.record, &j.plaintext);
    }
  }
  if (n_dev == 0) return;
  rte_crypto_op* ops[kMaxJobs];
  if (rte_crypto_op_bulk_alloc(dev.op_pool, RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops, static_cast<uint16_t>(n_dev)) == 0) {
    *counters.failed += n_dev;
    return;
  }
  rte_crypto_op* ready[kMaxJobs];
  uint16_t n_ready = 0;
  for (unsigned k = 0; k < n_dev; k++) {
    if (fill_op(ops[k], jobs[dev_jobs[k]], dev_jobs[k])) {
      ready[n_ready++] = ops[k];
    } else {
      rte_crypto_op_free(ops[k]);  // too short: the job stays !ok
    }
  }
  const auto dev_id = static_cast<uint8_t>(dev.dev_id);
  const uint16_t sent = rte_cryptodev_enqueue_burst(dev_id, qp, ready, n_ready);
  *counters.enqueued += sent;
  if (sent > *counters.queue_depth_max) *counters.queue_depth_max = sent;
  for (uint16_t k = sent; k < n_ready; k++) {
    *counters.failed += 1;
    rte_crypto_op_free(ready[k]);
  }
  rte_crypto_op* done[kMaxJobs];
  uint16_t back = 0;
  for (unsigned spins = 0; back < sent && spins < kMaxDequeueSpins; spins++) {
    const uint16_t got = rte_cryptodev_dequeue_burst(dev_id, qp, done + back, static_cast<uint16_t>(sent - back));
    for (uint16_t k = back; k < back + got; k++) {
      const rte_crypto_op* op = done[k];
      RecordJob& j = jobs[*rte_crypto_op_ctod_offset(op, const uint16_t*, kOpJobOffset)];
      j.ok = op->status == RTE_CRYPTO_OP_STATUS_SUCCESS;
      if (!j.ok && op->status != RTE_CRYPTO_OP_STATUS_AUTH_FAILED) *counters.failed += 1;
    }
    back = static_cast<uint16_t>(back + got);
  }
  rte_mempool_put_bulk(dev.op_pool, reinterpret_cast<void* const*>(done), back);  // one put per burst
  *counters.dequeued += back;
}

}  // namespace tg::dp
