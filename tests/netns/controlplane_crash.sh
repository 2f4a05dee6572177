#!/bin/bash
# tests/netns/controlplane_crash.sh -- the control plane is killed (SIGKILL) under tunnel
# traffic of real openconnect clients and restarted: the tunnels keep forwarding through
# the crash, a login during the outage is refused with a clear error, and the restarted
# control plane adopts the live tunnels the TLS workers report (SESSION_RESYNC): sessions,
# addresses, app gauges, reconnect with the old cookie, disconnect, logout, and new logins
# that get other addresses; a tunnel it cannot take (its app is gone) is refused and closed
# (docs/auth.md, "Control-plane crash and resync").
#
#  client ns                           gateway ns                                backend ns
#  openconnect "mail" (DTLS, app 1) ┐
#  openconnect "crm"  (CSTP, app 2) ┤  tunnelgate-dataplane: TLS workers ⇄ ctl segment
#  c0 192.0.2.2 ─────────────────── gw-out [outside] ── poll lcore ── gw-in [inside] ── 198.18.1.10
#                                      tunnelgate-controlplane  ← kill -9, restart      198.18.2.10
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }
command -v iperf3 > /dev/null || { echo "SKIP: iperf3 not installed"; exit 77; }

tg_test_init tgcpk
export TG_LAB_FORWARDING=0   # only tunnelled traffic reaches the backends
export TG_RECONNECT_S=30     # a killed client's session waits long enough for its reconnect
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
export TG_STATE_DIR   # tools/testbed start|stop act on this bed
TB=$REPO/tools/testbed
CTL=$TG_BUILD_DIR/tools/tunnelgatectl
[ -x "$CTL" ] || { echo "FAIL: $CTL not built"; exit 1; }
ctl() { ip netns exec "$TG_NS_GW" "$CTL" "$@" --socket "$TG_ADMIN_SOCKET"; }
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
m() { tg_metric_sum "$(tg_metrics)" "$@"; }
# session_field ID FIELD: a field of the session with that id in `sessions --json`.
session_field() {
  ctl sessions --json | python3 -c '
import json, sys
for s in json.load(sys.stdin)["sessions"]:
    if str(s["id"]) == sys.argv[1]:
        print(s[sys.argv[2]])' "$1" "$2"
}
session_count() { ctl sessions --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))'; }
# id_of ADDRESS: the id of the session holding that tunnel address ("" when none).
id_of() {
  ctl sessions --json | python3 -c '
import json, sys
print(next((str(s["id"]) for s in json.load(sys.stdin)["sessions"] if s["address"] == sys.argv[1]), ""))' "$1"
}
pid_gone() { local i; for i in $(seq 150); do kill -0 "$1" 2> /dev/null || return 0; sleep 0.2; done; return 1; }

# ------------------------------------------------------------------ two tunnels with traffic
# Test that a DTLS client (app 1) and a CSTP-only client (app 2, connected with a cookie from
# a separate login, as a reconnect would) are up, each reaching its own backend.
if tg_oc_connect mail -u "$TG_USER" --authgroup "$TG_APP1_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "DTLS client (app 1) connected"
else tg_fail "DTLS client (app 1) connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
MAIL_PID=$(cat "$OC_PID_FILE"); MAIL_LOG=$OC_LOG; MAIL_IF=$OC_IF; MAIL_ADDR=$(tg_oc_address)
for _ in $(seq 50); do grep -q "Established DTLS connection" "$MAIL_LOG" && break; sleep 0.2; done
tg_check "the app 1 client runs on DTLS" grep -q "Established DTLS connection" "$MAIL_LOG"

auth=$(tg_cx openconnect --protocol=anyconnect --non-inter --servercert "$TG_SERVER_PIN" --authenticate \
  -u "$TG_USER" --authgroup "$TG_APP2_GROUP" --passwd-on-stdin "https://$TG_GW_ADDR:$TG_TLS_PORT/" \
  <<< "$TG_PASSWORD" 2> "$TG_STATE_DIR/oc-auth.log" || true)
CRM_COOKIE=$(sed -n "s/^COOKIE='\(.*\)'$/\1/p" <<< "$auth")
if [ -n "$CRM_COOKIE" ]; then tg_pass "app 2 login gave a cookie"; else tg_fail "app 2 login gave a cookie"; cat "$TG_STATE_DIR/oc-auth.log"; fi
if tg_oc_connect crm --no-dtls --cookie-on-stdin <<< "$CRM_COOKIE"; then tg_pass "CSTP client (app 2) connected with its cookie"
else tg_fail "CSTP client (app 2) connected with its cookie"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
CRM_PID=$(cat "$OC_PID_FILE"); CRM_IF=$OC_IF; CRM_ADDR=$(tg_oc_address)
echo "    | app 1 (DTLS) $MAIL_ADDR on $MAIL_IF, app 2 (CSTP) $CRM_ADDR on $CRM_IF"
tg_check "two sessions before the crash" tg_wait_metric 5 tunnelgate_sessions_connected -eq 2
MAIL_ID=$(id_of "$MAIL_ADDR"); CRM_ID=$(id_of "$CRM_ADDR")
echo "    | session ids: app 1 $MAIL_ID, app 2 $CRM_ID"
tg_check "app 1 pings ${BACKENDS[0]} before the crash" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$MAIL_IF" "${BACKENDS[0]}"
tg_check "app 2 pings ${BACKENDS[1]} before the crash" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$CRM_IF" "${BACKENDS[1]}"

# ------------------------------------------------------------------ kill -9 under traffic
# Test that both tunnels keep forwarding while the control plane is killed and stays down:
# the echoes are counted (the kill comes 1 s into a 10 s run, so a tunnel that stopped
# would answer about 5 of 50; 45 leaves room for the odd loss next to iperf3 on the same
# CSTP tunnel), and iperf3 on the CSTP tunnel runs through the crash.
dtls_before=$(m tunnelgate_dtls_records_decrypted_total)
ping_mail=$TG_STATE_DIR/ping-mail.log ping_crm=$TG_STATE_DIR/ping-crm.log iperf=$TG_STATE_DIR/iperf-crm.json
tg_cx ping -n -c 50 -i 0.2 -W 2 -I "$MAIL_IF" "${BACKENDS[0]}" > "$ping_mail" 2>&1 & p1=$!
tg_cx ping -n -c 50 -i 0.2 -W 2 -I "$CRM_IF" "${BACKENDS[1]}" > "$ping_crm" 2>&1 & p2=$!
tg_cx iperf3 -c "${BACKENDS[1]}" -p "$TG_IPERF_PORT" -t 8 -J > "$iperf" 2>&1 & p3=$!
sleep 1
cp_pid=$TG_CONTROLPLANE_PID
kill -KILL "$cp_pid"
if pid_gone "$cp_pid"; then tg_pass "control plane (pid $cp_pid) killed"; else tg_fail "control plane (pid $cp_pid) killed"; fi
cp "$TG_CONTROLPLANE_LOG" "$TG_STATE_DIR/controlplane-before-crash.log"

# Test that a login while the control plane is down gets a clear error (HTTP 503 naming the
# control plane in X-Reason and body, shown by openconnect, logged by the worker) and leaves
# no tunnel behind. Asked until the workers see the heartbeat stale (within its 2 s timeout;
# before that a login waits and gets "did not answer").
reply='<?xml version="1.0" encoding="UTF-8"?><config-auth client="vpn" type="auth-reply"><version who="vpn">v9</version><auth><username>'$TG_USER'</username><password>x</password></auth></config-auth>'
down_answer() {
  answer=$(tg_cx curl -sk --max-time 8 -D - --data-binary "$reply" "https://$TG_GW_ADDR:$TG_TLS_PORT/" || true)
  grep -q "^HTTP/1.1 503" <<< "$answer" && grep -qi "^X-Reason: try again: the gateway.s control plane is down" <<< "$answer" &&
    grep -vi "^X-Reason" <<< "$answer" | grep -q "control plane is down"
}
ok=0
for _ in $(seq 10); do if down_answer; then ok=1; break; fi; sleep 0.5; done
printf '%s\n' "$answer" | sed 's/^/    | /' | head -n 12
if [ $ok = 1 ]; then tg_pass "a password login during the outage: 503, X-Reason and body name the control plane"
else tg_fail "a password login during the outage: 503, X-Reason and body name the control plane"; fi
if tg_oc_connect outage --no-dtls -u "$TG_USER" --authgroup "$TG_APP1_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_fail "openconnect login refused while the control plane is down"; tg_oc_stop
else tg_pass "openconnect login refused while the control plane is down"; fi
sed 's/^/    | /' "$OC_LOG" | tail -n 3
tg_check "openconnect shows the 503" grep -q "HTTP/1.1 503" "$OC_LOG"
tg_check "the worker logged the refusal naming the control plane" \
  grep -q 'msg="http error".*status=503 reason="try again: the gateway.s control plane is down' "$TG_DATAPLANE_LOG"
tg_check "no tunnel for the refused login" bash -c "! ip -n '$TG_NS_CLIENT' link show tgc-outage > /dev/null 2>&1"

rc=0; wait "$p1" || rc=$?
got=$(awk '/packets transmitted/ {print $4}' "$ping_mail")
if [ "${got:-0}" -ge 45 ]; then tg_pass "app 1 (DTLS) ping through the crash: ${got}/50 replies"
else tg_fail "app 1 (DTLS) ping through the crash: ${got:-0}/50 replies (wanted >= 45, exit $rc)"; fi
rc=0; wait "$p2" || rc=$?
got=$(awk '/packets transmitted/ {print $4}' "$ping_crm")
if [ "${got:-0}" -ge 45 ]; then tg_pass "app 2 (CSTP) ping through the crash: ${got}/50 replies"
else tg_fail "app 2 (CSTP) ping through the crash: ${got:-0}/50 replies (wanted >= 45, exit $rc)"; fi
rc=0; wait "$p3" || rc=$?
if bytes=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print(int(e["sum_received"]["bytes"]))' "$iperf" 2> /dev/null) &&
   [ "$bytes" -gt 1000000 ]; then tg_pass "iperf3 over CSTP through the crash: $bytes bytes received"
else tg_fail "iperf3 over CSTP through the crash (exit $rc)"; tail -n 5 "$iperf" | sed 's/^/    | /'; fi
tg_check "both clients are still running" kill -0 "$MAIL_PID" "$CRM_PID"

# ------------------------------------------------------------------ restart and resync
# Test that the restarted control plane adopts both tunnels: same session ids, user, app,
# address and client; the gauges and the pool agree.
"$TB" start controlplane
tg_load_env "$TG_STATE_DIR/testbed.env"
for _ in $(seq 50); do grep -q 'msg="resync complete' "$TG_CONTROLPLANE_LOG" && break; sleep 0.2; done
tg_check "the control plane logged the resync complete" grep -q 'msg="resync complete' "$TG_CONTROLPLANE_LOG"
grep -E 'msg="(session adopted|resync|resynced)' "$TG_CONTROLPLANE_LOG" | sed 's/^/    | /'
tg_check "two sessions adopted (log)" bash -c "[ \$(grep -c 'msg=\"session adopted from the dataplane\"' '$TG_CONTROLPLANE_LOG') = 2 ]"
tg_check "the workers logged their reports" grep -q 'msg="tunnels reported to the control plane"' "$TG_DATAPLANE_LOG"
ctl sessions | sed 's/^/    | /'
if [ "$(session_count)" = 2 ]; then tg_pass "tunnelgatectl sessions lists the 2 running tunnels"
else tg_fail "tunnelgatectl sessions lists the 2 running tunnels (got $(session_count))"; fi
for s in "mail:$MAIL_ID:$MAIL_ADDR:$TG_APP1_ID" "crm:$CRM_ID:$CRM_ADDR:$TG_APP2_ID"; do
  IFS=: read -r name id addr app <<< "$s"
  got="$(session_field "$id" user) $(session_field "$id" app) $(session_field "$id" address) $(session_field "$id" state)"
  if [ "$got" = "$TG_USER $app $addr connected" ]; then tg_pass "$name: session $id adopted as '$got'"
  else tg_fail "$name: session $id adopted as '$got' (wanted '$TG_USER $app $addr connected')"; fi
  client=$(session_field "$id" client)
  case $client in "${TG_CLIENT_ADDR%/*}:"*) tg_pass "$name: client address $client" ;;
  *) tg_fail "$name: client address '$client' (wanted ${TG_CLIENT_ADDR%/*}:port)" ;; esac
done
tg_check "sessions_active = 2" tg_wait_metric 5 tunnelgate_sessions_active -eq 2
tg_check "sessions_connected = 2" tg_wait_metric 5 tunnelgate_sessions_connected -eq 2
tg_check "app 1 sessions = 1" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP1_ID" -eq 1
tg_check "app 2 sessions = 1" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP2_ID" -eq 1
tg_check "default app sessions = 0" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_DEFAULT_APP" -eq 0
tg_check "pool addresses in use = 2" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 2
tg_check "sessions_adopted_total = 2" tg_wait_metric 5 tunnelgate_sessions_adopted_total -eq 2
tg_check "no resync refusals" tg_wait_metric 2 tunnelgate_session_resync_refused_total -eq 0
tg_check "session_resync requests answered ok (2 tunnels + 1 marker per worker)" \
  tg_wait_metric 2 tunnelgate_ctl_requests_total type=session_resync result=ok -ge 3
# (/metrics is the control plane's: the dataplane's counters are read once it is back.)
tg_check "the DTLS tunnel's records kept being decrypted on the lcore through the outage" \
  tg_wait_metric 5 tunnelgate_dtls_records_decrypted_total -ge $((dtls_before + 45))
tg_check "app 1 still pings after the restart" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$MAIL_IF" "${BACKENDS[0]}"

# Test that a new login gets an address no resynced tunnel holds.
if tg_oc_connect fresh --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "a new login after the restart connects"
else tg_fail "a new login after the restart connects"; sed 's/^/    | /' "$OC_LOG"; fi
FRESH_ADDR=$(tg_oc_address || true)
if [ -n "$FRESH_ADDR" ] && [ "$FRESH_ADDR" != "$MAIL_ADDR" ] && [ "$FRESH_ADDR" != "$CRM_ADDR" ]; then
  tg_pass "the new login got $FRESH_ADDR, not a resynced tunnel's address"
else tg_fail "the new login got '$FRESH_ADDR' (resynced: $MAIL_ADDR, $CRM_ADDR)"; fi
FRESH_ID=$(id_of "$FRESH_ADDR")
if [ -n "$FRESH_ID" ] && [ "$FRESH_ID" != "$MAIL_ID" ] && [ "$FRESH_ID" != "$CRM_ID" ]; then tg_pass "its session id $FRESH_ID is new"
else tg_fail "its session id '$FRESH_ID' is new"; fi
tg_oc_stop INT   # BYE: a logout
tg_check "its logout frees its address" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 2

# Test that a resynced session's cookie still works: the app 2 client dies without a BYE
# (its tunnel closes: a detach), and a new client with the old cookie gets the same address.
kill -KILL "$CRM_PID"
tg_check "the killed client's tunnel is detached, its session kept" tg_wait_metric 15 tunnelgate_sessions_connected -eq 1
tg_check "…and its address" tg_wait_metric 2 tunnelgate_pool_addresses_in_use -eq 2
if tg_oc_connect crm2 --no-dtls --cookie-on-stdin <<< "$CRM_COOKIE"; then tg_pass "reconnect with the resynced session's cookie"
else tg_fail "reconnect with the resynced session's cookie"; sed 's/^/    | /' "$OC_LOG"; fi
CRM_PID=$(cat "$OC_PID_FILE" 2> /dev/null || echo 0)
got=$(tg_oc_address || true)
if [ "$got" = "$CRM_ADDR" ]; then tg_pass "the reconnect got the same address $got"
else tg_fail "the reconnect got '$got' (wanted $CRM_ADDR)"; fi
if [ "$(id_of "$CRM_ADDR")" = "$CRM_ID" ]; then tg_pass "…in the same session $CRM_ID"
else tg_fail "…in the same session $CRM_ID (got '$(id_of "$CRM_ADDR")')"; fi
tg_check "app 2 pings through the reconnected tunnel" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$OC_IF" "${BACKENDS[1]}"

# Test that tunnelgatectl disconnect of a resynced session takes the real client off.
tg_check "disconnect $MAIL_ID" bash -c "'$CTL' disconnect '$MAIL_ID' --socket '$TG_ADMIN_SOCKET' | grep -q 'disconnected 1 session'"
if pid_gone "$MAIL_PID"; then tg_pass "the app 1 openconnect process exits"; else tg_fail "the app 1 openconnect process exits"; fi
sed 's/^/    | /' "$MAIL_LOG" | tail -n 2
tg_check "its address is released" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 1
tg_check "app 1 sessions = 0" tg_wait_metric 5 tunnelgate_app_sessions "app=$TG_APP1_ID" -eq 0
tg_check "no DTLS session left on the lcores" tg_wait_metric 10 tunnelgate_dtls_sessions -eq 0

# Test that the resynced app 2 session's logout (SESSION_CLOSE) ends it: nothing is left.
OC_PID_FILE=$TG_STATE_DIR/oc-crm2.pid tg_oc_stop INT
tg_check "no session left" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
tg_check "no address left" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0
got=$(m tunnelgate_app_sessions)
if [ "$got" = 0 ]; then tg_pass "every app gauge back to 0"; else tg_fail "every app gauge back to 0 (sum $got)"; fi

# ------------------------------------------------------------------ a tunnel refused
# Test that a tunnel the restarted control plane cannot take is refused, counted, logged and
# closed by its worker: app 2 is gone from the configuration the control plane comes back with.
if tg_oc_connect crm3 --no-dtls -u "$TG_USER" --authgroup "$TG_APP2_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "another app 2 client connected"
else tg_fail "another app 2 client connected"; sed 's/^/    | /' "$OC_LOG"; fi
CRM3_PID=$(cat "$OC_PID_FILE" 2> /dev/null || echo 0)
cp_pid=$TG_CONTROLPLANE_PID
kill -KILL "$cp_pid"
if pid_gone "$cp_pid"; then tg_pass "control plane (pid $cp_pid) killed again"; else tg_fail "control plane (pid $cp_pid) killed again"; fi
sed -i "s/id = \"$TG_APP2_ID\"/id = \"$TG_APP2_ID-gone\"/" "$TG_CONFIG"
"$TB" start controlplane
tg_load_env "$TG_STATE_DIR/testbed.env"
tg_check "the tunnel of the unknown app is refused (counted)" \
  tg_wait_metric 10 tunnelgate_session_resync_refused_total reason=unknown_app -eq 1
tg_check "…logged by the control plane" grep -q 'msg="resynced tunnel refused.*reason=unknown_app' "$TG_CONTROLPLANE_LOG"
tg_check "…and by the worker, which closes it" grep -q 'msg="tunnel refused by the new control plane' "$TG_DATAPLANE_LOG"
grep 'msg="tunnel refused by the new control plane' "$TG_DATAPLANE_LOG" | sed 's/^/    | /'
if pid_gone "$CRM3_PID"; then tg_pass "the refused client's openconnect exits"; else tg_fail "the refused client's openconnect exits"; fi
tg_check "nothing adopted by this control plane" tg_wait_metric 2 tunnelgate_sessions_adopted_total -eq 0
tg_check "tunnelgatectl sessions lists none" bash -c "[ \"\$('$CTL' sessions --json --socket '$TG_ADMIN_SOCKET' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"sessions\"]))')\" = 0 ]"
tg_check "pool addresses in use = 0" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0
tg_summary
