#!/bin/bash
# tests/netns/auth_rate_limit.sh -- brute force from one address: the real openconnect
# client fails a password login limits.auth_failures_per_source times from one source
# address; the next login from there, with the RIGHT password, is refused unchecked with
# the rate-limit message (counted, logged once); another address logs in; after one
# failure's worth of the window the right password works from the first address again.
#
#  client ns                                 gateway ns
#  c0 192.0.2.2 (legitimate)  ┐
#     192.0.2.3 (attacker)    ┴──────────── gw-out [port outside 192.0.2.1] ─ TCP 443 ─► TLS worker
#  route 192.0.2.1/32 src .3 while the                                                  │ AUTH_PASSWORD
#  attacker logs in (openconnect cannot bind                 tunnelgate-controlplane ◄──┘ per-source budget:
#  a source address itself)                                   3 failures, refilled in 60 s (one per 20 s)
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgrl
export TG_LAB_FORWARDING=0
export TG_AUTH_FAILURES_PER_SOURCE=3
export TG_AUTH_FAILURE_WINDOW_S=60   # one failure's worth = 20 s: the test needs 3 logins within it
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
ATTACKER=192.0.2.3
tg_cx ip addr add "$ATTACKER/24" dev "$TG_IF_CLIENT"

# The client's connections to the gateway leave from ADDR (the kernel's source choice).
from_source() {
  if [ "$1" = "$TG_CLIENT_ADDR" ]; then tg_cx ip route del "$TG_GW_ADDR/32" 2> /dev/null || true
  else tg_cx ip route replace "$TG_GW_ADDR/32" dev "$TG_IF_CLIENT" src "$1"; fi
}
# One password login with the real client, authentication only (no tunnel): NAME PASSWORD.
# Exit status of openconnect; its output in $TG_STATE_DIR/oc-NAME.log.
oc_auth() {
  local rc=0
  tg_cx timeout 30 openconnect --protocol=anyconnect --non-inter --servercert "$TG_SERVER_PIN" \
    -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin --authenticate \
    "https://$TG_GW_ADDR:$TG_TLS_PORT/" <<< "$2" > "$TG_STATE_DIR/oc-$1.log" 2>&1 || rc=$?
  return $rc
}
failures() {  # REASON: tunnelgate_auth_failures_total{method="password",reason=REASON}
  tg_metric_sum "$(tg_metrics)" tunnelgate_auth_failures_total method=password reason="$1"
}

# Test that the source address the gateway sees is the one chosen (else the rest proves nothing).
from_source "$ATTACKER"
tg_check "the attacker's connections come from $ATTACKER" bash -c \
  "ip netns exec '$TG_NS_CLIENT' ip route get '$TG_GW_ADDR' | grep -q 'src $ATTACKER'"

# Test that wrong passwords are refused as such and counted, up to the budget.
for i in 1 2 3; do
  if oc_auth "wrong$i" "not-the-password-$i"; then tg_fail "wrong password $i refused"
  else tg_pass "wrong password $i refused"; fi
done
tg_check "the client was told the login failed" grep -q "Login failed" "$TG_STATE_DIR/oc-wrong1.log"
tg_check "3 bad_credentials counted" tg_wait_metric 5 tunnelgate_auth_failures_total method=password reason=bad_credentials -eq 3
bad_before=$(failures bad_credentials)

# Test that the next login from that address, with the right password, is refused with the
# rate-limit message, without the password being checked, and counted as source_rate_limited.
if oc_auth limited "$TG_PASSWORD"; then tg_fail "right password from the limited source refused"
else tg_pass "right password from the limited source refused"; fi
sed 's/^/    | /' "$TG_STATE_DIR/oc-limited.log" | tail -n 3
tg_check "the client was told why" grep -q "Too many failed logins from this address" "$TG_STATE_DIR/oc-limited.log"
tg_check "counted as source_rate_limited" tg_wait_metric 5 tunnelgate_auth_failures_total method=password reason=source_rate_limited -eq 1
tg_check "counted as a denied attempt" tg_wait_metric 5 tunnelgate_auth_attempts_total method=password result=denied -eq 4
if [ "$(failures bad_credentials)" = "$bad_before" ]; then tg_pass "the refused password was not checked (bad_credentials still $bad_before)"
else tg_fail "the refused password was not checked (bad_credentials $(failures bad_credentials), was $bad_before)"; fi
tg_check "the source shows as limited" tg_wait_metric 5 tunnelgate_auth_sources_limited -eq 1
tg_check "one source tracked" tg_wait_metric 5 tunnelgate_auth_sources_tracked -eq 1
tg_check "the refusal logged with the client address" \
  grep -q "level=warn msg=\"auth refused\" reason=source_rate_limited client=$ATTACKER:[0-9]* source=$ATTACKER/32 method=password" "$TG_CONTROLPLANE_LOG"

# Test that the refusal is logged once per limited period, not per attempt (a flood does not
# flood the log), while every attempt is counted.
oc_auth limited2 "$TG_PASSWORD" || true
tg_check "a second refusal counted" tg_wait_metric 5 tunnelgate_auth_failures_total method=password reason=source_rate_limited -eq 2
lines=$(grep -c 'msg="auth refused" reason=source_rate_limited' "$TG_CONTROLPLANE_LOG" || true)
if [ "$lines" = 1 ]; then tg_pass "one refusal line for two refusals"; else tg_fail "one refusal line for two refusals (got $lines)"; fi

# Test that another address is not limited: the right password connects a tunnel from it.
from_source "$TG_CLIENT_ADDR"
if tg_oc_connect other --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "login from $TG_CLIENT_ADDR connected"
else tg_fail "login from $TG_CLIENT_ADDR connected"; sed 's/^/    | /' "$OC_LOG" | tail -n 5; fi
addr=$(tg_oc_address || true)
case $addr in 198.51.100.*) tg_pass "tunnel address $addr from the pool" ;; *) tg_fail "tunnel address '$addr' from the pool" ;; esac
tg_oc_stop INT
tg_check "source_rate_limited unchanged" tg_wait_metric 2 tunnelgate_auth_failures_total method=password reason=source_rate_limited -eq 2

# Test that once one failure's worth of the window has passed (60 s / 3; the gauge says when,
# at most ~21 s after the first failure), the right password works from the attacker's
# address again.
tg_check "the source is no longer limited after a third of the window" tg_wait_metric 40 tunnelgate_auth_sources_limited -eq 0
from_source "$ATTACKER"
if tg_oc_connect again --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "right password from $ATTACKER connects again"
else tg_fail "right password from $ATTACKER connects again"; sed 's/^/    | /' "$OC_LOG" | tail -n 5; fi
tg_oc_stop INT
tg_check "still 2 refusals" tg_wait_metric 2 tunnelgate_auth_failures_total method=password reason=source_rate_limited -eq 2
tg_check "2 successful logins" tg_wait_metric 5 tunnelgate_auth_attempts_total method=password result=ok -eq 2
from_source "$TG_CLIENT_ADDR"
tg_summary
