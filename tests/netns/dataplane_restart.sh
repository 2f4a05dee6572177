#!/bin/bash
# tests/netns/dataplane_restart.sh -- a dataplane restart under a live tunnel (issue 9,
# docs/security.md): every tunnel drops with the process, the control plane keeps the
# sessions (detached), and the real openconnect client reconnects by itself with its cookie
# to the same tunnel address, on DTLS again; traffic flows again. (tools/testbed,
# docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }
TB=$REPO/tools/testbed

tg_test_init tgdpr
export TG_LAB_FORWARDING=0
export TG_DPD_S=2   # the client notices a dead gateway within a few seconds
tg_testbed_up
export TG_STATE_DIR
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"

if tg_oc_connect dpr -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect connected"
else tg_fail "openconnect connected"; sed 's/^/    | /' "$OC_LOG"; tg_summary; fi
addr=$(tg_oc_address)
oc_pid=$(cat "$OC_PID_FILE")
tg_check "ping through the tunnel before the restart" tg_cx ping -n -c 3 -i 0.2 -W 2 -I "$OC_IF" "${BACKENDS[0]}"
dp_pid=$TG_DATAPLANE_PID

# Test that a dataplane restart is survived: the client reconnects with its cookie.
"$TB" stop dataplane
tg_check "the control plane sees the dataplane go" tg_wait_metric 10 tunnelgate_dataplane_up -eq 0
"$TB" start dataplane
tg_load_env "$TG_STATE_DIR/testbed.env"
if [ "$TG_DATAPLANE_PID" != "$dp_pid" ]; then tg_pass "a new dataplane runs (pid $dp_pid -> $TG_DATAPLANE_PID)"
else tg_fail "a new dataplane runs"; fi
back=0
for _ in $(seq 60); do
  if tg_cx ping -n -c 1 -W 1 -I "$OC_IF" "${BACKENDS[0]}" > /dev/null 2>&1; then back=1; break; fi
  sleep 1
done
if [ $back = 1 ]; then tg_pass "traffic flows through the tunnel again"; else tg_fail "traffic flows through the tunnel again"; fi
sed 's/^/    | /' "$OC_LOG" | tail -n 8
tg_check "the same openconnect process (it reconnected by itself)" kill -0 "$oc_pid"
if [ "$(tg_oc_address)" = "$addr" ]; then tg_pass "the same tunnel address ($addr): the session was kept"
else tg_fail "the same tunnel address ($addr, now $(tg_oc_address))"; fi
tg_check "one session, connected" tg_wait_metric 10 tunnelgate_sessions_connected -eq 1
tg_check "back on DTLS" tg_wait_metric 30 tunnelgate_dtls_sessions -eq 1
tg_check "20 pings after the restart" tg_cx ping -n -c 20 -i 0.1 -W 2 -I "$OC_IF" "${BACKENDS[0]}"
tg_oc_stop INT
tg_check "the logout ends the session" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
tg_summary
