#!/bin/bash
# tests/netns/tunnelgatectl.sh -- tunnelgatectl against a running control plane's admin socket
# (docs/tunnelgatectl.md): a real openconnect client (--no-dtls) connects; `status` and
# `sessions` show it (with its channel and traffic; a DTLS client's too); `disconnect` takes it off (the client process exits, its address goes
# back to the pool); `reload` after `tunnelgatectl passwd` makes the old password fail and
# the new one work. (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgctl
export TG_LAB_FORWARDING=0
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
CTL=$TG_BUILD_DIR/tools/tunnelgatectl
[ -x "$CTL" ] || { echo "FAIL: $CTL not built"; exit 1; }
# The socket is a file in the state dir: reachable from any namespace; run it in the gw
# namespace anyway, as an operator on the gateway would.
ctl() { ip netns exec "$TG_NS_GW" "$CTL" "$@"; }

tg_check "admin socket exists with mode 0660" bash -c "[ -S '$TG_ADMIN_SOCKET' ] && [ \"\$(stat -c %a '$TG_ADMIN_SOCKET')\" = 660 ]"
tg_check "status answers" ctl status --socket "$TG_ADMIN_SOCKET"
ctl status --socket "$TG_ADMIN_SOCKET" | sed 's/^/    | /'
tg_check "status finds the socket from --config" ctl status --config "$TG_CONFIG"
tg_check "status: dataplane up" bash -c "'$CTL' status --json --socket '$TG_ADMIN_SOCKET' | grep -q '\"up\":true'"

# A client connects; status and sessions show it.
if tg_oc_connect alice --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect connected"
else
  tg_fail "openconnect connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary
fi
addr=$(tg_oc_address)
oc_pid=$(cat "$OC_PID_FILE")
tg_check "status: 1 session connected" bash -c "'$CTL' status --socket '$TG_ADMIN_SOCKET' | grep -q '^sessions *1 (1 connected, 0 detached)'"
tg_check "status: 1 pool address in use" bash -c "'$CTL' status --socket '$TG_ADMIN_SOCKET' | grep -q 'clients: 1 of'"
tg_check "status: the outside port's link is up" bash -c "'$CTL' status --socket '$TG_ADMIN_SOCKET' | grep -q '^port *outside (outside): link up'"
tg_check "status: the primary certificate is active and usable" \
  bash -c "'$CTL' status --socket '$TG_ADMIN_SOCKET' | grep -Eq '^certificate *primary: active, expires in .*, 0 error'"
# sessions_hold ID PYTHON-CONDITION-ON-s: the session's entry in `sessions --json` meets the
# condition; the dataplane refreshes its live record about once a second: retry a little.
sessions_hold() {
  local i
  for i in $(seq 10); do
    "$CTL" sessions --json --socket "$TG_ADMIN_SOCKET" |
      python3 -c "import json,sys; a=json.load(sys.stdin); s=[s for s in a['sessions'] if s['address'] == '$1']; sys.exit(0 if s and ($2) else 1)" "$1" &&
      return 0
    sleep 0.5
  done
  return 1
}
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
tg_check "5 pings through the CSTP tunnel" tg_cx ping -n -c 5 -i 0.2 -W 2 -I "$OC_IF" "${BACKENDS[0]}"
tg_check "sessions: channel cstp, at least 5 packets each way with their bytes" \
  sessions_hold "$addr" "s[0].get('channel') == 'cstp' and s[0]['rx_packets'] >= 5 and s[0]['tx_packets'] >= 5 and s[0]['rx_bytes'] >= 5 * 84 and s[0]['tx_bytes'] >= 5 * 84"
# stats: the dataplane's counters (the client's traffic on the ports, the worker's tunnel);
# the workers' counters reach the statistics segment about once a second: retry a little.
stats_holds() {  # stats_holds PYTHON-CONDITION-ON-a
  local i
  for i in $(seq 10); do
    "$CTL" stats --json --socket "$TG_ADMIN_SOCKET" |
      python3 -c "import json,sys; a=json.load(sys.stdin); sys.exit(0 if a['ok'] and ($1) else 1)" && return 0
    sleep 0.5
  done
  return 1
}
tg_check "stats: the outside port received packets" \
  stats_holds "[p for p in a['ports'] if p['name'] == 'outside'][0]['rx_packets'] > 0"
tg_check "stats: worker 0 holds one tunnel" stats_holds "a['workers'][0]['tunnels'] == 1"
# The stage clock (1 in 16 iterations by default) timed the client's packets: 200 more
# pings make hundreds of busy iterations (none timed among them: (15/16)^400 < 1e-11). The
# lcore's stages come in path order, classify among them with packets.
tg_cx ping -n -q -c 200 -i 0.005 -W 2 -I "$OC_IF" "${BACKENDS[0]}" > /dev/null || true
tg_check "stats: the lcore's stages in path order, classify timed" \
  stats_holds "a['lcores'][0]['stage_sample'] == 16 and [s['stage'] for s in a['lcores'][0]['stages']] == [o for o in ['rx', 'classify', 'session_lookup', 'decrypt', 'policy', 'route', 'encrypt', 'encap', 'tx', 'other'] if o in [s['stage'] for s in a['lcores'][0]['stages']]] and [s for s in a['lcores'][0]['stages'] if s['stage'] == 'classify'][0]['packets'] > 0"
ctl stats --socket "$TG_ADMIN_SOCKET" | sed 's/^/    | /'
sessions=$(ctl sessions --socket "$TG_ADMIN_SOCKET")
echo "$sessions" | sed 's/^/    | /'
tg_check "sessions: the user, its tunnel address, the client's address, connected" \
  bash -c "grep -E ' $TG_USER .* ${TG_CLIENT_ADDR%/*}:[0-9]+ +$addr .* connected ' <<< '$sessions'"
tg_check "sessions --user filters" bash -c "'$CTL' sessions --user nobody --socket '$TG_ADMIN_SOCKET' | wc -l | grep -qx 1"
id=$(ctl sessions --json --user "$TG_USER" --socket "$TG_ADMIN_SOCKET" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["id"])')

# disconnect takes the real client off: the process exits, the address is released.
tg_check "disconnect $id" bash -c "'$CTL' disconnect '$id' --socket '$TG_ADMIN_SOCKET' | grep -q 'disconnected 1 session'"
tg_check "the openconnect process exits" bash -c "for i in \$(seq 150); do kill -0 $oc_pid 2>/dev/null || exit 0; sleep 0.2; done; exit 1"
sed 's/^/    | /' "$OC_LOG" | tail -n 4
tg_check "the address is released" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq 0
tg_check "no session left" tg_wait_metric 5 tunnelgate_sessions_active -eq 0
rc=0; ctl disconnect "$id" --socket "$TG_ADMIN_SOCKET" > /dev/null 2>&1 || rc=$?
if [ $rc = 1 ]; then tg_pass "disconnect of a gone session: exit 1"; else tg_fail "disconnect of a gone session: exit 1 (got $rc)"; fi

# reload after passwd: the old password fails, the new one works.
NEW_PASSWORD="new-$RANDOM-$RANDOM"
tg_check "tunnelgatectl passwd" bash -c "'$CTL' passwd '$TG_USER' --users-file '$TG_USERS_FILE' --argon2 m=1024,t=1,p=1 <<< '$NEW_PASSWORD'"
tg_check "reload" bash -c "'$CTL' reload --socket '$TG_ADMIN_SOCKET' | grep -q 'users: .*: 1 users'"
if tg_oc_connect oldpw --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_fail "old password refused after reload"; tg_oc_stop
else tg_pass "old password refused after reload"; fi
if tg_oc_connect newpw --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$NEW_PASSWORD"; then
  tg_pass "new password works after reload"
else tg_fail "new password works after reload"; sed 's/^/    | /' "$OC_LOG"; fi
# disconnect --user ends it too.
tg_check "disconnect --user" bash -c "'$CTL' disconnect --user '$TG_USER' --socket '$TG_ADMIN_SOCKET' | grep -q 'disconnected 1 session'"
tg_check "the address is released again" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 0
tg_oc_stop

# A DTLS client: `sessions` shows its channel as dtls and its traffic counted on the lcore.
if tg_oc_connect dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$NEW_PASSWORD"; then
  tg_pass "openconnect (DTLS allowed) connected"
else tg_fail "openconnect (DTLS allowed) connected"; sed 's/^/    | /' "$OC_LOG"; fi
addr=$(tg_oc_address)
tg_check "the client reports DTLS established" bash -c "for i in \$(seq 50); do grep -q 'Established DTLS connection' '$OC_LOG' && exit 0; sleep 0.2; done; exit 1"
tg_check "20 pings through the DTLS tunnel" tg_cx ping -n -c 20 -i 0.1 -W 2 -I "$OC_IF" "${BACKENDS[0]}"
tg_check "sessions: channel dtls, at least 20 packets each way" \
  sessions_hold "$addr" "s[0].get('channel') == 'dtls' and s[0]['rx_packets'] >= 20 and s[0]['tx_packets'] >= 20"
ctl sessions --socket "$TG_ADMIN_SOCKET" | sed 's/^/    | /'
tg_check "sessions table: dtls and the packet counts" \
  bash -c "'$CTL' sessions --socket '$TG_ADMIN_SOCKET' | grep -E ' $addr .* connected +dtls +[0-9]+/[0-9.]+k? +[0-9]+/'"
tg_oc_stop
tg_check "the DTLS client's address is released" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 0

# A broken users file is refused with file:line and changes nothing.
cp "$TG_USERS_FILE" "$TG_STATE_DIR/users.good"
echo "not a users line" >> "$TG_USERS_FILE"
out=$(ctl reload --socket "$TG_ADMIN_SOCKET" 2>&1) && rc=0 || rc=$?
if [ $rc = 1 ] && grep -q "$TG_USERS_FILE:[0-9]*:" <<< "$out"; then tg_pass "broken users file: reload exit 1 with file:line"
else tg_fail "broken users file: reload exit 1 with file:line (rc $rc: $out)"; fi
cp "$TG_STATE_DIR/users.good" "$TG_USERS_FILE"

tg_summary
