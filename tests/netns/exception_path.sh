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
# Test that the tun port's receive signal (a real-time signal the PMD sends per packet the
# kernel queues, dataplane/exception_path.h) is taken by the poll lcore, which naps on this
# bed (idle_sleep_us) and must read the packet, and blocked in every other thread: it used
# to wake the sleeping main thread once per packet.
tap_signal_routing() {
  local pid=$TG_DATAPLANE_PID caught sig="" n bit t name blk takers="" bad=""
  caught=$((16#$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status")))
  for n in $(seq 35 64); do  # SIGRTMIN+1 .. SIGRTMAX: where the PMD looks for a free one
    if (( (caught >> (n - 1)) & 1 )); then sig=$n; break; fi
  done
  [ -n "$sig" ] || { echo "no real-time signal handler in the dataplane" >&2; return 1; }
  bit=$((1 << (sig - 1)))
  for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm")
    blk=$((16#$(awk '/^SigBlk:/ {print $2}' "$t/status")))
    if (( blk & bit )); then
      [[ $name == rte-worker-* ]] && bad+=" $name"
    else
      takers+=" $name"
      [[ $name == rte-worker-* ]] || bad+=" $name"
    fi
  done
  echo "signal $sig taken by:${takers:- none}; wrong:${bad:- none}"
  [ -n "$takers" ] && [ -z "$bad" ]
}
tg_check "the tun port's signal goes to the napping poll lcore only" tap_signal_routing

tg_summary
