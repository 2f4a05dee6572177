#!/bin/bash
# tests/netns/hostile.sh -- bad input end to end (issue 9, docs/security.md): what hostile or
# broken clients send the gateway. Each attack must be refused and counted, must not crash
# either process or leak packet buffers, and real clients must keep working. The attacks
# come from tests/netns/hostile_client.py (Python's ssl/socket) and the real openconnect.
#
#   oversized HTTP headers · a slow client (request timeout) · TLS garbage · CSTP frames
#   with lying lengths, bad magic, unknown type · pings to another session's tunnel address
#   and packets with another session's source (no cross-session leakage) · replayed DTLS
#   records · an ARP flood
#   from random senders · an ICMP echo flood
# The TLS worker holds its sockets as io_uring file-table slots (dataplane.tls_io), so the
# hostile TCP clients meet that socket model; the other tests use descriptors.
# (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tghst
export TG_LAB_FORWARDING=0
export TG_REQUEST_TIMEOUT_S=3
export TG_TLS_IO=io_uring
tg_testbed_up
tg_check "the TLS worker holds its sockets in an io_uring table" grep -q 'msg="TLS listening".*tls_io=io_uring' "$TG_DATAPLANE_LOG"
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
HOSTILE="python3 $REPO/tests/netns/hostile_client.py"
hx() { tg_cx $HOSTILE "$@"; }
metric() { tg_metric_sum "$(tg_metrics)" "$@"; }
both_alive() { kill -0 "$TG_DATAPLANE_PID" && kill -0 "$TG_CONTROLPLANE_PID"; }
sleep 1
mbufs0=$(metric tunnelgate_mempool_mbufs_in_use)

# Test that a request with 20 KB of headers (limits.max_request_bytes is 16 KiB) gets an
# HTTP error and is counted.
e0=$(metric tunnelgate_http_errors_total)
out=$(hx oversized "$TG_GW_ADDR" "$TG_TLS_PORT" 20000 2>&1 || true)
if [[ $out =~ ^status\ 4(13|31)$ ]]; then tg_pass "20 KB of headers: $out"; else tg_fail "20 KB of headers: 413/431 expected, got '$out'"; fi
tg_check "the oversized request is counted" tg_wait_metric 5 tunnelgate_http_errors_total -ge $((e0 + 1))

# Test that a client that starts a request and goes silent is cut off (request_timeout_s 3).
out=$(hx slow "$TG_GW_ADDR" "$TG_TLS_PORT" 20 2>&1 || true)
if [[ $out == closed* ]]; then tg_pass "slow client: $out (request_timeout_s 3)"; else tg_fail "slow client cut off (got '$out')"; fi

# Test that bytes that are not TLS end the connection with a counted handshake failure.
h0=$(metric tunnelgate_tls_handshake_failures_total)
out=$(hx garbage "$TG_GW_ADDR" "$TG_TLS_PORT" 2>&1 || true)
if [ "$out" = closed ]; then tg_pass "TLS garbage: connection closed"; else tg_fail "TLS garbage: connection closed (got '$out')"; fi
tg_check "TLS garbage counted as a handshake failure" tg_wait_metric 5 tunnelgate_tls_handshake_failures_total -ge $((h0 + 1))

# Test that CSTP frames that lie (a length past the bytes sent and the MTU, a bad magic, an
# unknown type) end that tunnel, are counted and logged, and free its address.
for kind in long magic type; do
  out=$(hx cstp-lie "$TG_GW_ADDR" "$TG_TLS_PORT" "$TG_USER" "$TG_PASSWORD" "$TG_DEFAULT_GROUP" "$kind" 2>&1 || true)
  if grep -q '^connected ' <<< "$out" && [ "$(tail -n 1 <<< "$out")" = closed ]; then
    tg_pass "CSTP frame ($kind) after a real login: tunnel closed"
  else tg_fail "CSTP frame ($kind) after a real login: tunnel closed (got: $(tr '\n' ' ' <<< "$out"))"; fi
done
tg_check "3 bad CSTP frames counted" tg_wait_metric 5 tunnelgate_cstp_errors_total -ge 3
tg_check "bad CSTP frames logged" bash -c "[ \$(grep -c 'msg=\"bad CSTP frame\"' '$TG_DATAPLANE_LOG') -ge 3 ]"
tg_check "no tunnel left open by them" tg_wait_metric 10 tunnelgate_tunnels_active -eq 0

# Two real clients, A and B.
if tg_oc_connect a --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "client A connected after the attacks"
else tg_fail "client A connected after the attacks"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
addr_a=$(tg_oc_address); if_a=$OC_IF; pidfile_a=$OC_PID_FILE
if tg_oc_connect b -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "client B connected"
else tg_fail "client B connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
addr_b=$(tg_oc_address); if_b=$OC_IF
echo "    | A $addr_a ($if_a), B $addr_b ($if_b)"
tg_check "A reaches the backend" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$if_a" "${BACKENDS[0]}"

# Test that a session cannot reach another session's tunnel address: the pool is not a
# service, so the lcore drops it as a policy refusal and B's tun sees nothing.
rx_b0=$(ip -n "$TG_NS_CLIENT" -s -j link show "$if_b" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])')
p0=$(metric tunnelgate_dataplane_drops_total reason=tunnel_policy_denied)
ip -n "$TG_NS_CLIENT" route add "$addr_b/32" dev "$if_a"
if tg_cx ping -n -c 5 -i 0.2 -W 1 -I "$if_a" "$addr_b" > /dev/null 2>&1; then tg_fail "A cannot ping B's tunnel address"
else tg_pass "A cannot ping B's tunnel address"; fi
ip -n "$TG_NS_CLIENT" route del "$addr_b/32" dev "$if_a"
tg_check "A's packets to B counted as policy drops" \
  tg_wait_metric 5 tunnelgate_dataplane_drops_total reason=tunnel_policy_denied -ge $((p0 + 5))
# Test that A cannot send with B's source address: dropped as spoofed, none reach anyone.
s0=$(metric tunnelgate_dataplane_drops_total reason=tunnel_spoofed_source)
hx spoof "$if_a" "$addr_b" "${BACKENDS[0]}" 20 > /dev/null
tg_check "A's packets with B's source dropped as spoofed" \
  tg_wait_metric 5 tunnelgate_dataplane_drops_total reason=tunnel_spoofed_source -ge $((s0 + 20))
rx_b1=$(ip -n "$TG_NS_CLIENT" -s -j link show "$if_b" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])')
if [ "$rx_b1" -le "$((rx_b0 + 2))" ]; then tg_pass "B's tunnel received none of it ($rx_b0 -> $rx_b1 packets)"
else tg_fail "B's tunnel received none of it ($rx_b0 -> $rx_b1 packets)"; fi

# Test that DTLS records captured on the client's link and sent again byte for byte (a replay
# needs no key) are dropped by the anti-replay window and counted, and B's tunnel still works.
r0=$(metric tunnelgate_dataplane_drops_total reason=dtls_replay)
tg_cx ping -n -q -c 40 -i 0.05 -W 1 -I "$if_b" "${BACKENDS[0]}" > /dev/null 2>&1 &
ping_b=$!
out=$(hx replay "$TG_IF_CLIENT" "$TG_GW_ADDR" "$TG_DTLS_PORT" 20 10 2>&1 || true)
wait "$ping_b" || true
n=${out#replayed }
if [[ $out =~ ^replayed\ [0-9]+$ ]] && [ "$n" -ge 10 ]; then tg_pass "captured and replayed $n DTLS records of B"
else tg_fail "captured and replayed DTLS records of B (got '$out')"; fi
tg_check "replayed records dropped as dtls_replay" \
  tg_wait_metric 5 tunnelgate_dataplane_drops_total reason=dtls_replay -ge $((r0 + ${n:-1}))
tg_check "B still reaches the backend over DTLS" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$if_b" "${BACKENDS[0]}"

# Test that an ARP flood from random senders on the outside link keeps the neighbour table
# bounded by the link's addresses, and traffic keeps flowing.
a0=$(metric tunnelgate_arp_requests_answered_total)
hx arp-flood "$TG_IF_CLIENT" "$TG_GW_ADDR" 192.0.2.0/24 20000 > /dev/null
tg_check "the ARP flood reached the gateway (answered)" \
  tg_wait_metric 5 tunnelgate_arp_requests_answered_total -ge $((a0 + 10000))
n=$(metric tunnelgate_neighbour_entries)
if [ "$n" -le 256 ]; then tg_pass "neighbour table after 20000 ARP requests: $n entries (<= the /24)"
else tg_fail "neighbour table after 20000 ARP requests: $n entries (> the /24)"; fi
tg_check "A still reaches the backend after the ARP flood" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$if_a" "${BACKENDS[0]}"

# Test that an ICMP echo flood at the gateway is answered and leaves nothing behind.
out=$(tg_cx ping -n -f -c 20000 -W 1 "$TG_GW_ADDR" 2>&1 | grep 'packets transmitted' || true)
echo "    | flood: $out"
recv=$(awk '{print $4}' <<< "$out")
if [ "${recv:-0}" -ge 10000 ]; then tg_pass "ICMP flood answered ($recv of 20000)"; else tg_fail "ICMP flood answered (${recv:-0} of 20000)"; fi
tg_check "A still reaches the backend after the ICMP flood" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$if_a" "${BACKENDS[0]}"

# Test that nothing leaked: both processes alive, packet buffers back where they were.
tg_check "dataplane and control plane still running" both_alive
OC_PID_FILE=$pidfile_a OC_IF=$if_a tg_oc_stop
tg_oc_stop
tg_check "no tunnel left" tg_wait_metric 10 tunnelgate_tunnels_active -eq 0
tg_check "mbufs in use back to the start ($mbufs0 + 64 at most)" \
  tg_wait_metric 10 tunnelgate_mempool_mbufs_in_use -le $((mbufs0 + 64))
tg_summary
