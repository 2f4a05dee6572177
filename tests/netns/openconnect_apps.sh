#!/bin/bash
# tests/netns/openconnect_apps.sh -- per-app policy end to end with the real openconnect
# client: the app a session belongs to comes from its credential (auth group, certificate
# SAN URI, bearer token claim); it gets exactly its app's split routes; the dataplane's
# lcores drop what its app's services do not allow (destination, protocol, port), counted
# per app and reason; a policy reload applies to a running session's next packets.
#
#  client ns                           gateway ns                              backend ns
#  openconnect ── tun tgc-* ┐
#  c0 192.0.2.2 ───────────── gw-out [outside 192.0.2.1] ── TLS/DTLS ── TLS workers ── control plane
#                                     │ poll lcore: DTLS records → app policy (rte_acl) → route
#                             gw-in  [inside 198.18.0.1] ──── b0 198.18.0.2
#                                                              198.18.1.10 (app 1: TCP 8080 + ICMP)
#                                                              198.18.2.10 (app 2: anything)
#  Apps (tools/testbed): com.example.all (default, both), com.example.mail (app 1: backend A
#  web), com.example.crm (app 2: backend B). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgapp
export TG_LAB_FORWARDING=0   # production setting: only tunnelled traffic reaches the inside
export TG_RECONNECT_S=2
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
CTL=$TG_BUILD_DIR/tools/tunnelgatectl
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
read -r -a NETS <<< "$TG_BACKEND_NETS"
host_of() { local h=${1#http://}; echo "${h%%:*}"; }

# reach URL: curl through the tunnel succeeds with the backend's page.
reach() { [ "$(tg_cx curl -fsS --max-time 5 "$1" 2>/dev/null)" = "tunnelgate testbed backend $(host_of "$1")" ]; }
# blocked URL: routed into the tunnel explicitly (a /32 via the tun), and still no answer.
blocked() {
  tg_cx ip route replace "$(host_of "$1")/32" dev "$OC_IF"
  ! tg_cx curl -fsS --max-time 3 -o /dev/null "$1" 2> /dev/null
}
drops() { tg_metric_sum "$(tg_metrics)" tunnelgate_app_policy_drops_total "app=$1" "reason=$2"; }
# The split-include routes through the tun (the pool's own route aside), sorted.
routes_of_tun() {
  ip -n "$TG_NS_CLIENT" -4 route show dev "$OC_IF" | awk -v pool="$TG_POOL" '$1 ~ /\// && $1 != pool {print $1}' |
    sort | tr '\n' ' '
}

# ---------------------------------------------------------------------------- groups
# Test that the auth group the client picks (--authgroup, the form lists one per app)
# names the app: app 1 reaches its service and nothing else, with exactly its routes.
if tg_oc_connect mail -u "$TG_USER" --authgroup "$TG_APP1_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "--authgroup $TG_APP1_GROUP connected"
else tg_fail "--authgroup $TG_APP1_GROUP connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
tg_check "the session is app 1's" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP1_ID" -eq 1
got=$(routes_of_tun)
if [ "$got" = "${NETS[0]} " ]; then tg_pass "app 1 got exactly its routes (${NETS[0]})"
else tg_fail "app 1 got exactly its routes: '$got' (wanted '${NETS[0]} ')"; fi
tg_check "app 1 reaches $TG_APP1_ALLOWED_URL" reach "$TG_APP1_ALLOWED_URL"
tg_check "app 1 pings its backend (ICMP allowed)" tg_cx ping -n -c 2 -i 0.2 -W 2 "${BACKENDS[0]}"
before=$(drops "$TG_APP1_ID" destination)
tg_check "app 1 does not reach $TG_APP1_DENIED_URL" blocked "$TG_APP1_DENIED_URL"
tg_check "…dropped as destination for app 1" tg_wait_metric 5 tunnelgate_app_policy_drops_total "app=$TG_APP1_ID" reason=destination -gt "$before"
# Its service is TCP to the HTTP port only: another port and UDP are dropped too.
before=$(drops "$TG_APP1_ID" port)
if tg_cx iperf3 -c "${BACKENDS[0]}" -p "$TG_IPERF_PORT" -t 1 --connect-timeout 2000 > /dev/null 2>&1; then
  tg_fail "app 1: iperf3 port $TG_IPERF_PORT refused"
else tg_pass "app 1: iperf3 port $TG_IPERF_PORT refused"; fi
tg_check "…dropped as port" tg_wait_metric 5 tunnelgate_app_policy_drops_total "app=$TG_APP1_ID" reason=port -gt "$before"
before=$(drops "$TG_APP1_ID" protocol)
tg_cx bash -c "for i in 1 2 3; do echo probe > /dev/udp/${BACKENDS[0]}/$TG_HTTP_PORT; done" || true
tg_check "UDP from app 1 dropped as protocol" tg_wait_metric 5 tunnelgate_app_policy_drops_total "app=$TG_APP1_ID" reason=protocol -gt "$before"
tg_check "app 1's traffic counted to_backend" tg_wait_metric 5 tunnelgate_app_packets_total "app=$TG_APP1_ID" direction=to_backend -gt 5
tg_check "app 1's traffic counted to_client" tg_wait_metric 5 tunnelgate_app_bytes_total "app=$TG_APP1_ID" direction=to_client -gt 100
tg_check "policy denials in the drop table" tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=tunnel_policy_denied -gt 0
tg_oc_stop

# Test that app 2 (group CRM) gets the reverse.
if tg_oc_connect crm -u "$TG_USER" --authgroup "$TG_APP2_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "--authgroup $TG_APP2_GROUP connected"
else tg_fail "--authgroup $TG_APP2_GROUP connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
got=$(routes_of_tun)
if [ "$got" = "${NETS[1]} " ]; then tg_pass "app 2 got exactly its routes (${NETS[1]})"
else tg_fail "app 2 got exactly its routes: '$got' (wanted '${NETS[1]} ')"; fi
tg_check "app 2 reaches $TG_APP2_ALLOWED_URL" reach "$TG_APP2_ALLOWED_URL"
before=$(drops "$TG_APP2_ID" destination)
tg_check "app 2 does not reach $TG_APP2_DENIED_URL" blocked "$TG_APP2_DENIED_URL"
tg_check "…dropped as destination for app 2" tg_wait_metric 5 tunnelgate_app_policy_drops_total "app=$TG_APP2_ID" reason=destination -gt "$before"

# ---------------------------------------------------------------------------- reload
# Test that a policy reload applies to the running session's next packets, no reconnect:
# app 2 gains app 1's web service; the URL it was refused now answers.
gen=$(tg_metric_sum "$(tg_metrics)" tunnelgate_policy_generation)
cp "$TG_CONFIG" "$TG_STATE_DIR/original.conf"
sed -i "/id = \"$TG_APP2_ID\"/ s/services = \[\"backend-b\"\]/services = [\"backend-b\", \"backend-a-web\"]/" "$TG_CONFIG"
tg_check "tunnelgatectl reload: policy reloaded" bash -c "ip netns exec '$TG_NS_GW' '$CTL' reload --socket '$TG_ADMIN_SOCKET' | tee /dev/stderr | grep -q '^policy: .*3 apps, 3 services.*notified'"
tg_check "the dataplane applied it" tg_wait_metric 10 tunnelgate_policy_generation -gt "$gen"
tg_check "app 2 now reaches $TG_APP2_DENIED_URL (same tunnel)" reach "$TG_APP2_DENIED_URL"
tg_check "the tunnel was not re-established" bash -c "[ \$(grep -c 'Configured as' '$OC_LOG') = 1 ]"
# Test that a reload with errors changes nothing (and says where the error is).
cp "$TG_CONFIG" "$TG_STATE_DIR/good.conf"
sed -i "/id = \"$TG_APP2_ID\"/ s/services = \[/services = [\"no-such-service\", /" "$TG_CONFIG"
out=$(ip netns exec "$TG_NS_GW" "$CTL" reload --socket "$TG_ADMIN_SOCKET" 2>&1) && rc=0 || rc=$?
if [ $rc = 1 ] && grep -q "tunnelgate.conf:[0-9]*: apps" <<< "$out"; then tg_pass "broken config: reload exit 1 with file:line"
else tg_fail "broken config: reload exit 1 with file:line (rc $rc: $out)"; fi
tg_check "…and app 2 still reaches $TG_APP2_DENIED_URL" reach "$TG_APP2_DENIED_URL"
# Back to the original policy: app 2 loses the service again, at once.
cp "$TG_STATE_DIR/original.conf" "$TG_CONFIG"
gen=$(tg_metric_sum "$(tg_metrics)" tunnelgate_policy_generation)
tg_check "reload of the original policy" ip netns exec "$TG_NS_GW" "$CTL" reload --socket "$TG_ADMIN_SOCKET"
tg_check "…applied" tg_wait_metric 10 tunnelgate_policy_generation -gt "$gen"
tg_check "…and app 2 no longer reaches $TG_APP2_DENIED_URL" blocked "$TG_APP2_DENIED_URL"
tg_oc_stop

# ---------------------------------------------------------------------------- certificates
# Test that a client certificate carrying urn:app:<id> in its SAN names the app.
if tg_oc_connect certapp -c "$TG_APP1_CERT" -k "$TG_APP1_KEY"; then tg_pass "certificate of app 1 connected"
else tg_fail "certificate of app 1 connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
tg_check "the certificate session is app 1's" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP1_ID" -ge 1
tg_check "certificate app 1 reaches $TG_APP1_ALLOWED_URL" reach "$TG_APP1_ALLOWED_URL"
tg_check "certificate app 1 does not reach $TG_APP1_DENIED_URL" blocked "$TG_APP1_DENIED_URL"
tg_oc_stop

# ---------------------------------------------------------------------------- tokens
# Test that a bearer token in the password field logs in as its user, with the app of its
# appid claim (app 2, an ES256 token).
if tg_oc_connect token -u token-user --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_APP2_TOKEN"; then tg_pass "token of app 2 connected"
else tg_fail "token of app 2 connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
tg_check "the token login counted" tg_wait_metric 5 tunnelgate_auth_attempts_total method=token result=ok -ge 1
tg_check "token app 2 reaches $TG_APP2_ALLOWED_URL" reach "$TG_APP2_ALLOWED_URL"
tg_check "token app 2 does not reach $TG_APP2_DENIED_URL" blocked "$TG_APP2_DENIED_URL"
tg_check "the session's user is the token's upn" bash -c "ip netns exec '$TG_NS_GW' '$CTL' sessions --json --socket '$TG_ADMIN_SOCKET' | grep -q '\"user\":\"$TG_USER\"'"
# Test that tunnelgatectl filters and disconnects by app.
tg_check "tunnelgatectl sessions --app lists app 2's session" bash -c "ip netns exec '$TG_NS_GW' '$CTL' sessions --app '$TG_APP2_ID' --socket '$TG_ADMIN_SOCKET' | grep -q '$TG_APP2_ID'"
tg_check "tunnelgatectl sessions --app of app 1 lists none" bash -c "! ip netns exec '$TG_NS_GW' '$CTL' sessions --app '$TG_APP1_ID' --socket '$TG_ADMIN_SOCKET' | grep -q '$TG_APP1_ID'"
tg_check "tunnelgatectl disconnect --app takes app 2's client off" ip netns exec "$TG_NS_GW" "$CTL" disconnect --app "$TG_APP2_ID" --socket "$TG_ADMIN_SOCKET"
tg_check "…no session of app 2 left" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP2_ID" -eq 0
tg_check "…the client's tunnel is gone" bash -c "for i in \$(seq 50); do ip -n '$TG_NS_CLIENT' link show '$OC_IF' > /dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1"
tg_oc_stop

# Test that an Authorization: Bearer header logs in without a form (the MAM SDK's way).
init='<?xml version="1.0" encoding="UTF-8"?><config-auth client="vpn" type="init"><version who="vpn">v9.01</version></config-auth>'
hdrs=$(tg_cx curl -sk --max-time 5 -o /dev/null -D - -H "Authorization: Bearer $TG_APP1_TOKEN" --data-binary "$init" "https://$TG_GW_ADDR:$TG_TLS_PORT/" || true)
tg_check "Authorization: Bearer answered with a webvpn cookie" grep -qi '^set-cookie: webvpn=[0-9a-f]' <<< "$hdrs"

# Test that bad tokens are refused with their reason, and counted.
for case in "EXPIRED token_expired" "BAD_AUD token_bad_audience" "BAD_SIG token_bad_signature"; do
  read -r var reason <<< "$case"
  tok_var=TG_TOKEN_$var
  if tg_oc_connect "bad-${var,,}" -u token-user --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "${!tok_var}"; then
    tg_fail "token $var refused"; tg_oc_stop
  else tg_pass "token $var refused"; fi
  tg_check "…the client was told $reason" grep -q "$reason" "$OC_LOG"
  tg_check "…counted as $reason" tg_wait_metric 5 tunnelgate_auth_failures_total method=token "reason=$reason" -ge 1
done

# ---------------------------------------------------------------------------- default app
# Test that a client naming no app (a certificate without urn:app:) gets the default app:
# both backends, both routes. (Password clients pick a group: the form lists one per app,
# and openconnect --non-inter needs --authgroup, as with ocserv's select-group.)
if tg_oc_connect default -c "$TG_CLIENT_CERT" -k "$TG_CLIENT_KEY"; then tg_pass "certificate naming no app: connected"
else tg_fail "certificate naming no app: connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
tg_check "the session is the default app's" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_DEFAULT_APP" -ge 1
got=$(routes_of_tun)
want="$(printf '%s\n' "${NETS[@]}" | sort | tr '\n' ' ')"
if [ "$got" = "$want" ]; then tg_pass "default app got both routes"; else tg_fail "default app routes: '$got' (wanted '$want')"; fi
tg_check "default app reaches $TG_APP1_ALLOWED_URL" reach "$TG_APP1_ALLOWED_URL"
tg_check "default app reaches $TG_APP2_ALLOWED_URL" reach "$TG_APP2_ALLOWED_URL"
tg_oc_stop

tg_summary
