#!/bin/bash
# tests/netns/loadgen.sh -- tunnelgate-loadgen (bench/loadgen) against the gateway in the test
# bed: it logs in 20 password sessions, all get DTLS, pushes probe traffic through them to
# tunnelgate-loadgen-echo on a backend, which returns it; the gateway shows the sessions
# while they are held, the traffic arrived both ways, and the logout (BYE 0xb0) frees them.
# Then the same over CSTP only (--no-dtls), with bearer-token and certificate logins, and
# logins against a second bed with an RSA-2048 server certificate, and a generator bound to a
# second client address (--source, TG_CLIENT_EXTRA_ADDRS). Behaviour only: the
# figures are printed, never compared with a speed.
#
#  client ns                     gateway ns                      backend ns
#  tunnelgate-loadgen ── TLS/DTLS ── tunnelgate ── inner UDP ── tunnelgate-loadgen-echo
# Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"

tg_test_init tglg
LOADGEN=$TG_BUILD_DIR/bench/loadgen/tunnelgate-loadgen
ECHO=$TG_BUILD_DIR/bench/loadgen/tunnelgate-loadgen-echo
for b in "$LOADGEN" "$ECHO"; do [ -x "$b" ] || { echo "SKIP: $b not built (benchmarks disabled?)"; exit 77; }; done
export TG_LAB_FORWARDING=0
export TG_CLIENT_EXTRA_ADDRS=1  # 192.0.2.10 besides 192.0.2.2, for --source
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a BACKENDS <<< "$TG_BACKEND_ADDRS"
ECHO_PORT=9000
SESSIONS=20

# The processes this test starts are stopped by PID before the bed goes away (started with
# `ip netns exec`, which execs: $! is the program itself, not a subshell).
ECHO_PID='' LG_PID=''
lg_cleanup() {
  local p
  for p in $LG_PID $ECHO_PID; do kill -TERM "$p" 2> /dev/null || true; done
  for p in $LG_PID $ECHO_PID; do
    for _ in $(seq 30); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2> /dev/null || true
  done
}
trap 'rc=$?; lg_cleanup; (exit $rc); tg__on_exit' EXIT

# An echo on each backend address (app 1 reaches the first subnet with TCP/ICMP only; the
# default app used for password logins reaches both, app 2 the second with any protocol).
ECHO_STATS=$TG_STATE_DIR/echo-stats.json
ip netns exec "$TG_NS_BACKEND" "$ECHO" --listen "${BACKENDS[1]}:$ECHO_PORT" --stats-file "$ECHO_STATS" > "$TG_STATE_DIR/echo.log" 2>&1 &
ECHO_PID=$!

json_get() {  # json_get FILE PYTHON-EXPRESSION-ON-r
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# run_loadgen NAME ARGS...: start the generator in the client namespace, held after its
# traffic until SIGUSR1 (--hold), its report in $TG_STATE_DIR/NAME.json; waits until ready.
run_loadgen() {
  local name=$1; shift
  LG_JSON=$TG_STATE_DIR/$name.json
  LG_READY=$TG_STATE_DIR/$name.ready
  rm -f "$LG_READY"
  ip netns exec "$TG_NS_CLIENT" "$LOADGEN" --server "$TG_GW_ADDR" --port "$TG_TLS_PORT" --target "${BACKENDS[1]}:$ECHO_PORT" \
    --hold 120 --ready-file "$LG_READY" --json "$@" > "$LG_JSON" 2> "$TG_STATE_DIR/$name.log" &
  LG_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do
    [ -e "$LG_READY" ] && return 0
    kill -0 "$LG_PID" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}

# stop_loadgen: SIGUSR1 ends the hold; the generator logs out and prints its report.
stop_loadgen() {
  kill -USR1 "$LG_PID"
  local rc=0
  wait "$LG_PID" || rc=$?
  LG_PID=''
  return $rc
}

# Test that 20 password sessions log in and all get DTLS, with traffic through them.
if run_loadgen dtls --sessions "$SESSIONS" --concurrency 8 --retries 20 --user "$TG_USER" \
     --password "$TG_PASSWORD" --authgroup "$TG_DEFAULT_GROUP" --pps 4000 --duration 3 --size 400; then
  tg_pass "loadgen logged in $SESSIONS sessions and ran its traffic"
else
  tg_fail "loadgen logged in $SESSIONS sessions and ran its traffic"; sed 's/^/    | /' "$TG_STATE_DIR/dtls.log"
fi
tg_check "the gateway has $SESSIONS tunnels" tg_wait_metric 5 tunnelgate_tunnels_active -eq "$SESSIONS"
tg_check "the gateway counts $SESSIONS connected sessions" tg_wait_metric 5 tunnelgate_sessions_connected -eq "$SESSIONS"
tg_check "$SESSIONS DTLS sessions on the poll lcore" tg_wait_metric 5 tunnelgate_dtls_sessions -eq "$SESSIONS"
tg_check "$SESSIONS pool addresses in use" tg_wait_metric 5 tunnelgate_pool_addresses_in_use -eq "$SESSIONS"
if stop_loadgen; then tg_pass "the loadgen ends and reports"; else tg_fail "the loadgen ends and reports"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "all $SESSIONS sessions established" test "$(json_get "$LG_JSON" 'r["sessions"]["established"]')" -eq "$SESSIONS"
tg_check "all of them on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq "$SESSIONS"
tg_check "all of them logged out" test "$(json_get "$LG_JSON" 'r["sessions"]["logged_out"]')" -eq "$SESSIONS"
tg_check "packets reached the backend" test "$(json_get "$LG_JSON" 'r["traffic"]["up_delivered_packets"]')" -gt 0
tg_check "echoes came back over DTLS" test "$(json_get "$LG_JSON" 'r["traffic"]["down_on_dtls"]')" -gt 0
tg_check "round-trip loss below 50 %" python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["traffic"]["loss_round_trip"] >= 0.5)' "$LG_JSON"
tg_check "latency percentiles reported" test "$(json_get "$LG_JSON" 'r["traffic"]["latency_us"]["n"]')" -gt 0
kill -USR1 "$ECHO_PID"
for _ in $(seq 20); do [ -s "$ECHO_STATS" ] && break; sleep 0.1; done
tg_check "the echo counted the generator's probes" \
  test "$(json_get "$ECHO_STATS" 'r["rx_probes"]')" -ge "$(json_get "$LG_JSON" 'r["traffic"]["down_delivered_packets"]')"
tg_check "the logout closed every tunnel" tg_wait_metric 10 tunnelgate_tunnels_active -eq 0
tg_check "no DTLS session left on the lcore" tg_wait_metric 10 tunnelgate_dtls_sessions -eq 0
tg_check "no session connected" tg_wait_metric 10 tunnelgate_sessions_connected -eq 0
tg_check "the logout (BYE 0xb0) ended the sessions" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
tg_check "addresses released" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 0

# Test the CSTP fallback path: without DTLS the traffic runs in the TLS stream.
if run_loadgen cstp --sessions 4 --concurrency 4 --retries 20 --no-dtls --user "$TG_USER" \
     --password "$TG_PASSWORD" --authgroup "$TG_DEFAULT_GROUP" --pps 1000 --duration 2 --imix; then
  tg_pass "loadgen --no-dtls logged in"
else
  tg_fail "loadgen --no-dtls logged in"; sed 's/^/    | /' "$TG_STATE_DIR/cstp.log"
fi
cstp_only() { tg_wait_metric 5 tunnelgate_tunnels_active -eq 4 && tg_wait_metric 1 tunnelgate_dtls_sessions -eq 0; }
tg_check "4 tunnels, no DTLS session" cstp_only
if stop_loadgen; then tg_pass "the --no-dtls loadgen ends"; else tg_fail "the --no-dtls loadgen ends"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "4 sessions on CSTP" test "$(json_get "$LG_JSON" 'r["sessions"]["cstp"]')" -eq 4
tg_check "echoes came back over CSTP" test "$(json_get "$LG_JSON" 'r["traffic"]["down_on_cstp"]')" -gt 0
tg_check "tunnels closed after the CSTP run" tg_wait_metric 10 tunnelgate_tunnels_active -eq 0

# Test the fallback to CSTP when DTLS never answers: the client's UDP to the gateway's DTLS
# port is routed to a neighbour that does not exist (connect() works, the datagrams go
# nowhere), each session tries two DTLS handshakes, then stays on CSTP and carries its
# traffic there.
ip -n "$TG_NS_CLIENT" route add "$TG_GW_ADDR/32" via 192.0.2.99 table 100
ip -n "$TG_NS_CLIENT" rule add priority 100 ipproto udp dport "$TG_DTLS_PORT" table 100
if run_loadgen nodtls --sessions 2 --concurrency 2 --retries 20 --dtls-timeout 1 --dtls-attempts 2 \
     --user "$TG_USER" --password "$TG_PASSWORD" --authgroup "$TG_DEFAULT_GROUP" --pps 500 --duration 1; then
  tg_pass "loadgen with DTLS unanswered logged in"
else
  tg_fail "loadgen with DTLS unanswered logged in"; sed 's/^/    | /' "$TG_STATE_DIR/nodtls.log"
fi
ip -n "$TG_NS_CLIENT" rule del priority 100
ip -n "$TG_NS_CLIENT" route del "$TG_GW_ADDR/32" table 100
if stop_loadgen; then tg_pass "the DTLS-unanswered run ends"; else tg_fail "the DTLS-unanswered run ends"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "both sessions fell back to CSTP" test "$(json_get "$LG_JSON" 'r["sessions"]["cstp"]')" -eq 2
tg_check "after two DTLS attempts each" test "$(json_get "$LG_JSON" 'r["failures"]["dtls: handshake timeout"] + r["failures"]["retried: dtls: handshake timeout"]')" -eq 4
tg_check "their traffic went over CSTP" test "$(json_get "$LG_JSON" 'r["traffic"]["down_on_cstp"]')" -gt 0
tg_check "tunnels closed after the fallback run" tg_wait_metric 10 tunnelgate_tunnels_active -eq 0

# Test bearer-token logins (a JWT in the password field, docs/tokens.md), with two generator
# threads (--threads 2: the sessions split between two epoll loops): the token of app 2
# (second backend subnet, any protocol) decides the app, as in openconnect_apps.sh.
if run_loadgen token --sessions 3 --concurrency 3 --threads 2 --retries 20 --user token-user --token "$TG_APP2_TOKEN" \
     --authgroup "$TG_DEFAULT_GROUP" --pps 500 --duration 1; then
  tg_pass "loadgen token logins"
else
  tg_fail "loadgen token logins"; sed 's/^/    | /' "$TG_STATE_DIR/token.log"
fi
if stop_loadgen; then tg_pass "the token run ends"; else tg_fail "the token run ends"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "3 token sessions on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq 3
tg_check "token sessions carried traffic" test "$(json_get "$LG_JSON" 'r["traffic"]["down_delivered_packets"]')" -gt 0
tg_check "token sessions ended" tg_wait_metric 10 tunnelgate_sessions_active -eq 0

# Test --source: a generator bound to the bed's second client address logs in, the gateway
# holds its TLS connections from that address only and reaches it over DTLS (its fast path
# resolves the address on the outside link); an address the namespace does not have is a
# failed session naming the bind, and one that is not IPv4 a usage error.
read -r -a CLIENT_ADDRS <<< "$TG_CLIENT_ADDRS"
tg_check "the bed has a second client address" test "${#CLIENT_ADDRS[@]}" -eq 2
if run_loadgen source --sessions 4 --concurrency 4 --retries 20 --source "${CLIENT_ADDRS[1]}" --user token-user \
     --token "$TG_APP2_TOKEN" --authgroup "$TG_DEFAULT_GROUP" --pps 500 --duration 1; then
  tg_pass "loadgen --source ${CLIENT_ADDRS[1]} logged in"
else
  tg_fail "loadgen --source ${CLIENT_ADDRS[1]} logged in"; sed 's/^/    | /' "$TG_STATE_DIR/source.log"
fi
tls_peers() { tg_gx ss -Htn state established "sport = :$TG_TLS_PORT" | awk '{sub(/:[0-9]+$/, "", $NF); print $NF}' | sort -u; }
tg_check "the gateway's TLS connections all come from ${CLIENT_ADDRS[1]}" test "$(tls_peers)" = "${CLIENT_ADDRS[1]}"
if stop_loadgen; then tg_pass "the --source run ends"; else tg_fail "the --source run ends"; fi
tg_check "4 --source sessions on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq 4
tg_check "--source sessions carried traffic over DTLS" test "$(json_get "$LG_JSON" 'r["traffic"]["down_on_dtls"]')" -gt 0
tg_check "--source sessions ended" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
run_loadgen nosource --sessions 2 --source 192.0.2.250 --user token-user --token "$TG_APP2_TOKEN" \
  --authgroup "$TG_DEFAULT_GROUP" --duration 0 || true
if stop_loadgen; then tg_pass "the run from a missing address ends"; else tg_fail "the run from a missing address ends"; fi
tg_check "--source not in the namespace: 2 failed sessions" test "$(json_get "$LG_JSON" 'r["sessions"]["failed"]')" -eq 2
tg_check "--source not in the namespace: reason names the bind" \
  test "$(json_get "$LG_JSON" 'r["failures"].get("bind 192.0.2.250: Cannot assign requested address", 0)')" -eq 2
exits_2() { local rc=0; "$@" > /dev/null 2>&1 || rc=$?; [ $rc -eq 2 ]; }
tg_check "--source 192.0.2 (not an IPv4 address) exits 2" exits_2 tg_cx "$LOADGEN" --server "$TG_GW_ADDR" --source 192.0.2 --sessions 1

# Test certificate logins: the TLS client certificate of TG_USER; the generator reconnects
# after the first answer and CONNECTs on a new TLS connection, as openconnect (PROTOCOL.md §3.8).
if run_loadgen cert --sessions 3 --concurrency 3 --retries 20 --cert "$TG_CLIENT_CERT" --key "$TG_CLIENT_KEY" \
     --authgroup "$TG_DEFAULT_GROUP" --pps 500 --duration 1; then
  tg_pass "loadgen certificate logins"
else
  tg_fail "loadgen certificate logins"; sed 's/^/    | /' "$TG_STATE_DIR/cert.log"
fi
if stop_loadgen; then tg_pass "the certificate run ends"; else tg_fail "the certificate run ends"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "3 certificate sessions on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq 3
tg_check "certificate sessions carried traffic" test "$(json_get "$LG_JSON" 'r["traffic"]["down_delivered_packets"]')" -gt 0
tg_check "certificate sessions ended" tg_wait_metric 10 tunnelgate_sessions_active -eq 0

# Test that a wrong password is reported as a failed login, not a crash.
run_loadgen badpw --sessions 2 --user "$TG_USER" --password wrong --authgroup "$TG_DEFAULT_GROUP" --duration 0 || true
if stop_loadgen; then tg_pass "the bad-password run ends"; else tg_fail "the bad-password run ends"; fi
tg_check "wrong password: 2 failed sessions" test "$(json_get "$LG_JSON" 'r["sessions"]["failed"]')" -eq 2
tg_check "wrong password: reason named" grep -q 'auth: ' "$LG_JSON"
# Test more sessions than the lcore's old 64-entry DTLS flow table held: all 70 get DTLS on
# the poll lcore and their traffic arrives; then all 70 log out at once, more than the 24
# requests a TLS worker may have in flight to the control plane: every session_close must
# still arrive (they wait for the next tick), freeing the sessions and addresses.
if run_loadgen many --sessions 70 --concurrency 8 --retries 20 --user "$TG_USER" --password "$TG_PASSWORD" \
     --authgroup "$TG_DEFAULT_GROUP" --pps 3500 --duration 2; then
  tg_pass "loadgen logged in 70 sessions"
else
  tg_fail "loadgen logged in 70 sessions"; sed 's/^/    | /' "$TG_STATE_DIR/many.log"
fi
tg_check "70 DTLS sessions on the poll lcore" tg_wait_metric 5 tunnelgate_dtls_sessions -eq 70
tg_check "no DTLS record dropped for an unknown session" \
  tg_wait_metric 2 tunnelgate_dataplane_drops_total reason=dtls_unknown_session -eq 0
if stop_loadgen; then tg_pass "the 70-session run ends"; else tg_fail "the 70-session run ends"; fi
sed 's/^/    | /' "$LG_JSON"
tg_check "70 sessions on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq 70
tg_check "70-session round-trip loss below 50 %" python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["traffic"]["loss_round_trip"] >= 0.5)' "$LG_JSON"
tg_check "the logout storm ended all 70 sessions" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
tg_check "all addresses released" tg_wait_metric 10 tunnelgate_pool_addresses_in_use -eq 0
# Test a login storm: 48 password logins at once, no retries. A TLS worker has at most 24
# requests in flight to the control plane (argon2id makes each take milliseconds); the rest
# used to get "503 try again", which openconnect does not retry during auth. They must now
# wait their turn: every login succeeds, and the worker says it queued some.
if run_loadgen storm --sessions 48 --concurrency 48 --retries 0 --user "$TG_USER" --password "$TG_PASSWORD" \
     --authgroup "$TG_DEFAULT_GROUP" --duration 0; then
  tg_pass "loadgen ran a 48-login storm"
else
  tg_fail "loadgen ran a 48-login storm"; sed 's/^/    | /' "$TG_STATE_DIR/storm.log"
fi
if stop_loadgen; then tg_pass "the storm run ends"; else tg_fail "the storm run ends"; fi
tg_check "48 of 48 storm logins established without a retry" \
  test "$(json_get "$LG_JSON" 'r["sessions"]["established"]')" -eq 48
tg_check "no storm login was answered 503" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(any("503" in k for k in r.get("failures", {})))' "$LG_JSON"
tg_check "the worker queued requests instead of refusing them" tg_wait_metric 2 tunnelgate_ctl_requests_queued_total -gt 0
tg_check "the storm's sessions all ended" tg_wait_metric 10 tunnelgate_sessions_active -eq 0

# Test a test bed whose server certificate has an RSA-2048 key (TG_SERVER_KEY_TYPE, as
# bench/loadgen/compare-ocserv measures setup per certificate type): the gateway presents
# it, and password and certificate logins work against it. The first bed goes first.
kill -TERM "$ECHO_PID" 2> /dev/null || true
wait "$ECHO_PID" 2> /dev/null || true
ECHO_PID=''
"$TG_REPO/tools/testbed" down > /dev/null
unset TG_STATE_DIR
export TG_RUN_ID=${TG_RUN_ID}r TG_SERVER_KEY_TYPE=rsa-2048
tg_testbed_up
trap 'rc=$?; lg_cleanup; (exit $rc); tg__on_exit' EXIT
echo "test bed $TG_RUN_ID up with an RSA-2048 server certificate (state $TG_STATE_DIR)"
rsa_2048_cert() {
  local text
  text=$(openssl x509 -in "$TG_SERVER_CERT" -noout -text)
  grep -q rsaEncryption <<< "$text" && grep -q "Public-Key: (2048 bit)" <<< "$text"
}
gateway_presents_rsa_2048() {
  local text
  text=$(tg_cx openssl s_client -connect "$TG_GW_ADDR:$TG_TLS_PORT" < /dev/null 2> /dev/null) || true
  grep -q "Server public key is 2048 bit" <<< "$text"
}
tg_check "the bed's server certificate has an RSA-2048 key" rsa_2048_cert
tg_check "the gateway presents it" gateway_presents_rsa_2048
for method in password cert; do
  if [ $method = password ]; then creds=(--user "$TG_USER" --password "$TG_PASSWORD")
  else creds=(--cert "$TG_CLIENT_CERT" --key "$TG_CLIENT_KEY"); fi
  if run_loadgen rsa-$method --sessions 4 --concurrency 4 --retries 20 "${creds[@]}" --authgroup "$TG_DEFAULT_GROUP" \
       --duration 0; then
    tg_pass "RSA server certificate: loadgen $method logins"
  else
    tg_fail "RSA server certificate: loadgen $method logins"; sed 's/^/    | /' "$TG_STATE_DIR/rsa-$method.log"
  fi
  if stop_loadgen; then tg_pass "the RSA $method run ends"; else tg_fail "the RSA $method run ends"; fi
  tg_check "RSA server certificate: 4 $method sessions on DTLS" test "$(json_get "$LG_JSON" 'r["sessions"]["dtls"]')" -eq 4
  tg_check "RSA server certificate: $method sessions ended" tg_wait_metric 10 tunnelgate_sessions_active -eq 0
done
tg_summary
