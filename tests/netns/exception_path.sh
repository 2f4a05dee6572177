#!/bin/bash
# tests/netns/exception_path.sh -- the exception path: TCP to the TLS port of the outside
# address reaches the kernel of the gateway namespace through the dataplane's net_tun
# port, and the kernel's replies go back out of the outside port. Nothing else does.
#
#  client ns                 gateway ns
#  c0 192.0.2.2/24 ──── gw-out [dataplane port "outside" 192.0.2.1/24] ─┐
#                                                                       │ TCP :443 only
#                       tg-exc (net_tun, kernel side 192.0.2.1/24) ◄────┘
#                         └─ a TCP server on 192.0.2.1:443 (the TLS workers' place)
#
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"

tg_test_init tgex
export TG_LAB_FORWARDING=0   # the production setting: the exception path needs no forwarding
export TG_TLS=0             # no TLS workers: a plain TCP server stands where they listen
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"

# A plain TCP server where the TLS workers will listen. Its command line names the state
# dir, so tools/testbed down stops it with the rest.
srv_dir=$TG_STATE_DIR/exception-www
mkdir -p "$srv_dir"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$srv_dir/blob.bin"
want=$(sha256sum < "$srv_dir/blob.bin" | cut -d' ' -f1)
tg_gx python3 -m http.server "$TG_TLS_PORT" --bind "$TG_GW_ADDR" --directory "$srv_dir" \
  > "$TG_STATE_DIR/exception-www.log" 2>&1 &
for _ in $(seq 50); do
  tg_gx bash -c "exec 3<>/dev/tcp/$TG_GW_ADDR/$TG_TLS_PORT" 2>/dev/null && break
  sleep 0.1
done

# Test that the kernel side of the exception port carries the outside address.
tg_check "tg-exc holds $TG_GW_ADDR in the gateway namespace" \
  bash -c "ip -n '$TG_NS_GW' -4 addr show | grep -q 'inet $TG_GW_ADDR/'"

# Test that a TCP transfer to the TLS port through the exception path arrives intact.
got=$(tg_cx curl -fsS --max-time 30 "http://$TG_GW_ADDR:$TG_TLS_PORT/blob.bin" | sha256sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then tg_pass "8 MiB over TCP :$TG_TLS_PORT through the kernel arrived intact"
else tg_fail "8 MiB over TCP :$TG_TLS_PORT: checksum $got, wanted $want"; fi

# Test that both directions were counted.
tg_check "exception_to_kernel packets counted" tg_wait_metric 5 tunnelgate_exception_to_kernel_packets_total -gt 100
tg_check "exception_from_kernel packets counted" tg_wait_metric 5 tunnelgate_exception_from_kernel_packets_total -gt 100

# Test that no other port of the kernel is reachable: TCP to port 22 is dropped by the
# dataplane (local_unhandled), not answered with a reset by the kernel.
before=$(tg_metric_sum "$(tg_metrics)" tunnelgate_dataplane_drops_total reason=local_unhandled)
if tg_cx curl -sS --max-time 2 "http://$TG_GW_ADDR:22/" > /dev/null 2>&1; then tg_fail "TCP :22 on the gateway is not reachable"
else tg_pass "TCP :22 on the gateway is not reachable"; fi
tg_check "TCP :22 counted as local_unhandled" \
  tg_wait_metric 5 tunnelgate_dataplane_drops_total reason=local_unhandled -gt "$before"

# Test that the kernel never spoke from a foreign address.
tg_check "no exception_bad_source drops" \
  tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=exception_bad_source -eq 0
tg_summary
