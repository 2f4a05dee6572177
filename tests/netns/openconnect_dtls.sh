#!/bin/bash
# tests/netns/openconnect_dtls.sh -- the real openconnect client with DTLS allowed: the
# PSK-NEGOTIATE handshake runs on a TLS worker, the records on the poll lcore's fast path
# (cryptodev or wolfCrypt), and the client falls back to CSTP when UDP is blocked and
# comes back to DTLS when it is not (PROTOCOL.md §6).
#
#  client ns                          gateway ns
#  openconnect ── tun tgc-* ┐
#  c0 192.0.2.2 ─ UDP 443 ─── gw-out [port outside] → poll lcore: DTLS records ⇄ inside port
#               └ TCP 443 ─── (exception path) → kernel → TLS worker: auth, CONNECT, CSTP,
#                                                         DTLS handshakes (punted by the lcore)
# Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgdtls
export TG_LAB_FORWARDING=0
export TG_DPD_S=2            # the client's DTLS DPD declares a silent peer dead after 2 x 2 s
export TG_SWITCH_TO_TCP_S=5  # and we stop sending on DTLS after 5 s without a record
export TG_RECONNECT_S=3
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
read -r -a URLS <<< "$TG_BACKEND_URLS"
grep -E 'DTLS fast path|DTLS PSK suites|cryptodev' "$TG_DATAPLANE_LOG" | sed 's/^/    | /' || true

# udp_block / udp_unblock: drop the client's UDP to the gateway's DTLS port in its own
# namespace (a policy rule, no netfilter needed), as a firewall in front of a client would.
udp_block() { ip -n "$TG_NS_CLIENT" rule add priority 100 ipproto udp dport "$TG_TLS_PORT" blackhole; }
udp_unblock() { ip -n "$TG_NS_CLIENT" rule del priority 100 2> /dev/null || true; }
# (the rule goes away with the namespace when the bed is taken down)

count_log() { grep -c "$1" "$OC_LOG" || true; }
wait_log() {  # wait_log SECONDS PATTERN MIN_COUNT
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(count_log "$2")" -ge "$3" ] && return 0
    sleep 0.2
  done
  return 1
}

# Test that the client establishes DTLS with the gateway and configures its tunnel on it.
if tg_oc_connect dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect (DTLS allowed) connected"
else
  tg_fail "openconnect (DTLS allowed) connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary
fi
grep -E "CONNECT response|DTLS|Configured as" "$OC_LOG" | sed 's/^/    | /'
tg_check "the client reports DTLS established" grep -q "Established DTLS connection" "$OC_LOG"
tg_check "the tunnel was configured with DTLS connected" grep -q "Configured as .*DTLS connected" "$OC_LOG"
tg_check "the MTU probe was answered (no fallback to 576)" bash -c "! grep -q 'declare MTU is 576' '$OC_LOG'"
tg_check "the handshake was counted" tg_wait_metric 5 tunnelgate_dtls_handshakes_total -eq 1
tg_check "a poll lcore holds the session's keys" tg_wait_metric 5 tunnelgate_dtls_sessions -eq 1
tg_check "the dataplane logged the session with its cipher" grep -q 'msg="DTLS established".*cipher=' "$TG_DATAPLANE_LOG"
grep 'msg="DTLS established"' "$TG_DATAPLANE_LOG" | tail -n 1 | sed 's/^/    | /'

# Test that pages and a 50 MB transfer arrive intact with the data on DTLS records.
cstp_before=$(tg_metric_sum "$(tg_metrics)" tunnelgate_cstp_transmit_packets_total)
tg_fetch_checks "over DTLS"
tg_check "records decrypted on the lcore (the ACKs)" tg_wait_metric 5 tunnelgate_dtls_records_decrypted_total -gt 3000
tg_check "records encrypted on the lcore" tg_wait_metric 5 tunnelgate_dtls_records_encrypted_total -gt 30000
cstp_after=$(tg_metric_sum "$(tg_metrics)" tunnelgate_cstp_transmit_packets_total)
if [ $((cstp_after - cstp_before)) -lt 100 ]; then tg_pass "the transfer did not go over CSTP ($((cstp_after - cstp_before)) CSTP packets)"
else tg_fail "the transfer did not go over CSTP ($((cstp_after - cstp_before)) CSTP packets)"; fi
for r in dtls_bad_tag dtls_replay dtls_unknown_session dtls_malformed dtls_crypto_error; do
  tg_check "no $r drops" tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=$r -eq 0
done

# Test iperf3 through the DTLS tunnel: TCP both ways and UDP (rates logged, never asserted).
for mode in "" "-R" "-u -b 200M"; do
  # shellcheck disable=SC2086
  if json=$(tg_cx iperf3 -c "${BACKENDS[1]}" -p "$TG_IPERF_PORT" -t 3 $mode -J 2>&1); then
    rate=$(printf '%s' "$json" | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; s=e.get("sum_received") or e["sum"]; print("%.0f Mbit/s" % (s["bits_per_second"]/1e6))')
    tg_pass "iperf3 ${mode:-(TCP)} over DTLS: $rate"
  else
    tg_fail "iperf3 ${mode:-(TCP)} over DTLS"; printf '%s\n' "$json" | tail -n 5
  fi
done

# Test that the stage clock (dataplane.stage_sample, 1 in 16 poll iterations by default)
# timed both DTLS paths stage by stage: each stage handled packets in the timed iterations,
# with cycles. The cycles per packet are logged (never asserted).
M=$(tg_metrics)
for st in classify session_lookup decrypt policy route encrypt encap tx; do
  pk=$(tg_metric_sum "$M" tunnelgate_lcore_stage_packets_total stage=$st)
  cy=$(tg_metric_sum "$M" tunnelgate_lcore_stage_cycles_total stage=$st)
  if [ "$pk" -gt 100 ] && [ "$cy" -gt 0 ]; then tg_pass "stage $st timed: $pk packets, $((cy / pk)) cycles each"
  else tg_fail "stage $st timed: $pk packets, $cy cycles (wanted > 100 packets and cycles)"; fi
done

# Test that with UDP blocked the tunnel keeps working over CSTP: the client's DTLS DPD
# gives up (2 x dpd), it sends on CSTP, and the gateway follows it there.
dead_before=$(count_log "Dead Peer Detection detected dead peer")
est_before=$(count_log "Established DTLS connection")
udp_block
tg_check "the client declared DTLS dead" wait_log 20 "Dead Peer Detection detected dead peer" $((dead_before + 1))
cstp_before=$(tg_metric_sum "$(tg_metrics)" tunnelgate_cstp_transmit_packets_total)
body=$(tg_cx curl -fsS --retry 5 --retry-delay 1 --max-time 10 "${URLS[1]}" || true)
if [ -n "$body" ]; then tg_pass "curl works with UDP blocked (CSTP)"; else tg_fail "curl works with UDP blocked (CSTP)"; fi
tg_check "those packets went over CSTP" tg_wait_metric 5 tunnelgate_cstp_transmit_packets_total -gt "$cstp_before"
# Test that the client comes back to DTLS once UDP passes again (it retries the handshake).
udp_unblock
if wait_log 75 "Established DTLS connection" $((est_before + 1)); then tg_pass "DTLS re-established after UDP came back"
else tg_fail "DTLS re-established after UDP came back"; grep -E "DTLS" "$OC_LOG" | tail -n 8 | sed 's/^/    | /'; fi
sleep 1
dec_before=$(tg_metric_sum "$(tg_metrics)" tunnelgate_dtls_records_decrypted_total)
body=$(tg_cx curl -fsS --max-time 10 "${URLS[0]}" || true)
if [ -n "$body" ]; then tg_pass "curl after DTLS came back"; else tg_fail "curl after DTLS came back"; fi
tg_check "the data is on DTLS again" tg_wait_metric 5 tunnelgate_dtls_records_decrypted_total -gt "$dec_before"
tg_check "still one DTLS session on the lcore" tg_wait_metric 5 tunnelgate_dtls_sessions -eq 1

# Test that a logout removes the DTLS keys from the lcore.
tg_oc_stop INT
tg_check "DTLS session removed after the BYE" tg_wait_metric 5 tunnelgate_dtls_sessions -eq 0
# The session's totals (to the control plane, and the log) count what went over DTLS too:
# after 50 MB and the iperf3 runs to the client, at least 10^7 bytes.
tg_check "the tunnel's totals include its DTLS traffic" bash -c \
  "grep 'msg=\"tunnel closed\"' '$TG_DATAPLANE_LOG' | tail -n 1 | grep -Eq 'tx_bytes=[0-9]{8,}'"
grep 'msg="tunnel closed"' "$TG_DATAPLANE_LOG" | tail -n 1 | sed 's/^/    | /'
tg_check "address released" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0

# Test that a client whose UDP is blocked from the start still gets a working tunnel
# (over CSTP, after openconnect's DTLS attempt times out).
udp_block
if tg_oc_connect noudp -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then tg_pass "connected with UDP blocked"
else
  # openconnect delays the tun until its DTLS attempt gives up (~12 s): wait for it.
  if wait_log 30 "Configured as" 1; then tg_pass "connected with UDP blocked (after the DTLS timeout)"
  else tg_fail "connected with UDP blocked"; sed 's/^/    | /' "$OC_LOG" | tail -n 10; fi
fi
for _ in $(seq 30); do ip -n "$TG_NS_CLIENT" -4 addr show dev "$OC_IF" 2> /dev/null | grep -q inet && break; sleep 0.5; done
body=$(tg_cx curl -fsS --max-time 10 "${URLS[0]}" || true)
if [ -n "$body" ]; then tg_pass "curl over CSTP with UDP blocked"; else tg_fail "curl over CSTP with UDP blocked"; fi
tg_check "no DTLS session for it" tg_wait_metric 2 tunnelgate_dtls_sessions -eq 0
tg_oc_stop INT
udp_unblock

# Test that a flood of ClientHellos naming no tunnel (random App-IDs, as an attacker without
# the TLS-protected App-ID would send) and of garbage creates no handshake state, is counted
# and rate-limited on the lcore, and that a real client still gets DTLS afterwards.
tg_cx python3 - "$TG_GW_ADDR" "$TG_TLS_PORT" <<'PY'
import os, socket, sys
hello = bytes.fromhex(
    "16feff0000000000000000009b0100008f000000000000008ffefd0edf99ae06202f511875eb96dc1503e68346b63b72"
    "51eafa254232acf84bf6f520a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf00001000"
    "a9ccabc0a5008d00a8c0a4008c00ae01000035000d00220020040108090804040308070501080a080505030808060108"
    "0b080606030201020300230000ff01000100001c00024000")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
for i in range(3000):
    h = bytearray(hello)
    h[60:92] = os.urandom(32)          # an App-ID nobody was given
    s.sendto(bytes(h), dst)
for i in range(300):
    s.sendto(os.urandom(40 + i % 200), dst)  # not DTLS at all
PY
tg_check "random App-IDs refused without state" tg_wait_metric 5 tunnelgate_dtls_handshake_failures_total reason=unknown_app_id -ge 100
tg_check "no handshake under way" tg_wait_metric 2 tunnelgate_dtls_handshakes_active -eq 0
tg_check "ClientHellos over the rate limit dropped on the lcore" \
  tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=dtls_handshake_rate_limited -ge 1
tg_check "garbage counted as malformed DTLS" tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=dtls_malformed -ge 1
sleep 1  # let the rate limiter's second pass
if tg_oc_connect after -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" &&
   wait_log 15 "Established DTLS connection" 1; then tg_pass "a real client still gets DTLS after the flood"
else tg_fail "a real client still gets DTLS after the flood"; tail -n 5 "$OC_LOG" | sed 's/^/    | /'; fi
tg_oc_stop INT
tg_summary
