// The session pool constructor of DPDK 22.11 is still marked experimental (it replaced the
// old two-step session API in this release); it is the only way to size the pool for the PMD.
#define ALLOW_EXPERIMENTAL_API 1
#include "dataplane/record_crypto.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <new>

#include <intel-ipsec-mb.h>
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
constexpr unsigned kMaxJobs = kMaxRecordJobs;
static_assert(kMaxJobs >= 2 * kBurst, "a TX flush seals up to two bursts");
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

// An AEAD encrypt session with an all-zero key: for the CPU crypto check and warm-up only,
// never used on the wire.
void* zero_key_session(uint8_t dev_id, crypto::DtlsCipher c, rte_mempool* pool) {
  uint8_t key[32] = {};
  rte_crypto_sym_xform x{};
  x.type = RTE_CRYPTO_SYM_XFORM_AEAD;
  x.aead.op = RTE_CRYPTO_AEAD_OP_ENCRYPT;
  x.aead.algo = aead_algo(c);
  x.aead.key.data = key;
  x.aead.key.length = static_cast<uint16_t>(crypto::dtls_cipher_key_len(c));
  x.aead.iv.offset = kOpIvOffset;
  x.aead.iv.length = dtls::aead::kNonceBytes;
  x.aead.digest_length = dtls::aead::kTagBytes;
  x.aead.aad_length = dtls::aead::kAadBytes;
  return rte_cryptodev_sym_session_create(dev_id, &x, pool);
}

// Seals one 16-byte record with `sess` through the CPU crypto API. @return its status (0: done).
int32_t cpu_crypto_one(uint8_t dev_id, void* sess) {
  alignas(16) uint8_t buf[16 + dtls::aead::kTagBytes] = {};
  alignas(16) uint8_t iv[16] = {};
  alignas(16) uint8_t aad[16] = {};
  rte_crypto_vec data{buf, 0, 16, 16};
  rte_crypto_sgl sgl{&data, 1};
  rte_crypto_va_iova_ptr iv_ptr{iv, 0}, aad_ptr{aad, 0}, digest_ptr{buf + 16, 0};
  int32_t status = -1;
  rte_crypto_sym_vec vec{};
  vec.num = 1;
  vec.src_sgl = &sgl;
  vec.iv = &iv_ptr;
  vec.aad = &aad_ptr;
  vec.digest = &digest_ptr;
  vec.status = &status;
  const rte_crypto_sym_ofs ofs{};
  if (rte_cryptodev_sym_cpu_crypto_process(dev_id, sess, ofs, &vec) != 1) return status != 0 ? status : -1;
  return status;
}

// The lines of a cryptodev session the AEAD of a short or a long record reads, per driver,
// as DPDK 22.11 lays the session out with intel-ipsec-mb 1.3 (drivers/crypto/ipsec_mb/
// pmd_aesni_{mb,gcm}_priv.h). Line 0 is rte_cryptodev_sym_session's header, which neither
// PMD reads (prefetching it cost ~20 cycles a record at 100k sessions); the PMD's data
// starts at line 1: its fields, then gcm_key_data: the AES round keys (AES-128 reads 176
// bytes), the 48 GHASH key powers, lowest last (a short record reads the last few), then,
// for aesni_mb, the auth and aead fields (algorithm, digest and AAD lengths). Prefetching
// the session's first 8 lines left the auth fields and the low powers to two misses in a
// row inside the PMD; the short-record lines below instead took 64-byte records at 100k
// sessions from ~1600 to ~1250 cycles (bench/dtls_record_bench BM_DtlsDecryptSessions,
// before DtlsSlot's layout and the other cuts), and the whole session (23 lines) cost them
// ~1700: every line counts when a burst of 32 sessions fills the line fill buffers. A long
// record reads most of the powers: every line but the header and aesni_mb's unused auth
// pads. The private data's size identifies the layout; a driver or build not listed gets
// its first 8 lines for short records and all of them for long ones.
constexpr uint64_t line_set(std::initializer_list<unsigned> l) {
  uint64_t m = 0;
  for (unsigned k : l) m |= uint64_t{1} << k;
  return m;
}
constexpr uint64_t line_range(unsigned first, unsigned last) {
  return ((last >= 63 ? ~uint64_t{0} : (uint64_t{1} << (last + 1)) - 1)) & ~((uint64_t{1} << first) - 1);
}
struct SessionLayout {
  const char* driver;
  unsigned private_size;
  uint64_t short_record;
  uint64_t long_record;
};
constexpr SessionLayout kSessionLayouts[] = {
    // aesni_mb_session: gcm_key at 48, its last powers at 976..1056, auth at 1056 (pads to
    // 1344: lines 18-21), digest and aead lengths at 1344..1362.
    {"crypto_aesni_mb", 1408, line_set({1, 2, 3, 4, 16, 17, 22}), line_range(1, 17) | line_set({22})},
    // aesni_gcm_session: gdata_key at 16, its last powers at 944..1024, key_length at 1024.
    {"crypto_aesni_gcm", 1028, line_set({1, 2, 3, 15, 16, 17}), line_range(1, 17)},
};

void set_session_profile(RecordCryptoDev* dev, unsigned private_size) {
  for (const SessionLayout& l : kSessionLayouts) {
    if (dev->name == l.driver && private_size == l.private_size) {
      dev->session_lines = {l.short_record, l.long_record};
      return;
    }
  }
  const unsigned n = std::min<unsigned>(64, (dev->session_pool->elt_size + 63) / 64);
  dev->session_lines = {line_range(0, std::min(8u, n) - 1), line_range(0, n - 1)};
}

// intel-ipsec-mb's gcm_key_data: 1008 bytes, 16 lines; the AES round keys first (AES-128
// reads 176 bytes, AES-256 240), then the GHASH key powers (with VAES: H^48..H^1).
constexpr size_t kIpsecMbKeyBytes = (sizeof(gcm_key_data) + RTE_CACHE_LINE_SIZE - 1) & ~size_t{RTE_CACHE_LINE_SIZE - 1};
static_assert(sizeof(gcm_key_data) <= 16 * RTE_CACHE_LINE_SIZE, "record_crypto_prefetch_key assumes 16 lines");
static_assert(kIpsecMbKeyBytes == kIpsecMbKeyStride, "ipsec_mb_key_behind's layout");
static_assert(sizeof(CipherState) % RTE_CACHE_LINE_SIZE == 0, "the keys behind it start on a line");

// The AES-GCM engine of "auto": an intel-ipsec-mb manager for the architecture this CPU
// has. @return "" or why not.
std::string ipsec_mb_setup(RecordCryptoDev* dev) {
  IMB_MGR* mgr = alloc_mb_mgr(0);
  if (mgr == nullptr) return "intel-ipsec-mb: cannot allocate a manager";
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(mgr, &arch);
  if (imb_get_errno(mgr) != 0 || mgr->gcm128_enc == nullptr) {
    const std::string why = std::string("intel-ipsec-mb: ") + imb_get_strerror(imb_get_errno(mgr));
    free_mb_mgr(mgr);
    return why;
  }
  dev->ipsec_mb = mgr;
  dev->ipsec_mb_layout.lines[0] = {line_range(0, 2), line_range(0, 15)};
  dev->ipsec_mb_layout.lines[1] = {line_range(0, 3), line_range(0, 15)};
  // The 48-power layout (and the code that reads only the powers a record needs) is the
  // VAES one; the SSE/AVX2/AVX512 code keeps 8 powers in the first lines of the union.
  dev->ipsec_mb_layout.vaes = arch == IMB_ARCH_AVX512 && (mgr->features & IMB_FEATURE_VAES) != 0 &&
                              (mgr->features & IMB_FEATURE_VPCLMULQDQ) != 0;
  return {};
}

// Stops and closes the cryptodev and frees its pools; the intel-ipsec-mb manager stays.
void cryptodev_teardown(RecordCryptoDev* dev) {
  if (dev->dev_id >= 0) {
    const auto dev_id = static_cast<uint8_t>(dev->dev_id);
    if (dev->warm_session != nullptr) rte_cryptodev_sym_session_free(dev_id, dev->warm_session);
    rte_cryptodev_stop(dev_id);
    rte_cryptodev_close(dev_id);
    rte_vdev_uninit((dev->name + "_tunnelgate").c_str());
  }
  rte_mempool_free(dev->op_pool);
  rte_mempool_free(dev->session_pool);
  IMB_MGR* const mgr = dev->ipsec_mb;
  const IpsecMbKeyLayout layout = dev->ipsec_mb_layout;
  *dev = RecordCryptoDev{};
  dev->ipsec_mb = mgr;
  dev->ipsec_mb_layout = layout;
}

}  // namespace

std::string record_crypto_setup(const std::string& spec, uint16_t n_queue_pairs, uint32_t max_sessions,
                                int socket_id, RecordCryptoDev* dev, std::string* warning) {
  *dev = RecordCryptoDev{};
  if (spec == "none") {
    *warning = "dataplane.cryptodev is \"none\": DTLS records are protected with wolfCrypt on the poll lcores";
    return {};
  }
  std::string ipsec_mb_error;
  if (spec == "auto") ipsec_mb_error = ipsec_mb_setup(dev);
  const std::string driver = spec == "auto" ? "crypto_aesni_mb" : spec;
  auto fail = [&](const std::string& why) -> std::string {
    cryptodev_teardown(dev);
    if (spec == "auto") {
      *warning = "no cryptodev (" + why + "): DTLS records are protected with " +
                 (dev->ipsec_mb != nullptr ? "intel-ipsec-mb (AES-GCM) and wolfCrypt (ChaCha20-Poly1305)"
                                           : "wolfCrypt") + " on the poll lcores";
      if (!ipsec_mb_error.empty()) *warning += "; " + ipsec_mb_error;
      return {};
    }
    return "cryptodev " + driver + ": " + why;
  };
  if (!ipsec_mb_error.empty())
    *warning = ipsec_mb_error + ": AES-GCM records go through the cryptodev " + driver;
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
  rte_cryptodev_info info{};
  rte_cryptodev_info_get(dev_id, &info);
  dev->cpu_crypto = (info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO) != 0;
  // Two sessions (one per direction) for every DTLS session, plus the ones being replaced.
  const uint32_t n_sessions = 2 * max_sessions + 64;
  dev->session_pool = rte_cryptodev_sym_session_pool_create(
      ("tg_crypto_sessions" + std::to_string(id)).c_str(), n_sessions, rte_cryptodev_sym_get_private_session_size(dev_id), 0, 0, socket_id);
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
  // Pool names carry the device id: the tests make a second device beside the process' one.
  dev->op_pool = rte_crypto_op_pool_create(("tg_crypto_ops" + std::to_string(id)).c_str(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, kOpPoolSize, 128,
                                           kOpPrivBytes, socket_id);
  if (dev->op_pool == nullptr) return fail(std::string("op pool: ") + rte_strerror(rte_errno));
  set_session_profile(dev, rte_cryptodev_sym_get_private_session_size(dev_id));
  if (dev->cpu_crypto) {
    // The flag alone does not do: DPDK 22.11's crypto_chacha20_poly1305 sets it without
    // implementing the call, and every record would fail. One record per cipher the device
    // has decides; the first session stays for record_crypto_lcore_init.
    for (crypto::DtlsCipher c : {crypto::DtlsCipher::kAes128Gcm, crypto::DtlsCipher::kChacha20Poly1305}) {
      if (!dev->supports(c)) continue;
      void* s = zero_key_session(dev_id, c, dev->session_pool);
      if (s == nullptr) return fail(std::string("session: ") + rte_strerror(rte_errno));
      const int32_t status = cpu_crypto_one(dev_id, s);
      if (dev->warm_session == nullptr) {
        dev->warm_session = s;
      } else {
        rte_cryptodev_sym_session_free(dev_id, s);
      }
      if (status != 0) {
        dev->cpu_crypto = false;
        if (!warning->empty()) *warning += "; ";  // after intel-ipsec-mb's, if any
        *warning += "cryptodev " + driver + " has RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO but its CPU crypto refused " +
                    crypto::dtls_cipher_name(c) + " (status " + std::to_string(status) +
                    "): DTLS records go through its queue pairs";
      }
    }
  }
  return {};
}

void record_crypto_teardown(RecordCryptoDev* dev) {
  cryptodev_teardown(dev);
  if (dev->ipsec_mb != nullptr) free_mb_mgr(dev->ipsec_mb);
  *dev = RecordCryptoDev{};
}

const char* record_engine_name(RecordEngine e) {
  switch (e) {
    case RecordEngine::kWolfCrypt: return "wolfCrypt";
    case RecordEngine::kIpsecMb: return "intel-ipsec-mb";
    case RecordEngine::kCpuCrypto: return "cryptodev_cpu_crypto";
    case RecordEngine::kQueuePair: return "cryptodev_queue_pair";
  }
  return "?";
}

CipherState* cipher_state_create(const RecordCryptoDev& dev, const crypto::DtlsRecordKeys& keys,
                                 std::string* error) {
  const RecordEngine engine = dev.engine_for(keys.cipher);
  // intel-ipsec-mb's expanded keys live behind the state, one allocation per session.
  const size_t bytes = sizeof(CipherState) + (engine == RecordEngine::kIpsecMb ? 2 * kIpsecMbKeyBytes : 0);
  void* mem = rte_zmalloc("tg_cipher_state", bytes, RTE_CACHE_LINE_SIZE);
  if (mem == nullptr) {
    *error = "out of memory for a cipher state";
    return nullptr;
  }
  auto* cs = new (mem) CipherState();
  cs->cipher = keys.cipher;
  cs->engine = engine;
  cs->explicit_nonce = is_gcm(keys.cipher) ? dtls::aead::kGcmExplicitNonceBytes : 0;
  cs->overhead = static_cast<uint16_t>(cs->explicit_nonce + dtls::aead::kTagBytes);
  if (engine == RecordEngine::kIpsecMb) {
    auto* k = reinterpret_cast<gcm_key_data*>(static_cast<char*>(mem) + sizeof(CipherState));
    auto* k_tx = reinterpret_cast<gcm_key_data*>(reinterpret_cast<char*>(k) + kIpsecMbKeyBytes);
    if (keys.cipher == crypto::DtlsCipher::kAes256Gcm) {
      IMB_AES256_GCM_PRE(dev.ipsec_mb, keys.rx.key.data(), k);
      IMB_AES256_GCM_PRE(dev.ipsec_mb, keys.tx.key.data(), k_tx);
    } else {
      IMB_AES128_GCM_PRE(dev.ipsec_mb, keys.rx.key.data(), k);
      IMB_AES128_GCM_PRE(dev.ipsec_mb, keys.tx.key.data(), k_tx);
    }
    cs->key_rx = k;
    cs->key_tx = k_tx;
    cs->rx_iv = keys.rx.iv;
    cs->tx_iv = keys.tx.iv;
    return cs;
  }
  if (engine == RecordEngine::kCpuCrypto || engine == RecordEngine::kQueuePair) {
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
      (dir == 0 ? cs->key_rx : cs->key_tx) = s;
    }
    // The device holds the expanded keys; keep only the implicit IVs here.
    cs->rx_iv = keys.rx.iv;
    cs->tx_iv = keys.tx.iv;
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
  if (cs->engine == RecordEngine::kIpsecMb) {
    explicit_bzero(cs + 1, 2 * kIpsecMbKeyBytes);  // the round keys are the key
  } else if (cs->dev_id >= 0) {
    if (cs->key_rx != nullptr) rte_cryptodev_sym_session_free(static_cast<uint8_t>(cs->dev_id), cs->key_rx);
    if (cs->key_tx != nullptr) rte_cryptodev_sym_session_free(static_cast<uint8_t>(cs->dev_id), cs->key_tx);
  }
  explicit_bzero(cs->rx_iv.data(), cs->rx_iv.size());
  explicit_bzero(cs->tx_iv.data(), cs->tx_iv.size());
  cs->~CipherState();
  rte_free(cs);
}


void record_crypto_lcore_init(const RecordCryptoDev& dev) {
  if (dev.dev_id >= 0 && dev.cpu_crypto && dev.warm_session != nullptr)
    cpu_crypto_one(static_cast<uint8_t>(dev.dev_id), dev.warm_session);
}

namespace {

// The AEAD input of one record: the text to seal or open in place (the tag follows it), the
// 12-byte nonce and the 13-byte additional data (RFC 5288 / RFC 7905 with DTLS's epoch||seq,
// PROTOCOL.md §6.8), built from the record's own header bytes. For a seal it first writes
// the header and, for GCM, the explicit nonce (epoch||seq, unique per key).
// @return false when an open's fragment is shorter than the cipher's overhead.
struct AeadInput {
  uint8_t* data;
  uint16_t len;
};

inline bool aead_input(RecordJob& job, uint8_t* nonce, uint8_t* aad, AeadInput* in) {
  const CipherState& cs = *job.cs;
  uint8_t* r = job.record;
  uint16_t len;
  const uint8_t* iv;
  if (job.seal) {
    len = job.plaintext_len;
    r[dtls::wire::kTypeOffset] = static_cast<uint8_t>(dtls::ContentType::kApplicationData);
    store_be16(r + dtls::wire::kVersionOffset, dtls::wire::kVersionDtls12);
    dtls::dtls_seq_num_write(r + dtls::wire::kEpochOffset, job.epoch, job.sequence);
    store_be16(r + dtls::wire::kLengthOffset, static_cast<uint16_t>(cs.overhead + len));
    // GCM's explicit nonce is seq_num (RFC 5288 §3 suggests it; unique under one key).
    if (cs.explicit_nonce != 0)
      std::memcpy(r + dtls::wire::kRecordHeaderBytes, r + dtls::wire::kEpochOffset, dtls::aead::kSeqNumBytes);
    iv = cs.tx_iv.data();
  } else {
    const size_t frag = job.rec.fragment.size();
    if (frag < cs.overhead) return false;
    len = static_cast<uint16_t>(frag - cs.overhead);
    iv = cs.rx_iv.data();
  }
  // seq_num (epoch||sequence) is bytes 3..10 of the header, on both sides.
  const uint8_t* seq_num = r + dtls::wire::kEpochOffset;
  if (cs.explicit_nonce != 0) {
    dtls::dtls_gcm_nonce_write(nonce, iv, r + dtls::wire::kRecordHeaderBytes);
  } else {
    dtls::dtls_chacha_nonce_write(nonce, iv, seq_num);
  }
  dtls::dtls_aead_aad_write(aad, seq_num, r[dtls::wire::kTypeOffset], load_be16(r + dtls::wire::kVersionOffset), len);
  in->data = r + dtls::wire::kRecordHeaderBytes + cs.explicit_nonce;
  in->len = len;
  return true;
}

// The burst's records on the CPU crypto API: one vector, one call per run of consecutive
// records of the same cryptodev session (a burst of one flow is one call).
void run_cpu_crypto(uint8_t dev_id, RecordJob* jobs, const uint16_t* idx, unsigned n,
                    const RecordCryptoCounters& counters) {
  struct alignas(16) Scratch {
    uint8_t nonce[16];
    uint8_t aad[16];
  } scratch[kMaxJobs];
  rte_crypto_vec data[kMaxJobs];
  rte_crypto_sgl sgl[kMaxJobs];
  rte_crypto_va_iova_ptr iv[kMaxJobs], aad[kMaxJobs], digest[kMaxJobs];
  int32_t status[kMaxJobs];
  void* sess[kMaxJobs];
  uint16_t job_of[kMaxJobs];
  unsigned m = 0;
  for (unsigned k = 0; k < n; k++) {
    RecordJob& j = jobs[idx[k]];
    AeadInput in;
    if (!aead_input(j, scratch[m].nonce, scratch[m].aad, &in)) continue;  // too short: stays !ok
    j.plaintext = std::span<uint8_t>(in.data, in.len);
    data[m] = {in.data, 0, in.len, 0};
    sgl[m] = {&data[m], 1};
    iv[m] = {scratch[m].nonce, 0};
    aad[m] = {scratch[m].aad, 0};
    digest[m] = {in.data + in.len, 0};
    sess[m] = j.seal ? j.cs->key_tx : j.cs->key_rx;
    job_of[m++] = idx[k];
  }
  const rte_crypto_sym_ofs ofs{};
  for (unsigned first = 0; first < m;) {
    unsigned end = first + 1;
    while (end < m && sess[end] == sess[first]) end++;
    rte_crypto_sym_vec vec{};
    vec.num = end - first;
    vec.src_sgl = sgl + first;
    vec.iv = iv + first;
    vec.aad = aad + first;
    vec.digest = digest + first;
    vec.status = status + first;
    rte_cryptodev_sym_cpu_crypto_process(dev_id, sess[first], ofs, &vec);
    first = end;
  }
  for (unsigned k = 0; k < m; k++) {
    jobs[job_of[k]].ok = status[k] == 0;
    // EBADMSG: the tag did not verify (the caller counts that drop); anything else is the device's.
    if (status[k] != 0 && status[k] != EBADMSG) *counters.failed += 1;
  }
}

// One record through intel-ipsec-mb's direct AES-GCM API, in place. @return whether it was
// sealed, or opened with a tag that verifies.
bool run_ipsec_mb(const IMB_MGR& mgr, RecordJob& job) {
  alignas(16) uint8_t nonce[16];
  alignas(16) uint8_t aad[16];
  AeadInput in;
  if (!aead_input(job, nonce, aad, &in)) return false;
  job.plaintext = std::span<uint8_t>(in.data, in.len);
  const bool aes256 = job.cs->cipher == crypto::DtlsCipher::kAes256Gcm;
  uint8_t* tag = in.data + in.len;
  gcm_context_data ctx;
  if (job.seal) {
    const auto* key = static_cast<const gcm_key_data*>(job.cs->key_tx);
    (aes256 ? mgr.gcm256_enc : mgr.gcm128_enc)(key, &ctx, in.data, in.data, in.len, nonce, aad, dtls::aead::kAadBytes,
                                               tag, dtls::aead::kTagBytes);
    return true;
  }
  const auto* key = static_cast<const gcm_key_data*>(job.cs->key_rx);
  alignas(16) uint8_t computed[dtls::aead::kTagBytes];
  (aes256 ? mgr.gcm256_dec : mgr.gcm128_dec)(key, &ctx, in.data, in.data, in.len, nonce, aad, dtls::aead::kAadBytes,
                                             computed, sizeof computed);
  // In constant time: the tag is the record's authenticity.
  uint64_t want[2], got[2];
  std::memcpy(want, tag, sizeof want);
  std::memcpy(got, computed, sizeof got);
  return ((want[0] ^ got[0]) | (want[1] ^ got[1])) == 0;
}

// Fills one op from its job; false when the record cannot be processed (too short).
bool fill_op(rte_crypto_op* op, RecordJob& job, uint16_t job_index) {
  uint8_t* iv = rte_crypto_op_ctod_offset(op, uint8_t*, kOpIvOffset);
  uint8_t* aad = rte_crypto_op_ctod_offset(op, uint8_t*, kOpAadOffset);
  *rte_crypto_op_ctod_offset(op, uint16_t*, kOpJobOffset) = job_index;
  AeadInput in;
  if (!aead_input(job, iv, aad, &in)) return false;
  rte_crypto_op_attach_sym_session(op, job.seal ? job.cs->key_tx : job.cs->key_rx);
  rte_crypto_sym_op* sym = op->sym;
  sym->m_src = job.m;
  sym->m_dst = nullptr;
  uint8_t* base = rte_pktmbuf_mtod(job.m, uint8_t*);
  sym->aead.data.offset = static_cast<uint32_t>(in.data - base);
  sym->aead.data.length = in.len;
  sym->aead.digest.data = in.data + in.len;
  sym->aead.digest.phys_addr = rte_pktmbuf_iova_offset(job.m, in.data + in.len - base);
  sym->aead.aad.data = aad;
  sym->aead.aad.phys_addr = rte_crypto_op_ctophys_offset(op, kOpAadOffset);
  job.plaintext = std::span<uint8_t>(in.data, in.len);
  return true;
}

// The burst's records through the device's queue pair `qp`: ops, one enqueue burst, then
// dequeued until all came back.
void run_queue_pair(const RecordCryptoDev& dev, uint16_t qp, RecordJob* jobs, const uint16_t* dev_jobs, unsigned n_dev,
                    const RecordCryptoCounters& counters) {
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

}  // namespace

void record_crypto_run(const RecordCryptoDev& dev, uint16_t qp, RecordJob* jobs, unsigned n,
                       const RecordCryptoCounters& counters) {
  uint16_t cpu_jobs[kMaxJobs], qp_jobs[kMaxJobs];
  unsigned n_cpu = 0, n_qp = 0;
  for (unsigned i = 0; i < n; i++) {
    RecordJob& j = jobs[i];
    j.ok = false;
    switch (j.cs->engine) {
      case RecordEngine::kIpsecMb:
        if (dev.ipsec_mb != nullptr) {
          j.ok = run_ipsec_mb(*dev.ipsec_mb, j);
        } else {  // a state made for another process' engines: never in the dataplane
          *counters.failed += 1;
        }
        break;
      case RecordEngine::kWolfCrypt:
        if (j.seal) {
          j.ok = j.cs->soft_tx.seal(j.record, j.plaintext_len, j.epoch, j.sequence) != 0;
        } else {
          j.ok = j.cs->soft_rx.open(j.rec, j.record, &j.plaintext);
        }
        break;
      case RecordEngine::kCpuCrypto:
      case RecordEngine::kQueuePair:
        if (i >= kMaxJobs) {  // more jobs than one batch holds: never with our burst sizes
          *counters.failed += 1;
        } else if (j.cs->engine == RecordEngine::kCpuCrypto) {
          cpu_jobs[n_cpu++] = static_cast<uint16_t>(i);
        } else {
          qp_jobs[n_qp++] = static_cast<uint16_t>(i);
        }
        break;
    }
  }
  if (n_cpu != 0) run_cpu_crypto(static_cast<uint8_t>(dev.dev_id), jobs, cpu_jobs, n_cpu, counters);
  if (n_qp != 0) run_queue_pair(dev, qp, jobs, qp_jobs, n_qp, counters);
}

}  // namespace tg::dp
