#!/bin/bash
# tests/netns/memif_ports.sh -- the dataplane on net_memif ports (tools/testbed TG_PORTS=memif):
# tunnelgate-wire (bench/wire) joins each memif to its veth with net_af_packet, on CPU 0, as
# a NIC would. The real openconnect client logs in (TCP through the wire and the exception
# path), gets DTLS, and reaches both backends; the wire counts the frames both ways and
# drops none; a restarted dataplane's memif ports connect to the wire again; `down` stops
# the wire and leaves none of its files.
#
#  client ns                gateway ns                                            backend ns
#  openconnect, c0 ──── gw-out ═ tunnelgate-wire ═ memif "outside" ┐ dataplane
#                       gw-in  ═ tunnelgate-wire ═ memif "inside"  ┘ (poll lcore)  ──── b0
# Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgmemif
export TG_LAB_FORWARDING=0
export TG_PORTS=memif
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR), wire pid $TG_WIRE_PID"

tg_check "the dataplane's ports are memif" grep -q 'net_memif0,role=client' "$TG_CONFIG"
tg_check "tunnelgate-wire runs" kill -0 "$TG_WIRE_PID"
tg_check "the wire is pinned to CPU 0" bash -c "taskset -p $TG_WIRE_PID | grep -q ': 1$'"

# wire_stat DIRECTION FIELD: a counter from the wire's stats file (written on SIGUSR1).
wire_stat() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["directions"][sys.argv[2]][sys.argv[3]])' \
    "$TG_STATE_DIR/wire-stats.json" "$1" "$2"
}
wire_dump() {
  rm -f "$TG_STATE_DIR/wire-stats.json"
  kill -USR1 "$TG_WIRE_PID"
  for _ in $(seq 50); do [ -s "$TG_STATE_DIR/wire-stats.json" ] && return 0; sleep 0.1; done
  return 1
}

# Frames the wire got before the dataplane's memif ports connected (the bed's first pings)
# had nowhere to go: the checks below count from here.
wire_dump || true
declare -A BEFORE_PKTS BEFORE_DROPS
DIRS=("net_af_packet0 -> net_memif0" "net_memif0 -> net_af_packet0"
      "net_af_packet1 -> net_memif1" "net_memif1 -> net_af_packet1")
for d in "${DIRS[@]}"; do
  BEFORE_PKTS[$d]=$(wire_stat "$d" packets 2> /dev/null || echo 0)
  BEFORE_DROPS[$d]=$(wire_stat "$d" dropped 2> /dev/null || echo 0)
done

# Test a real client's login (TLS through the wire to the exception path), DTLS on the
# poll lcore, and both backends reached.
if tg_oc_connect memif -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect connected through memif ports"
else
  tg_fail "openconnect connected through memif ports"; sed 's/^/    | /' "$OC_LOG"; tg_summary
fi
tg_check "the client reports DTLS established" grep -q "Established DTLS connection" "$OC_LOG"
tg_fetch_checks "over memif ports"
tg_check "records decrypted on the lcore" tg_wait_metric 5 tunnelgate_dtls_records_decrypted_total -gt 1000
tg_check "records encrypted on the lcore" tg_wait_metric 5 tunnelgate_dtls_records_encrypted_total -gt 10000

# Test that the frames went through the wire, both ways on both sides, none dropped.
if wire_dump; then
  tg_pass "the wire wrote its counters"
  for d in "${DIRS[@]}"; do
    n=$(( $(wire_stat "$d" packets) - BEFORE_PKTS[$d] ))
    if [ "$n" -gt 1000 ]; then tg_pass "wire $d: $n frames"; else tg_fail "wire $d: $n frames, wanted > 1000"; fi
    n=$(( $(wire_stat "$d" dropped) - BEFORE_DROPS[$d] ))
    if [ "$n" -eq 0 ]; then tg_pass "wire $d: none dropped"; else tg_fail "wire $d: $n dropped"; fi
  done
else
  tg_fail "the wire wrote its counters"
fi
tg_oc_stop INT

# Test that a restarted dataplane connects its memif ports to the wire that kept running,
# and that a client gets through again.
wire_pid=$TG_WIRE_PID
if "$REPO/tools/testbed" restart dataplane > "$TG_STATE_DIR/restart.log" 2>&1; then
  tg_pass "dataplane restarted (its memif ports answer ping through the wire)"
else
  tg_fail "dataplane restarted"; tail -n 5 "$TG_STATE_DIR/restart.log" | sed 's/^/    | /'
fi
tg_load_env "$TG_STATE_DIR/testbed.env"
tg_check "the same wire process" test "$TG_WIRE_PID" = "$wire_pid"
if tg_oc_connect again -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "openconnect connected after the restart"
  body=$(tg_cx curl -fsS --max-time 10 "${TG_BACKEND_URLS%% *}" || true)
  tg_check "backend reached after the restart" test "$body" = "tunnelgate testbed backend ${TG_BACKEND_ADDRS%% *}"
else
  tg_fail "openconnect connected after the restart"; tail -n 5 "$OC_LOG" | sed 's/^/    | /'
fi
tg_oc_stop INT

# Test that `down` stops the wire and removes its EAL runtime directory.
TG_STATE_DIR=$TG_STATE_DIR "$REPO/tools/testbed" down > /dev/null 2>&1 || true
tg_check "the wire stopped" bash -c "! kill -0 $wire_pid 2> /dev/null"
tg_check "no EAL runtime dir of the wire left" test ! -e "/var/run/dpdk/$TG_RUN_ID-wire"
tg_summary
