#!/bin/bash
# tests/netns/openconnect_cert.sh -- certificate logins with the real openconnect client:
# the control plane verifies the certificate the TLS worker received against auth.ca and
# takes the user from its subject CN (PROTOCOL.md §3.8: the cookie comes on the first POST,
# the CONNECT on a new TLS connection that presents the certificate again).
#
#  client ns (openconnect -c CERT -k KEY)      gateway ns                         backend ns
#  c0 192.0.2.2 ─── gw-out [outside] ─ TCP 443 ─► tg-exc ─► TLS worker ─ ctl ─► controlplane
#                   gw-in  [inside]  ──────────────────────────── b0 198.18.0.2 / 198.18.1.10
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgce
export TG_LAB_FORWARDING=0
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a URLS <<< "$TG_BACKEND_URLS"

# Test that a certificate from another CA is refused, the client is told why, and nothing
# is left behind.
if tg_oc_connect otherca --no-dtls -c "$TG_CLIENT_CERT_OTHER_CA" -k "$TG_CLIENT_KEY_OTHER_CA" < /dev/null; then
  tg_fail "certificate from another CA refused"; tg_oc_stop
else tg_pass "certificate from another CA refused"; fi
sed 's/^/    | /' "$OC_LOG" | tail -n 3
tg_check "the client was told why (unknown CA)" grep -qi "cert_unknown_ca\|unknown CA\|certificate" "$OC_LOG"

# Test that an expired certificate is refused with its reason.
if tg_oc_connect expired --no-dtls -c "$TG_CLIENT_CERT_EXPIRED" -k "$TG_CLIENT_KEY_EXPIRED" < /dev/null; then
  tg_fail "expired certificate refused"; tg_oc_stop
else tg_pass "expired certificate refused"; fi
sed 's/^/    | /' "$OC_LOG" | tail -n 3
tg_check "the client was told why (expired)" grep -qi "expired" "$OC_LOG"
tg_check "both refusals counted" tg_wait_metric 5 tunnelgate_auth_attempts_total method=certificate result=denied -ge 2
tg_check "no session after refusals" tg_wait_metric 2 tunnelgate_sessions_active -eq 0
tg_check "no address taken after refusals" tg_wait_metric 2 tunnelgate_pool_addresses_in_use -eq 0

# Test that the test bed CA's certificate logs in without a password and reaches a backend.
if tg_oc_connect cert --no-dtls -c "$TG_CLIENT_CERT" -k "$TG_CLIENT_KEY" < /dev/null; then
  tg_pass "certificate login connected"
else
  tg_fail "certificate login connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary
fi
tg_check "address from the pool" bash -c "case '$(tg_oc_address)' in 198.51.100.*) exit 0;; *) exit 1;; esac"
body=$(tg_cx curl -fsS --max-time 10 "${URLS[0]}" || true)
if [ -n "$body" ]; then tg_pass "curl ${URLS[0]} through the tunnel: $body"; else tg_fail "curl ${URLS[0]} through the tunnel"; fi
tg_check "certificate login counted" tg_wait_metric 5 tunnelgate_auth_attempts_total method=certificate result=ok -ge 1
tg_oc_stop INT
tg_check "address released after logout" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0
tg_summary
