#!/bin/bash
# tests/netns/forwarding_off.sh -- with lab_forwarding = false (the production setting) the
# dataplane routes no plain packet between its ports, but still answers for itself.
#
#  client ns                 gateway ns                                    backend ns
#  c0 192.0.2.2/24 ──── gw-out [dataplane port "outside" 192.0.2.1/24]
#                       gw-in  [dataplane port "inside"  198.18.0.1/24] ──── b0 198.18.0.2/24
#                            (lab_forwarding = false: no plain routing)       198.18.1.10/24
#                                                                             198.18.2.10/24
#  (tools/testbed with TG_LAB_FORWARDING=0; docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"

tg_test_init tgfo
export TG_LAB_FORWARDING=0
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR), lab_forwarding = false"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
B0=${BACKENDS[0]}

# Test that the gateway still answers ping on its own addresses.
tg_check "ping $TG_GW_ADDR from the client" tg_cx ping -n -c 3 -i 0.2 -W 2 "$TG_GW_ADDR"
tg_check "ping $TG_GW_INSIDE_ADDR from the backend" tg_bx ping -n -c 3 -i 0.2 -W 2 "$TG_GW_INSIDE_ADDR"

# Test that plain packets are not routed in either direction, nor TCP.
if tg_cx ping -n -c 3 -i 0.2 -W 1 "$B0" > /dev/null 2>&1; then tg_fail "ping client -> $B0 is not routed"
else tg_pass "ping client -> $B0 is not routed"; fi
if tg_bx ping -n -c 2 -i 0.2 -W 1 -I "$B0" "$TG_CLIENT_ADDR" > /dev/null 2>&1; then tg_fail "ping backend -> $TG_CLIENT_ADDR is not routed"
else tg_pass "ping backend -> $TG_CLIENT_ADDR is not routed"; fi
if tg_cx curl -fsS --max-time 3 -o /dev/null "http://$B0:$TG_HTTP_PORT/" 2>/dev/null; then tg_fail "curl http://$B0:$TG_HTTP_PORT/ is not routed"
else tg_pass "curl http://$B0:$TG_HTTP_PORT/ is not routed"; fi

# Test that those packets are counted as forwarding_disabled drops, and none as forwarded.
M=$(tg_metrics)
d=$(tg_metric_sum "$M" tunnelgate_dataplane_drops_total reason=forwarding_disabled)
f=$(tg_metric_sum "$M" tunnelgate_ipv4_forwarded_total)
if [ "$d" -ge 5 ]; then tg_pass "drops{reason=\"forwarding_disabled\"} = $d (>= 5)"
else tg_fail "drops{reason=\"forwarding_disabled\"} = $d (wanted >= 5)"; fi
if [ "$f" -eq 0 ]; then tg_pass "tunnelgate_ipv4_forwarded_total = 0"
else tg_fail "tunnelgate_ipv4_forwarded_total = $f (wanted 0)"; fi
tg_summary
