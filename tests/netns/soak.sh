#!/bin/bash
# tests/netns/soak.sh -- load and soak, bounded in time (issue 9, docs/security.md): several
# real openconnect clients connect, send traffic and disconnect in a loop (DTLS and CSTP-only,
# logout and kill -9) for TG_SOAK_S seconds (default 90; a longer run is one variable away:
# TG_SOAK_S=3600), after TG_SOAK_WARM_S (20) of the same as a warm-up. Afterwards sessions,
# pool addresses, tunnels, packet buffers and both processes' memory must be back where they
# were after the warm-up: nothing leaks, nothing is lost.
# (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

SOAK_S=${TG_SOAK_S:-90}
CLIENTS=${TG_SOAK_CLIENTS:-4}
tg_test_init tgsoak
export TG_LAB_FORWARDING=0
export TG_RECONNECT_S=2   # a killed client's session and address come back after 2 s
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR); $CLIENTS clients for $SOAK_S s"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
read -r -a URLS <<< "$TG_BACKEND_URLS"
metric() { tg_metric_sum "$(tg_metrics)" "$@"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# One client's life, over and over: connect (odd clients CSTP only), 20 pings and a page
# through the tunnel, then a logout (even rounds) or kill -9 (odd rounds).
client_loop() {
  local w=$1 until=$2 round=0 ok=0 bad=0 dtls=()
  [ $((w % 2)) = 1 ] && dtls=(--no-dtls)
  while [ "$SECONDS" -lt "$until" ]; do
    round=$((round + 1))
    if tg_oc_connect "s$w" "${dtls[@]}" -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" &&
       tg_cx ping -n -q -c 20 -i 0.05 -W 2 -I "$OC_IF" "${BACKENDS[0]}" > /dev/null &&
       tg_cx curl -fsS --max-time 5 --interface "$OC_IF" -o /dev/null "${URLS[0]}"; then
      ok=$((ok + 1))
    else
      bad=$((bad + 1))
      { echo "client $w round $round failed:"; tail -n 5 "$OC_LOG"; } >> "$TG_STATE_DIR/soak-failures.log"
    fi
    if [ $((round % 2)) = 0 ]; then tg_oc_stop INT; else tg_oc_stop KILL; fi
  done
  echo "$ok $bad" > "$TG_STATE_DIR/soak-$w.result"
}

# run_clients SECONDS: every client's loop in parallel for SECONDS; sets ok, bad, alive.
run_clients() {
  local until=$((SECONDS + $1)) w p o b pids=()
  for ((w = 0; w < CLIENTS; w++)); do client_loop "$w" "$until" & pids+=($!); done
  # Meanwhile the gateway is watched: both processes stay up.
  alive=1
  while [ "$SECONDS" -lt "$until" ]; do
    kill -0 "$TG_DATAPLANE_PID" 2>/dev/null && kill -0 "$TG_CONTROLPLANE_PID" 2>/dev/null || alive=0
    sleep 2
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  ok=0 bad=0
  for ((w = 0; w < CLIENTS; w++)); do read -r o b < "$TG_STATE_DIR/soak-$w.result"; ok=$((ok + o)) bad=$((bad + b)); done
}

# Warm-up under the same load (allocator arenas, thread stacks, caches settle), then the
# baseline once everything is released.
run_clients "${TG_SOAK_WARM_S:-20}"
echo "    | warm-up: $ok rounds, $bad failed"
tg_wait_metric 15 tunnelgate_sessions_active -eq 0 > /dev/null || true
sleep 1
mbufs0=$(metric tunnelgate_mempool_mbufs_in_use)
dp_rss0=$(rss_kb "$TG_DATAPLANE_PID"); cp_rss0=$(rss_kb "$TG_CONTROLPLANE_PID")
echo "    | baseline: mbufs $mbufs0, dataplane RSS ${dp_rss0} kB, controlplane RSS ${cp_rss0} kB"

rm -f "$TG_STATE_DIR/soak-failures.log"
run_clients "$SOAK_S"
echo "    | $ok client rounds with traffic, $bad failed (connect, 20 pings and a page each)"
[ -s "$TG_STATE_DIR/soak-failures.log" ] && sed 's/^/    | /' "$TG_STATE_DIR/soak-failures.log" | head -n 20
if [ "$alive" = 1 ]; then tg_pass "both processes stayed up"; else tg_fail "both processes stayed up"; fi
if [ "$ok" -ge $((CLIENTS * 3)) ]; then tg_pass "$ok rounds completed (>= $((CLIENTS * 3)))"; else tg_fail "$ok rounds completed (< $((CLIENTS * 3)))"; fi
# A round may fail on the client side (its own timeouts under load); the gateway must not
# lose more than a few of them.
if [ "$bad" -le $((ok / 20 + 1)) ]; then tg_pass "$bad of $((ok + bad)) rounds failed (<= 5% + 1)"
else tg_fail "$bad of $((ok + bad)) rounds failed (> 5% + 1)"; fi

# Afterwards: everything is back.
tg_check "no tunnel left" tg_wait_metric 15 tunnelgate_tunnels_active -eq 0
tg_check "no session left (killed ones expire after reconnect_s)" tg_wait_metric 15 tunnelgate_sessions_active -eq 0
tg_check "every pool address back" tg_wait_metric 15 tunnelgate_pool_addresses_in_use -eq 0
tg_check "no DTLS state left on the lcores" tg_wait_metric 15 tunnelgate_dtls_sessions -eq 0
tg_check "mbufs in use back to the baseline ($mbufs0 + 64 at most)" \
  tg_wait_metric 10 tunnelgate_mempool_mbufs_in_use -le $((mbufs0 + 64))
dp_rss1=$(rss_kb "$TG_DATAPLANE_PID"); cp_rss1=$(rss_kb "$TG_CONTROLPLANE_PID")
echo "    | after: dataplane RSS ${dp_rss1} kB (was ${dp_rss0}), controlplane RSS ${cp_rss1} kB (was ${cp_rss0})"
# Memory: after the warm-up, a leak per session would grow with the rounds (100+ of them).
if [ "$dp_rss1" -le $((dp_rss0 + 2048)) ]; then tg_pass "dataplane RSS within 2 MB of the baseline"
else tg_fail "dataplane RSS grew by $(((dp_rss1 - dp_rss0) / 1024)) MB"; fi
if [ "$cp_rss1" -le $((cp_rss0 + 2048)) ]; then tg_pass "controlplane RSS within 2 MB of the baseline"
else tg_fail "controlplane RSS grew by $(((cp_rss1 - cp_rss0) / 1024)) MB"; fi
tg_summary
