#!/bin/bash
# tests/netns/openconnect_cstp.sh -- the real openconnect client (--no-dtls) logs in with a
# password, gets an address from the pool and split-include routes, and reaches the
# backends through the DPDK dataplane with the data on the TLS channel (CSTP). The TLS worker
# holds its sockets as io_uring file-table slots here (dataplane.tls_io = io_uring; the other
# tests use descriptors), so every byte of this test goes through that socket model.
#
#  client ns                          gateway ns                                   backend ns
#  openconnect ── tun tgc-* ┐
#  c0 192.0.2.2 ──────────── gw-out [port outside 192.0.2.1] ─ TCP 443 ─► tg-exc (kernel)
#                                    │                                    └► TLS worker: HTTP auth,
#                                    │ poll lcore ◄── rings ──────────────┘  CONNECT, CSTP
#                            gw-in  [port inside 198.18.0.1] ──── b0 198.18.0.2
#                                                                  198.18.1.10, 198.18.2.10
#  tunnelgate-controlplane decides every login (users file, argon2id) over the ctl segment.
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgoc
export TG_LAB_FORWARDING=0   # production setting: only tunnelled traffic reaches the inside
export TG_RECONNECT_S=3      # limits.reconnect_s: how long a lost tunnel's address is kept
export TG_TLS_IO=io_uring
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
tg_check "the TLS worker holds its sockets in an io_uring table" grep -q 'msg="TLS listening".*tls_io=io_uring' "$TG_DATAPLANE_LOG"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
read -r -a URLS <<< "$TG_BACKEND_URLS"


# Test that malformed or unsupported requests get an HTTP error, are counted and logged.
code=$(tg_cx curl -sk --max-time 5 -X PUT -o /dev/null -w '%{http_code}' "https://$TG_GW_ADDR/" || true)
if [ "$code" = 405 ]; then tg_pass "PUT answered 405"; else tg_fail "PUT answered 405 (got $code)"; fi
code=$(tg_cx curl -sk --max-time 5 --data-binary '<config-auth><broken' -o /dev/null -w '%{http_code}' "https://$TG_GW_ADDR/" || true)
if [ "$code" = 400 ]; then tg_pass "malformed config-auth XML answered 400"; else tg_fail "malformed XML answered 400 (got $code)"; fi
tg_check "HTTP errors counted" tg_wait_metric 5 tunnelgate_http_errors_total -ge 2
tg_check "HTTP errors logged with their reason" grep -q 'msg="http error".*status=400' "$TG_DATAPLANE_LOG"

# Test that a wrong password is refused: the client says why and exits non-zero, and
# nothing is left behind (no session, no address taken).
if tg_oc_connect wrongpw --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "not-the-password"; then
  tg_fail "wrong password refused"; tg_oc_stop
else tg_pass "wrong password refused"; fi
sed 's/^/    | /' "$OC_LOG" | tail -n 3
tg_check "the client was told the login failed" grep -q "Login failed" "$OC_LOG"
# Test that an unknown user is refused the same way (no hint that the user does not exist).
if tg_oc_connect nouser --no-dtls -u nobody-here --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "whatever"; then
  tg_fail "unknown user refused"; tg_oc_stop
else tg_pass "unknown user refused"; fi
tg_check "the refusals were counted" tg_wait_metric 5 tunnelgate_auth_attempts_total method=password result=denied -ge 2
tg_check "no session after refusals" tg_wait_metric 2 tunnelgate_sessions_active -eq 0
tg_check "no address taken after refusals" tg_wait_metric 2 tunnelgate_pool_addresses_in_use -eq 0

# Test that the right password connects and the client gets an address from the pool.
if tg_oc_connect alice --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect --no-dtls connected"
else
  tg_fail "openconnect --no-dtls connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary
fi
addr=$(tg_oc_address)
case $addr in 198.51.100.*) tg_pass "tunnel address $addr is from the pool $TG_POOL" ;;
  *) tg_fail "tunnel address '$addr' is from the pool $TG_POOL" ;; esac
tg_check "CSTP (not DTLS) carries the data" grep -q "CSTP connected" "$OC_LOG"
# Test that the split-include routes are the service subnets, through the tunnel.
for net in $TG_BACKEND_NETS; do
  tg_check "route $net via the tunnel" bash -c "ip -n '$TG_NS_CLIENT' route show '$net' | grep -q 'dev $OC_IF'"
done

# Test that a page from each backend and a 50 MB transfer arrive intact through the tunnel.
tg_fetch_checks "through the tunnel"
tg_check "one session" tg_wait_metric 2 tunnelgate_sessions_active -eq 1
tg_check "one address leased" tg_wait_metric 2 tunnelgate_pool_addresses_in_use -eq 1
tg_check "tunnel packets counted both ways" tg_wait_metric 5 tunnelgate_tunnel_to_client_packets_total -gt 30000
tg_check "client packets routed to backends" tg_wait_metric 5 tunnelgate_tunnel_to_backend_packets_total -gt 1000
tg_check "no spoofed or denied inner packets" tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=tunnel_spoofed_source -eq 0

# Test that a destination outside the services is not reachable through the tunnel: the
# client routes it into the tunnel explicitly, the dataplane drops it (policy).
tg_cx ip route add 198.18.0.2/32 dev "$OC_IF"
if tg_cx ping -n -c 2 -i 0.2 -W 1 198.18.0.2 > /dev/null 2>&1; then tg_fail "198.18.0.2 (no service) unreachable through the tunnel"
else tg_pass "198.18.0.2 (no service) unreachable through the tunnel"; fi
tg_check "counted as tunnel_policy_denied" tg_wait_metric 5 tunnelgate_dataplane_drops_total reason=tunnel_policy_denied -ge 2

# Test that the client's reconnect with its cookie (SIGUSR2: what it does after a network
# change, PROTOCOL.md §7.2) gets the same session and address, and traffic flows again.
before=$(tg_oc_address)
kill -USR2 "$(cat "$OC_PID_FILE")"
tg_check "the client reconnected with its cookie" bash -c \
  "for i in \$(seq 100); do [ \$(grep -c 'CSTP connected' '$OC_LOG') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"
after=$(tg_oc_address)
if [ -n "$after" ] && [ "$after" = "$before" ]; then tg_pass "same address after the reconnect ($after)"
else tg_fail "same address after the reconnect ($before -> $after)"; fi
body=$(tg_cx curl -fsS --max-time 10 "${URLS[0]}" || true)
if [ -n "$body" ]; then tg_pass "traffic flows after the reconnect"; else tg_fail "traffic flows after the reconnect"; fi
tg_check "still one session" tg_wait_metric 5 tunnelgate_sessions_active -eq 1

# Test that a disconnect (SIGINT: the client sends BYE, a logout) ends the session and
# releases its address at once.
tg_oc_stop INT
tg_check "session ended after the client's BYE" tg_wait_metric 5 tunnelgate_sessions_active -eq 0
tg_check "address released after the client's BYE" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0

# Test that kill -9 of a client ends its tunnel (the kernel closes its TCP connection); the
# session keeps its address for a reconnect with the cookie, as ocserv does (docs/auth.md).
tg_oc_connect again --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" || tg_fail "reconnect after logout"
tg_oc_stop KILL
tg_check "tunnel closed after kill -9" bash -c "for i in \$(seq 50); do grep -q 'tunnel closed.*reason=peer_closed' '$TG_DATAPLANE_LOG' && exit 0; sleep 0.1; done; exit 1"
tg_check "its address released after limits.reconnect_s" tg_wait_metric 15 tunnelgate_pool_addresses_in_use -eq 0
tg_check "and its session" tg_wait_metric 5 tunnelgate_sessions_active -eq 0

# Test that with the control plane down an established tunnel keeps forwarding, and a new
# login gets a clear "try again" (503) at once instead of hanging.
tg_oc_connect keep --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" || tg_fail "connect before the control plane stops"
keep_pid=$OC_PID_FILE
"$REPO/tools/testbed" stop controlplane > /dev/null
body=$(tg_cx curl -fsS --max-time 10 "${URLS[1]}" || true)
if [ -n "$body" ]; then tg_pass "tunnel forwards with the control plane down"; else tg_fail "tunnel forwards with the control plane down"; fi
rc=0
tg_cx timeout 30 openconnect --protocol=anyconnect --non-inter --no-dtls --servercert "$TG_SERVER_PIN" -u "$TG_USER" \
  --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin --authenticate "https://$TG_GW_ADDR/" <<< "$TG_PASSWORD" > "$TG_STATE_DIR/oc-down.log" 2>&1 || rc=$?
sed 's/^/    | /' "$TG_STATE_DIR/oc-down.log" | tail -n 3
if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then tg_pass "login without control plane fails by itself (exit $rc, not a timeout)"
else tg_fail "login without control plane fails by itself (exit $rc)"; fi
tg_check "the client saw 503 (try again)" grep -q "503" "$TG_STATE_DIR/oc-down.log"
"$REPO/tools/testbed" start controlplane > /dev/null
tg_check "try-again answers counted (by the dataplane, scraped after the restart)" \
  tg_wait_metric 10 tunnelgate_http_try_again_total -ge 1
OC_PID_FILE=$keep_pid tg_oc_stop INT
tg_summary
