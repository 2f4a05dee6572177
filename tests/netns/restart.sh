#!/bin/bash
# tests/netns/restart.sh -- either gateway process may start first, stop or crash: the
# control plane reports the dataplane's state, and forwarding never depends on the control
# plane being alive.
#
#  client ns                 gateway ns                                    backend ns
#  c0 192.0.2.2/24 ──── gw-out [dataplane port "outside" 192.0.2.1/24]
#                       gw-in  [dataplane port "inside"  198.18.0.1/24] ──── b0 198.18.0.2/24
#                       controlplane: /metrics on 127.0.0.1 (gw ns)           198.18.1.10/24
#                          reads the dataplane's stats segment (/dev/shm)     198.18.2.10/24
#  (tools/testbed; docs/testbed.md). Needs root; exits 77 (skipped) otherwise.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
TB=$REPO/tools/testbed

tg_test_init tgrs
export TG_LAB_FORWARDING=1
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
B0=${BACKENDS[0]}
export TG_STATE_DIR   # tools/testbed start|stop act on this bed

# Test that a control plane started while the dataplane is stopped serves /metrics with
# tunnelgate_dataplane_up 0.
"$TB" stop all
"$TB" start controlplane
tg_load_env "$TG_STATE_DIR/testbed.env"
tg_check "controlplane alone: tunnelgate_dataplane_up = 0" tg_wait_metric 10 tunnelgate_dataplane_up -eq 0

# Test that starting the dataplane afterwards is picked up: up = 1, and it forwards.
"$TB" start dataplane
tg_load_env "$TG_STATE_DIR/testbed.env"
tg_check "dataplane started later: tunnelgate_dataplane_up = 1" tg_wait_metric 10 tunnelgate_dataplane_up -eq 1
tg_check "ping client -> $B0 after the dataplane start" tg_cx ping -n -c 3 -i 0.2 -W 2 "$B0"

# Test that stopping the dataplane under a running control plane drops up to 0, and a
# restart brings it back.
"$TB" stop dataplane
tg_check "dataplane stopped: tunnelgate_dataplane_up = 0" tg_wait_metric 10 tunnelgate_dataplane_up -eq 0
"$TB" start dataplane
tg_load_env "$TG_STATE_DIR/testbed.env"
tg_check "dataplane restarted: tunnelgate_dataplane_up = 1" tg_wait_metric 10 tunnelgate_dataplane_up -eq 1

# Test that traffic keeps flowing while the control plane crashes (SIGKILL) and restarts,
# and that the dataplane's counters survive it (they live in the dataplane's segment).
f0=$(tg_metric_sum "$(tg_metrics)" tunnelgate_ipv4_forwarded_total)
log=$TG_STATE_DIR/restart-ping.log
tg_cx ping -n -c 40 -i 0.2 -W 2 "$B0" > "$log" 2>&1 &
ping_pid=$!
sleep 1.5
cp_pid=$TG_CONTROLPLANE_PID
kill -KILL "$cp_pid"
for _ in $(seq 50); do kill -0 "$cp_pid" 2>/dev/null || break; sleep 0.1; done
if tg_gx curl -fsS --max-time 2 -o /dev/null "$TG_METRICS_URL" 2>/dev/null; then tg_fail "controlplane (pid $cp_pid) is gone after SIGKILL"
else tg_pass "controlplane (pid $cp_pid) is gone after SIGKILL"; fi
sleep 1
"$TB" start controlplane
tg_load_env "$TG_STATE_DIR/testbed.env"
rc=0; wait "$ping_pid" || rc=$?
tail -3 "$log" | sed 's/^/    | /'
received=$(awk '/packets transmitted/ {print $4}' "$log")
if [ "${received:-0}" -ge 36 ]; then tg_pass "ping during the controlplane crash/restart: ${received}/40 replies (>= 36)"
else tg_fail "ping during the controlplane crash/restart: ${received:-0}/40 replies (wanted >= 36, ping exit $rc)"; fi
tg_check "restarted controlplane (pid $TG_CONTROLPLANE_PID): tunnelgate_dataplane_up = 1" tg_wait_metric 10 tunnelgate_dataplane_up -eq 1
f1=$(tg_metric_sum "$(tg_metrics)" tunnelgate_ipv4_forwarded_total)
if [ "$f1" -ge $((f0 + 36)) ]; then tg_pass "forwarded counter continued across the restart ($f0 -> $f1)"
else tg_fail "forwarded counter continued across the restart ($f0 -> $f1)"; fi
tg_summary
