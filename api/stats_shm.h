// Contract: the dataplane's statistics segment, read by the control plane.
//
// One POSIX shared-memory object per gateway instance, named stats_shm_name(instance)
// ("/tunnelgate-<instance>-stats", i.e. /dev/shm/tunnelgate-<instance>-stats). The dataplane
// creates it (a restarted dataplane unlinks and recreates it, with a new `generation`);
// the control plane maps it read-only, checks magic, version and size before it trusts
// anything, and re-opens it on every scrape, so either process may start first or restart.
//
// Writers: each poll lcore writes only its own LcoreStats block with plain stores
// (single writer per cache line, no atomics on the fast path). x86-64 and aarch64 load
// aligned 64-bit words atomically, so a reader sees each counter whole; counters only grow.
// The header is written once before `magic` is published with a release store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tg::shm {

inline constexpr uint32_t kStatsMagic = 0x31534754;  // "TGS1" little-endian
inline constexpr uint32_t kStatsVersion = 12;
inline constexpr unsigned kMaxLcores = 64;
/// Up to 8 configured ports plus the exception-path port (always the last one).
inline constexpr unsigned kMaxPorts = 9;
inline constexpr unsigned kPortNameLen = 16;

/// Compile-time check that a label table here repeats another module's names in order
/// (api/ cannot include those modules): `names[i]` equals `labels(i)` for every i < count.
template <size_t N, typename Labels>
constexpr bool labels_match(const char* const (&names)[N], unsigned count, Labels labels) {
  if (N != count) return false;
  for (unsigned i = 0; i < count; i++) {
    const char* a = names[i];
    const char* b = labels(i);
    while (*a != '\0' && *a == *b) {
      ++a;
      ++b;
    }
    if (*a != *b) return false;
  }
  return true;
}

/// Every reason the dataplane drops a packet: enum value, metric label, help text.
/// Append only (the numeric values are part of the shared-memory layout version).
#define TG_DROP_REASONS(X)                                                                       \
  X(runt, "runt", "frame shorter than the headers it claims")                                    \
  X(l2_unknown_ethertype, "l2_unknown_ethertype", "ethertype not handled (not IPv4 or ARP)")     \
  X(l2_not_for_us, "l2_not_for_us", "unicast frame for another MAC address")                     \
  X(arp_malformed, "arp_malformed", "ARP packet that is not Ethernet/IPv4 or is truncated")      \
  X(arp_not_for_us, "arp_not_for_us", "ARP request for an address that is not ours")            \
  X(ipv4_bad_header, "ipv4_bad_header", "IPv4 version, IHL or total length invalid")            \
  X(ipv4_bad_checksum, "ipv4_bad_checksum", "IPv4 header checksum wrong")                        \
  X(ipv4_fragment_to_us, "ipv4_fragment_to_us", "fragment addressed to the gateway itself")     \
  X(ipv4_options, "ipv4_options", "IPv4 packet for the gateway with options")                    \
  X(ipv4_martian, "ipv4_martian", "source or destination address never valid on the wire")      \
  X(ipv6_unsupported, "ipv6_unsupported", "IPv6 frame (not handled yet)")                        \
  X(local_unhandled, "local_unhandled", "packet for the gateway's address it does not serve")    \
  X(icmp_malformed, "icmp_malformed", "ICMP to the gateway truncated or with a bad checksum")   \
  X(icmp_unhandled, "icmp_unhandled", "ICMP type to the gateway other than echo request")       \
  X(forwarding_disabled, "forwarding_disabled", "plain packet to route while forwarding is off")\
  X(ttl_exceeded, "ttl_exceeded", "TTL reached zero (an ICMP time exceeded may be sent)")       \
  X(no_route, "no_route", "no route to the destination (an ICMP unreachable may be sent)")       \
  X(same_port_hairpin, "same_port_hairpin", "route leads back out of the receiving port")       \
  X(neigh_queue_full, "neigh_queue_full", "next hop unresolved and the hold queue is full")     \
  X(neigh_unresolved, "neigh_unresolved", "next hop did not answer ARP in time")                 \
  X(icmp_error_rate_limited, "icmp_error_rate_limited", "ICMP error not sent: rate limit")      \
  X(mbuf_alloc_failed, "mbuf_alloc_failed", "no mbuf for a reply or a copy")                     \
  X(tx_full, "tx_full", "port TX queue full")                                                    \
  X(neigh_table_full, "neigh_table_full", "next hop cannot be added: neighbour table full")      \
  X(mtu_exceeded, "mtu_exceeded", "packet larger than the outgoing port's MTU")                \
  X(exception_bad_source, "exception_bad_source", "kernel packet not from a gateway address")  \
  X(exception_not_ipv4, "exception_not_ipv4", "kernel packet that is not valid IPv4")         \
  X(tunnel_spoofed_source, "tunnel_spoofed_source", "inner source is not the session's address")\
  X(tunnel_policy_denied, "tunnel_policy_denied", "inner destination outside the allowed services")\
  X(tunnel_no_session, "tunnel_no_session", "packet for a pool address with no session")       \
  X(tunnel_pool_from_outside, "tunnel_pool_from_outside", "packet for a pool address on an outside port")\
  X(tunnel_ring_full, "tunnel_ring_full", "TLS worker's ring full: packet for a client dropped")\
  X(udp_malformed, "udp_malformed", "UDP to the gateway with a length that does not fit the packet")\
  X(dtls_malformed, "dtls_malformed", "DTLS record header invalid (type, version, length)")     \
  X(dtls_unknown_session, "dtls_unknown_session", "DTLS application data from a peer with no DTLS session")\
  X(dtls_unknown_flow, "dtls_unknown_flow", "DTLS handshake record from a peer with no handshake under way")\
  X(dtls_no_app_id, "dtls_no_app_id", "DTLS ClientHello that is malformed or carries no App-ID")\
  X(dtls_handshake_rate_limited, "dtls_handshake_rate_limited", "DTLS ClientHello over limits.handshakes_per_second")\
  X(dtls_worker_ring_full, "dtls_worker_ring_full", "DTLS handshake datagram lost: the TLS worker's ring is full")\
  X(dtls_bad_epoch, "dtls_bad_epoch", "DTLS record of another epoch than the session's")        \
  X(dtls_replay, "dtls_replay", "DTLS record already received or older than the anti-replay window")\
  X(dtls_too_short, "dtls_too_short", "DTLS record shorter than its AEAD nonce and tag")        \
  X(dtls_bad_tag, "dtls_bad_tag", "DTLS record failed authentication (tampered, or another key)")\
  X(dtls_crypto_error, "dtls_crypto_error", "the crypto device could not process a DTLS record")\
  X(dtls_inner_unknown, "dtls_inner_unknown", "DTLS plaintext with an empty or unknown OpenConnect type")\
  X(dtls_multi_record, "dtls_multi_record", "datagram with more than one DTLS application record")\
  X(dtls_handoff_ring_full, "dtls_handoff_ring_full", "ring to the lcore owning the DTLS session full")\
  X(dtls_sequence_exhausted, "dtls_sequence_exhausted", "DTLS send sequence numbers used up (the packet went to CSTP)")

enum class DropReason : uint16_t {
#define TG_X(e, label, help) e,
  TG_DROP_REASONS(TG_X)
#undef TG_X
      count
};
inline constexpr unsigned kDropReasonCount = static_cast<unsigned>(DropReason::count);

struct DropReasonInfo {
  const char* label;
  const char* help;
};
inline constexpr DropReasonInfo kDropReasonInfo[kDropReasonCount] = {
#define TG_X(e, label, help) {label, help},
    TG_DROP_REASONS(TG_X)
#undef TG_X
};

/// Per port, per lcore. One cache line.
struct alignas(64) PortCounters {
  uint64_t rx_packets;
  uint64_t rx_bytes;
  uint64_t tx_packets;
  uint64_t tx_bytes;
  uint64_t rx_bursts;  ///< non-empty RX bursts (rx_packets / rx_bursts = mean burst size)
};

/// Events that are not drops: field, metric name (/metrics), help text. Append only (the
/// order is the shared-memory layout). One table for the struct, the Prometheus collector,
/// DPDK telemetry (/tunnelgate/events) and tunnelgatectl, so a new event reaches all of them.
#define TG_EVENT_COUNTERS(X)                                                                      \
  X(arp_requests_answered, "tunnelgate_arp_requests_answered_total", "ARP requests for our addresses answered.") \
  X(arp_requests_sent, "tunnelgate_arp_requests_sent_total", "ARP requests sent to resolve a next hop.") \
  X(arp_replies_received, "tunnelgate_arp_replies_received_total", "ARP replies received.")  \
  X(garp_sent, "tunnelgate_garp_sent_total", "Gratuitous ARP announcements sent.")            \
  X(icmp_echo_replies, "tunnelgate_icmp_echo_replies_total", "ICMP echo replies sent for our addresses.") \
  X(icmp_errors_sent, "tunnelgate_icmp_errors_sent_total", "ICMP errors sent (time exceeded, unreachable).") \
  X(ipv4_forwarded, "tunnelgate_ipv4_forwarded_total", "IPv4 packets forwarded.")             \
  X(neigh_queued, "tunnelgate_neighbour_queued_total", "Packets held while their next hop was being resolved.") \
  X(exception_to_kernel, "tunnelgate_exception_to_kernel_packets_total",                     \
    "Packets handed to the kernel through the exception path (TLS port, ICMP errors).")       \
  X(exception_from_kernel, "tunnelgate_exception_from_kernel_packets_total",                 \
    "Kernel packets (TLS replies) sent out of a port through the exception path.")           \
  X(tunnel_to_backend, "tunnelgate_tunnel_to_backend_packets_total",                         \
    "Inner packets from clients' tunnels routed towards a backend.")                          \
  X(tunnel_to_client, "tunnelgate_tunnel_to_client_packets_total",                           \
    "Packets for clients handed to the TLS worker owning their session.")                     \
  X(dtls_records_decrypted, "tunnelgate_dtls_records_decrypted_total",                       \
    "DTLS records from clients authenticated and decrypted.")                                 \
  X(dtls_records_encrypted, "tunnelgate_dtls_records_encrypted_total", "DTLS records sent to clients.") \
  X(dtls_rx_bytes, "tunnelgate_dtls_receive_bytes_total", "Bytes of inner packets received from clients over DTLS.") \
  X(dtls_tx_bytes, "tunnelgate_dtls_transmit_bytes_total", "Bytes of inner packets sent to clients over DTLS.") \
  X(dtls_dpd_answered, "tunnelgate_dtls_dpd_answered_total", "DTLS dead-peer-detection requests and MTU probes echoed.") \
  X(dtls_keepalives, "tunnelgate_dtls_keepalives_total", "DTLS keepalives received.")         \
  X(dtls_handshake_datagrams, "tunnelgate_dtls_handshake_datagrams_total",                   \
    "DTLS handshake datagrams handed to a TLS worker.")                                       \
  X(dtls_to_cstp, "tunnelgate_dtls_to_cstp_packets_total",                                   \
    "Packets for a client with DTLS sent over CSTP instead (DTLS silent, packet too big).")    \
  X(dtls_sessions_installed, "tunnelgate_dtls_sessions_installed_total",                     \
    "DTLS sessions whose keys a poll lcore took over.")                                       \
  X(dtls_sessions_removed, "tunnelgate_dtls_sessions_removed_total",                         \
    "DTLS sessions a poll lcore let go (tunnel closed, rekeyed).")                            \
  X(crypto_enqueued, "tunnelgate_crypto_ops_enqueued_total", "Record crypto operations enqueued on the cryptodev.") \
  X(crypto_dequeued, "tunnelgate_crypto_ops_dequeued_total", "Record crypto operations completed by the cryptodev.") \
  X(crypto_failed, "tunnelgate_crypto_ops_failed_total",                                     \
    "Record crypto operations the cryptodev refused or failed (not authentication failures).") \
  X(dtls_sessions_refused, "tunnelgate_dtls_sessions_refused_total",                         \
    "DTLS sessions a poll lcore could not take (flow table full, slot held by another lcore): the client stays on CSTP.")

struct EventCounters {
#define TG_X(field, metric, help) uint64_t field;
  TG_EVENT_COUNTERS(TG_X)
#undef TG_X
};

struct EventCounterInfo {
  const char* field;   ///< also the DPDK telemetry key
  const char* metric;  ///< Prometheus family name
  const char* help;
  uint64_t EventCounters::*member;
};
inline constexpr EventCounterInfo kEventCounterInfo[] = {
#define TG_X(field, metric, help) {#field, metric, help, &EventCounters::field},
    TG_EVENT_COUNTERS(TG_X)
#undef TG_X
};

/// Apps (config `apps`) the dataplane tells apart: its app index (dataplane/app_policy.h)
/// is the slot in StatsSegment::app_names and LcoreStats::apps. Index 0 is every session
/// when no apps are configured ("" as its name).
inline constexpr unsigned kMaxApps = 256;
inline constexpr unsigned kAppNameLen = 256;  ///< app ids are 1..255 visible ASCII characters

/// Why the per-app policy dropped an inner packet from a client (dataplane/app_policy.h
/// PolicyVerdict, same order): metric label, help.
#define TG_POLICY_DROP_REASONS(X)                                                            \
  X(destination, "destination", "no service of the session's app covers the destination")  \
  X(protocol, "protocol", "the app's services there do not allow the protocol")            \
  X(port, "port", "the app's services there do not allow the destination port")           \
  X(no_app, "no_app", "the session's app has no policy (removed by a reload)")
inline constexpr const char* kPolicyDropLabels[] = {
#define TG_X(e, label, help) label,
    TG_POLICY_DROP_REASONS(TG_X)
#undef TG_X
};
inline constexpr unsigned kPolicyDropCount = sizeof(kPolicyDropLabels) / sizeof(kPolicyDropLabels[0]);

/// One app's traffic on one lcore (inner packets and bytes, IP header included).
struct alignas(64) AppCounters {
  uint64_t to_backend_packets;  ///< from the app's clients, passed the policy
  uint64_t to_backend_bytes;
  uint64_t to_client_packets;   ///< to the app's clients (DTLS or CSTP)
  uint64_t to_client_bytes;
  uint64_t policy_drops[kPolicyDropCount];
};
static_assert(sizeof(AppCounters) == 64);

/// The poll lcore's stages, as its stage clock times them (dataplane/stage_clock.h): enum,
/// metric label, help. Append only (the order is the shared-memory layout). A stage's time
/// runs from the previous stage's end to its own, so what lies between two stages (a drop,
/// a hand-off) is charged to the later one; each figure includes one TSC read per call.
#define TG_LCORE_STAGES(X)                                                                        \
  X(rx, "rx", "The ports' receive bursts and the TLS workers' packets for the tunnels (with the empty polls since the previous stage).") \
  X(classify, "classify", "Ethernet and IPv4 classification, ARP, the DTLS record header.")   \
  X(session_lookup, "session_lookup",                                                          \
    "The packet's session: flow table, DTLS slot, epoch and replay check (from clients); session table, DTLS slot, record sequence (to clients).") \
  X(decrypt, "decrypt", "DTLS records opened (AEAD), replay window, inner header.")             \
  X(policy, "policy", "Inner IPv4 checks, anti-spoofing and the per-app policy verdict of packets from clients.") \
  X(route, "route", "FIB lookup, MTU, neighbour and Ethernet rewrite of routed packets (both directions).") \
  X(encrypt, "encrypt", "DTLS records sealed (AEAD) for clients.")                              \
  X(encap, "encap", "The UDP and IPv4 headers of records sent to clients.")                    \
  X(tx, "tx", "The ports' transmit bursts.")                                                    \
  X(other, "other", "The rest of a busy iteration: packets handed to the TLS workers, DTLS control messages, the neighbour timer.")

enum class LcoreStage : uint8_t {
#define TG_X(e, label, help) e,
  TG_LCORE_STAGES(TG_X)
#undef TG_X
      count
};
inline constexpr unsigned kLcoreStageCount = static_cast<unsigned>(LcoreStage::count);

struct LcoreStageInfo {
  const char* label;
  const char* help;
};
inline constexpr LcoreStageInfo kLcoreStageInfo[kLcoreStageCount] = {
#define TG_X(e, label, help) {label, help},
    TG_LCORE_STAGES(TG_X)
#undef TG_X
};

/// One stage of one lcore, summed over the sampled iterations (dataplane.stage_sample):
/// cycles / packets is the stage's cost per packet, packets / bursts its mean burst.
struct StageCounters {
  uint64_t cycles;   ///< TSC cycles
  uint64_t packets;  ///< packets the stage handled
  uint64_t bursts;   ///< times the stage ran with packets
};

/// Written only by the lcore it belongs to.
struct alignas(64) LcoreStats {
  uint32_t lcore_id;
  uint32_t active;         ///< 1 when this slot is a poll lcore
  uint64_t loops;          ///< poll iterations
  uint64_t busy_loops;     ///< iterations that received at least one packet
  uint64_t busy_cycles;    ///< TSC cycles spent in iterations that had work
  uint64_t total_cycles;   ///< TSC cycles since the loop started
  uint64_t dtls_sessions;  ///< gauge: DTLS sessions this lcore owns
  uint64_t crypto_queue_depth_max;  ///< gauge: most ops in flight at once on its cryptodev queue pair
  EventCounters events;
  uint64_t drops[kDropReasonCount];
  PortCounters ports[kMaxPorts];
  AppCounters apps[kMaxApps];  ///< by app index; slots >= StatsSegment::n_apps stay 0
  uint32_t stage_sample;       ///< 1 in stage_sample poll iterations is timed per stage; 0: none
  StageCounters stages[kLcoreStageCount];  ///< by LcoreStage
};

/// What the PMD counts itself (rte_eth_stats), read by the main lcore about once a second:
/// losses before any lcore saw the packet.
struct PortDeviceCounters {
  uint64_t rx_missed;  ///< imissed: the RX queue (or the kernel ring, af_packet) was full
  uint64_t rx_errors;  ///< ierrors: erroneous frames
  uint64_t tx_errors;  ///< oerrors: failed transmissions
  uint64_t rx_nombuf;  ///< RX mbuf allocation failures
};

/// Why a TLS handshake failed: metric labels, in the order of TG_TLS_HANDSHAKE_FAILURES
/// (dataplane/tls/tls_worker.h; a static_assert there keeps the count equal).
#define TG_TLS_HANDSHAKE_FAILURE_LABELS(X)                                                   \
  X(timeout) X(peer_closed) X(no_shared_cipher) X(version) X(client_cert_rejected)        \
  X(protocol_error) X(io_error) X(out_of_memory)
inline constexpr const char* kTlsHandshakeFailureLabels[] = {
#define TG_X(name) #name,
    TG_TLS_HANDSHAKE_FAILURE_LABELS(TG_X)
#undef TG_X
};
inline constexpr unsigned kTlsHandshakeFailureCount =
    sizeof(kTlsHandshakeFailureLabels) / sizeof(kTlsHandshakeFailureLabels[0]);
/// Why a DTLS handshake failed (dataplane/vpn/dtls_channel.h counts them in this order).
#define TG_DTLS_HANDSHAKE_FAILURE_LABELS(X)                                                  \
  X(timeout) X(bad_psk) X(alert) X(protocol_error) X(no_shared_cipher) X(unknown_app_id)   \
  X(too_many) X(key_export) X(internal)
inline constexpr const char* kDtlsHandshakeFailureLabels[] = {
#define TG_X(name) #name,
    TG_DTLS_HANDSHAKE_FAILURE_LABELS(TG_X)
#undef TG_X
};
inline constexpr unsigned kDtlsHandshakeFailureCount =
    sizeof(kDtlsHandshakeFailureLabels) / sizeof(kDtlsHandshakeFailureLabels[0]);
enum class DtlsHandshakeFailure : uint8_t {
#define TG_X(name) name,
  TG_DTLS_HANDSHAKE_FAILURE_LABELS(TG_X)
#undef TG_X
};

inline constexpr unsigned kMaxTlsWorkers = 16;

/// Counters of one TLS worker thread (the OpenConnect server), copied about once a second
/// by the main lcore from the worker's own single-writer counters.
struct alignas(64) TlsWorkerStats {
  uint32_t worker;
  uint32_t active;               ///< 1 when this slot is a running worker
  uint64_t connections;          ///< gauge: TCP connections held
  uint64_t tunnels_open;         ///< gauge: CSTP tunnels up
  uint64_t handshakes_ok;
  uint64_t handshakes_failed[kTlsHandshakeFailureCount];
  uint64_t http_errors;          ///< requests answered 4xx/5xx for being malformed/unsupported
  uint64_t try_again;            ///< 503: control plane down, slow or overloaded
  uint64_t cookie_rejected;      ///< 401 on CONNECT
  uint64_t tunnels_opened;
  uint64_t tunnels_closed;
  uint64_t cstp_errors;          ///< bad CSTP frames (the session ended)
  uint64_t cstp_rx_packets;      ///< from clients
  uint64_t cstp_rx_bytes;
  uint64_t cstp_tx_packets;      ///< to clients
  uint64_t cstp_tx_bytes;
  uint64_t rx_dropped;           ///< client packets lost before a lcore (ring full, no mbuf, too big)
  uint64_t tx_dropped;           ///< packets for clients lost (tunnel gone, client too slow)
  uint64_t dpd_answered;
  uint64_t dtls_handshakes_started;
  uint64_t dtls_handshakes_ok;
  uint64_t dtls_handshakes_failed[kDtlsHandshakeFailureCount];
  uint64_t dtls_handshakes_active;  ///< gauge
  uint64_t dtls_established;        ///< gauge: tunnels whose DTLS channel is keyed
  uint64_t accept_errors;           ///< accept() failed: out of descriptors (EMFILE/ENFILE) or memory
  uint64_t connections_over_limit;  ///< accepted, then closed at once: limits.max_sessions connections held
  uint64_t ctl_requests_queued;     ///< logins/CONNECTs that waited for room in the ctl client (not a 503)
  uint64_t dtls_removes_deferred;   ///< a closed tunnel's DTLS remove waited for room in a lcore's ring
};

/// Written by the dataplane's main lcore.
struct PortInfo {
  char name[kPortNameLen];  ///< NUL-terminated config name
  uint16_t dpdk_port_id;
  uint8_t role;             ///< 0 outside, 1 inside, 2 exception path (kernel)
  uint8_t mac[6];
  uint8_t link_up;          ///< refreshed by the main lcore about once a second
  uint8_t pad;
  uint32_t link_speed_mbps;
  uint32_t ipv4_host;       ///< port address, host byte order
  uint8_t prefix_len;
  PortDeviceCounters device;
};

/// What validation found in a server certificate: crypto/server_cert.h TG_CERT_FINDINGS,
/// code for code and in order (the dataplane checks it at compile time): code, severity.
/// A certificate with an error is not used. Append only.
#define TG_SERVER_CERT_FINDINGS(X)                                                            \
  X(malformed, "error") X(no_key, "error") X(key_mismatch, "error")                           \
  X(unsupported_key, "error") X(no_ca, "error") X(no_chain, "error") X(expired, "error")      \
  X(not_yet_valid, "error") X(no_server_auth, "error") X(key_usage, "error")                  \
  X(no_root, "warning") X(root_mismatch, "warning") X(self_signed, "warning")                 \
  X(expires_soon, "warning") X(weak_key, "warning") X(weak_signature, "warning")              \
  X(long_validity, "warning") X(no_san, "warning")
enum class CertFindingCode : uint8_t {
#define TG_X(code, severity) code,
  TG_SERVER_CERT_FINDINGS(TG_X)
#undef TG_X
      count
};
inline constexpr unsigned kCertFindingCount = static_cast<unsigned>(CertFindingCode::count);
struct CertFindingInfo {
  const char* code;
  const char* severity;
};
inline constexpr CertFindingInfo kCertFindingInfo[kCertFindingCount] = {
#define TG_X(code, severity) {#code, severity},
    TG_SERVER_CERT_FINDINGS(TG_X)
#undef TG_X
};

/// The server certificates the dataplane's TLS workers hold (main lcore, at load, reload and
/// about once a second for `active`). Slot 0 = tls.certificate, slot 1 = tls.second_certificate.
struct ServerCertInfo {
  uint8_t configured;  ///< the slot has a file in the configuration
  uint8_t usable;      ///< loaded, no error finding
  uint8_t active;      ///< new handshakes use it
  uint8_t pad;
  uint32_t findings;   ///< bit i = CertFindingCode i
  int64_t not_before;  ///< Unix seconds of the leaf (0 when not loaded)
  int64_t not_after;
};
inline constexpr unsigned kServerCertSlots = 2;

struct alignas(64) StatsSegment {
  uint32_t magic;           ///< kStatsMagic, stored last with release order
  uint32_t version;         ///< kStatsVersion
  uint64_t size;            ///< sizeof(StatsSegment) as the writer built it
  uint64_t generation;      ///< CLOCK_REALTIME ns when the dataplane started (changes on restart)
  uint32_t pid;             ///< dataplane pid
  uint32_t n_ports;
  uint64_t tsc_hz;
  uint64_t heartbeat_ns;    ///< CLOCK_REALTIME ns, updated by the main lcore about once a second
  uint32_t neigh_entries;   ///< resolved neighbour entries (main lcore, about once a second)
  uint32_t mempool_in_use;  ///< mbufs in use (main lcore, about once a second)
  uint32_t mempool_size;
  uint32_t lab_forwarding;
  char instance[32];
  /// The policy in force (main lcore): its generation (1 at start, +1 per reload) and the
  /// app index → name table, append-only: a name is written before n_apps grows past it
  /// (release), and never changes while the dataplane runs.
  uint64_t policy_generation;
  uint32_t n_apps;          ///< <= kMaxApps
  uint32_t pad2;
  char app_names[kMaxApps][kAppNameLen];
  ServerCertInfo server_certs[kServerCertSlots];
  uint64_t cert_reloads_ok;      ///< certificate reloads that took effect (SIGHUP, tunnelgatectl reload)
  uint64_t cert_reloads_failed;  ///< reloads refused: a file did not load or had an error
  uint64_t cert_switches;        ///< changes of the active certificate (expiry, margin, reload)
  PortInfo ports[kMaxPorts];
  LcoreStats lcores[kMaxLcores];
  TlsWorkerStats tls_workers[kMaxTlsWorkers];
};

/// "/tunnelgate-<instance>-stats"
inline std::string stats_shm_name(const std::string& instance) {
  return "/tunnelgate-" + instance + "-stats";
}

}  // namespace tg::shm
