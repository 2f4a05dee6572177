// Set-up of the tunnel path (tunnel_path.h) on the main lcore: the session table, the
// per-app policy (policy_state.h), the mbuf session field, and the rings between the poll lcores and the TLS
// workers. Shared by the binary and the in-process test fixture.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dataplane/dataplane.h"
#include "dataplane/dtls_path.h"
#include "dataplane/policy_state.h"
#include "dataplane/record_crypto.h"
#include "dataplane/session_table.h"
#include "dataplane/tunnel_path.h"

namespace tg::dp {

/// Bounds what may wait between the lcores and one TLS worker (or one lcore).
inline constexpr unsigned kTunnelRingSize = 4096;

/// What tunnel_setup() creates and run() releases.
struct TunnelResources {
  std::unique_ptr<SessionTable> sessions;
  std::unique_ptr<PolicyState> policy;
  std::vector<rte_ring*> from_workers;
  std::vector<WorkerMailbox> mailboxes;
  // DTLS fast path (listeners.dtls on):
  DtlsSlot* dtls_slots = nullptr;     ///< rte_zmalloc'd [sessions->capacity()]
  uint32_t n_dtls_slots = 0;
  std::vector<rte_ring*> dtls_ctl, dtls_handoff, to_outside;
  std::vector<DtlsLcore*> dtls_lcores;  ///< [poll lcores]: attach to LcoreCtx::dtls
  RecordCryptoDev crypto;
  std::vector<std::string> warnings;  ///< for the caller to log (e.g. no cryptodev)
  ~TunnelResources();
};

/// Create what the tunnel path needs when `cfg` has pools (nothing otherwise) and attach it
/// to `dp`. Returns an error message, empty on success.
std::string tunnel_setup(const config::Config& cfg, Dataplane& dp, TunnelResources& res);

}  // namespace tg::dp
