#!/bin/bash
# tests/netns/routing.sh -- the dataplane as a plain IPv4 router (lab_forwarding = true):
# ARP, ICMP echo to its own addresses, TTL, ICMP errors, routed TCP, drop counters, /metrics.
#
#  client ns                 gateway ns                                    backend ns
#  c0 192.0.2.2/24 ──── gw-out [dataplane port "outside" 192.0.2.1/24]
#                       gw-in  [dataplane port "inside"  198.18.0.1/24] ──── b0 198.18.0.2/24
#                                                                             198.18.1.10/24
#                                                                             198.18.2.10/24
#  (tools/testbed; docs/testbed.md). Needs root; exits 77 (skipped) otherwise.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"

tg_test_init tgrt
export TG_LAB_FORWARDING=1
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
read -r -a URLS <<< "$TG_BACKEND_URLS"
B0=${BACKENDS[0]}

M0=$(tg_metrics)

# Test that the first packet towards a next hop the dataplane has not resolved yet is held
# while ARP resolves and then delivered: no loss, no ICMP host unreachable. (After `up` the
# dataplane knows no neighbour: its echo replies to the readiness pings are not routed.)
out=$(tg_cx ping -n -c 1 -W 3 "$B0" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/    | /'
if [ "$rc" -eq 0 ]; then tg_pass "first packet to $B0 (next hop $TG_BACKEND_LINK_ADDR unresolved) is delivered"
else tg_fail "first packet to $B0 (next hop $TG_BACKEND_LINK_ADDR unresolved) is delivered"; fi

# Test that the client reaches both backend subnets through the gateway, and that the
# gateway decrements the TTL exactly once (the backend's reply arrives with ttl=63).
for a in "${BACKENDS[@]}"; do
    out=$(tg_cx ping -n -c 3 -i 0.2 -W 2 "$a" 2>&1) && rc=0 || rc=$?
    printf '%s\n' "$out" | sed 's/^/    | /'
    if [ "$rc" -eq 0 ]; then tg_pass "ping client -> $a through the gateway"; else tg_fail "ping client -> $a through the gateway"; fi
    if printf '%s\n' "$out" | grep -q "from $a: .*ttl=63 "; then tg_pass "reply from $a crossed one hop (ttl=63)"
    else tg_fail "reply from $a crossed one hop (ttl=63)"; fi
done

# Test that the dataplane answers ICMP echo to its own addresses on both ports.
tg_check "ping $TG_GW_ADDR (outside port) from the client" tg_cx ping -n -c 3 -i 0.2 -W 2 "$TG_GW_ADDR"
tg_check "ping $TG_GW_INSIDE_ADDR (inside port) from the backend" tg_bx ping -n -c 3 -i 0.2 -W 2 "$TG_GW_INSIDE_ADDR"
M1=$(tg_metrics)
e0=$(tg_metric_sum "$M0" tunnelgate_icmp_echo_replies_total)
e1=$(tg_metric_sum "$M1" tunnelgate_icmp_echo_replies_total)
if [ "$e1" -ge $((e0 + 6)) ]; then tg_pass "tunnelgate_icmp_echo_replies_total grew by >= 6 ($e0 -> $e1)"
else tg_fail "tunnelgate_icmp_echo_replies_total grew by >= 6 ($e0 -> $e1)"; fi

# Test that ARP is answered with the dataplane port's MAC on both sides: the kernel
# neighbour entries of the client (192.0.2.1) and the backend (198.18.0.1) carry the MAC
# the gateway reports in tunnelgate_port_info, which is the MAC of its veth end.
check_arp() {  # NS-RUNNER NEIGH-ADDR NEIGH-DEV PORT GW-IF
    local runner=$1 addr=$2 dev=$3 port=$4 gwif=$5 seen metric link
    seen=$($runner ip neigh show "$addr" dev "$dev" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print tolower($(i + 1))}')
    metric=$(tg_metric_label "$M1" tunnelgate_port_info mac "port=$port" | tr 'A-F' 'a-f')
    link=$(tg_gx cat "/sys/class/net/$gwif/address")
    echo "    | neighbour $addr: ${seen:-none}; port_info{port=\"$port\"} mac: ${metric:-none}; $gwif: $link"
    if [ -n "$seen" ] && [ "$seen" = "$metric" ] && [ "$seen" = "$link" ]; then
        tg_pass "ARP: $addr resolves to the $port port's MAC ($seen)"
    else
        tg_fail "ARP: $addr resolves to the $port port's MAC (neighbour ${seen:-none}, metric ${metric:-none}, link $link)"
    fi
}
check_arp tg_cx "$TG_GW_ADDR" "$TG_IF_CLIENT" outside "$TG_IF_GW_OUTSIDE"
check_arp tg_bx "$TG_GW_INSIDE_ADDR" "$TG_IF_BACKEND" inside "$TG_IF_GW_INSIDE"
a1=$(tg_metric_sum "$M1" tunnelgate_arp_requests_answered_total)
if [ "$a1" -gt 0 ]; then tg_pass "tunnelgate_arp_requests_answered_total > 0 ($a1)"
else tg_fail "tunnelgate_arp_requests_answered_total > 0 ($a1)"; fi

# Test that a packet whose TTL expires at the gateway is dropped with an ICMP time
# exceeded from 192.0.2.1, and that TTL 2 is just enough to reach a backend.
out=$(tg_cx ping -n -c 1 -W 2 -t 1 "$B0" 2>&1 || true)
printf '%s\n' "$out" | sed 's/^/    | /'
if printf '%s\n' "$out" | grep -q "^From $TG_GW_ADDR .*Time to live exceeded"; then
    tg_pass "ping -t 1 $B0: Time to live exceeded from $TG_GW_ADDR"
else
    tg_fail "ping -t 1 $B0: Time to live exceeded from $TG_GW_ADDR"
fi
tg_check "ping -t 2 $B0 reaches the backend" tg_cx ping -n -c 1 -W 2 -t 2 "$B0"

# Test that a destination without a route gets an ICMP net unreachable from 192.0.2.1.
out=$(tg_cx ping -n -c 1 -W 2 198.18.99.1 2>&1 || true)
printf '%s\n' "$out" | sed 's/^/    | /'
if printf '%s\n' "$out" | grep -q "^From $TG_GW_ADDR .*Destination Net Unreachable"; then
    tg_pass "ping 198.18.99.1 (no route): Destination Net Unreachable from $TG_GW_ADDR"
else
    tg_fail "ping 198.18.99.1 (no route): Destination Net Unreachable from $TG_GW_ADDR"
fi

# Test that TCP is routed both ways: each backend's index comes back byte for byte.
for i in "${!URLS[@]}"; do
    want=$(cat "$TG_STATE_DIR/www/${BACKENDS[$i]}/index.html")
    got=$(tg_cx curl -fsS --max-time 10 "${URLS[$i]}" 2>&1 || true)
    echo "    | ${URLS[$i]} -> $got"
    if [ "$got" = "$want" ]; then tg_pass "curl ${URLS[$i]} returns the backend's page"
    else tg_fail "curl ${URLS[$i]} returns the backend's page"; fi
done

# Test that a bulk TCP transfer completes through the gateway (the rate is reported,
# never asserted: it depends on the machine).
if json=$(tg_cx iperf3 -c "$B0" -p "$TG_IPERF_PORT" -t 2 -J 2>&1); then
    rate=$(printf '%s' "$json" | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; print("%.1f Mbit/s received, %s retransmits" % (e["sum_received"]["bits_per_second"]/1e6, e["sum_sent"].get("retransmits")))' 2>/dev/null || echo "?")
    tg_pass "iperf3 -c $B0 -t 2 through the gateway: $rate"
else
    printf '%s\n' "$json" | tail -5 | sed 's/^/    | /'
    tg_fail "iperf3 -c $B0 -t 2 through the gateway"
fi

# Test that the drops and ICMP errors above are counted by reason, and forwarding by lcore.
M2=$(tg_metrics)
expect_gt() {  # DESC VALUE MIN
    if [ "$2" -gt "$3" ]; then tg_pass "$1 = $2 (> $3)"; else tg_fail "$1 = $2 (wanted > $3)"; fi
}
expect_gt 'drops{reason="ttl_exceeded"}' "$(tg_metric_sum "$M2" tunnelgate_dataplane_drops_total reason=ttl_exceeded)" 0
expect_gt 'drops{reason="no_route"}' "$(tg_metric_sum "$M2" tunnelgate_dataplane_drops_total reason=no_route)" 0
unres=$(tg_metric_sum "$M2" tunnelgate_dataplane_drops_total reason=neigh_unresolved)
if [ "$unres" -eq 0 ]; then tg_pass 'drops{reason="neigh_unresolved"} = 0 (every next hop answers ARP)'
else tg_fail "drops{reason=\"neigh_unresolved\"} = $unres (wanted 0: every next hop answers ARP)"; fi
expect_gt tunnelgate_icmp_errors_sent_total "$(tg_metric_sum "$M2" tunnelgate_icmp_errors_sent_total)" 1
expect_gt tunnelgate_ipv4_forwarded_total "$(tg_metric_sum "$M2" tunnelgate_ipv4_forwarded_total)" 100
for p in outside inside; do
    expect_gt "receive_packets{port=\"$p\"}" "$(tg_metric_sum "$M2" tunnelgate_port_receive_packets_total "port=$p")" 0
    expect_gt "transmit_packets{port=\"$p\"}" "$(tg_metric_sum "$M2" tunnelgate_port_transmit_packets_total "port=$p")" 0
done
up=$(tg_metric_sum "$M2" tunnelgate_dataplane_up)
if [ "$up" = 1 ]; then tg_pass "tunnelgate_dataplane_up = 1"; else tg_fail "tunnelgate_dataplane_up = $up"; fi

# Test that the scrape is valid Prometheus text exposition (promtool's parser and linter).
if command -v promtool > /dev/null; then
    # shellcheck disable=SC2016  # $1 expands in the inner bash
    tg_check "promtool check metrics" bash -c 'printf "%s\n" "$1" | promtool check metrics' _ "$M2"
else
    echo "note: promtool not installed (tools/install-deps): exposition not linted"
fi

echo "--- non-zero tunnelgate_ samples ---"
printf '%s\n' "$M2" | awk '/^tunnelgate_/ && $NF != 0' | sed 's/^/    /'
# Test that the dataplane's counters are also in DPDK telemetry (dpdk-telemetry.py).
tel=$(echo "/tunnelgate/events" | tg_gx timeout 10 dpdk-telemetry.py -f "$TG_RUN_ID" 2>/dev/null | tail -n 1 || true)
if printf '%s' "$tel" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read())["/tunnelgate/events"]; sys.exit(0 if d["icmp_echo_replies"] > 0 else 1)' 2>/dev/null
then tg_pass "DPDK telemetry /tunnelgate/events reports the echo replies"
else tg_fail "DPDK telemetry /tunnelgate/events reports the echo replies (got: ${tel:0:200})"; fi
# Test that the poll lcore's busy time is exported: in seconds for rate() (what a poll-mode
# core's work costs; its OS CPU time is 100 % by design), and as cycles in telemetry.
busy=$(printf '%s\n' "$M2" | awk '$1 ~ /^tunnelgate_lcore_busy_seconds_total[{]/ {s += $NF} END {printf "%.9f", s + 0}')
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$busy"
then tg_pass "tunnelgate_lcore_busy_seconds_total = $busy (> 0 after the traffic)"
else tg_fail "tunnelgate_lcore_busy_seconds_total = $busy (wanted > 0 after the traffic)"; fi
tel=$(echo "/tunnelgate/lcores" | tg_gx timeout 10 dpdk-telemetry.py -f "$TG_RUN_ID" 2>/dev/null | tail -n 1 || true)
if printf '%s' "$tel" | python3 -c 'import json,sys
d = json.loads(sys.stdin.read())["/tunnelgate/lcores"]
hz = d.pop("tsc_hz")
ok = hz > 0 and len(d) == 1 and all(0 < v["busy_cycles"] <= v["total_cycles"] and 0 < v["busy_loops"] <= v["loops"] for v in d.values())
sys.exit(0 if ok else 1)' 2>/dev/null
then tg_pass "DPDK telemetry /tunnelgate/lcores: tsc_hz, and the lcore's busy cycles within its total"
else tg_fail "DPDK telemetry /tunnelgate/lcores (got: ${tel:0:200})"; fi
tg_summary
