#!/bin/bash
# bench/loadgen/ocserv-lab.sh -- ocserv in a network namespace as the reference peer for
# tunnelgate-loadgen (adapted from ../shared/reference/ocserv-lab.sh). Two namespaces joined
# by a veth pair; ocserv in one, with tunnelgate-loadgen-echo on a local address of the
# server namespace (the "backend": ocserv hands the inner packets to that kernel), the
# generator in the other. Only RFC 5737 / RFC 2544 test addresses, inside namespaces
# created here. Run as root.
#
#   bench/loadgen/ocserv-lab.sh up        # namespaces, certificates, user, ocserv, echo
#   bench/loadgen/ocserv-lab.sh run ARGS  # tunnelgate-loadgen in the client namespace with the
#                                         # server, target and credentials (user and password,
#                                         # or the client certificate) filled in
#   bench/loadgen/ocserv-lab.sh down      # stop what up started (by PID), delete namespaces
#
# Environment: LAB (state dir, /tmp/loadgen-ocserv), TG_BUILD_DIR (meson build dir, ./build),
# OCSERV_WORKERS_DEBUG (ocserv -d level, 0: debug logging dominates its cost, PROTOCOL.md §10),
# OCSERV_MAX_CLIENTS (1024), TG_SERVER_KEY_TYPE (ec-p256 | rsa-2048: the server certificate's
# key, as tools/testbed), OCSERV_AUTH (plain: password logins against an SHA-crypt passwd
# file | certificate: client-certificate logins, user name = subject CN, as tunnelgate's),
# OCSERV_NS (lgoc: the namespaces are $OCSERV_NS-srv and $OCSERV_NS-cli; give up, run and
# down the same one).
#
#  client ns lgoc-cli                    server ns lgoc-srv
#  tunnelgate-loadgen  c: 192.0.2.2 ──── s: 192.0.2.1  ocserv (TCP+UDP 443), pool 198.19.0.0/16
#                                        (RFC 2544; a /24 would stop at 253 sessions)
#                                        198.18.1.10 (dummy or lo): tunnelgate-loadgen-echo :9000
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=${LAB:-/tmp/loadgen-ocserv}
BUILD=${TG_BUILD_DIR:-$REPO/build}
NS_S=${OCSERV_NS:-lgoc}-srv NS_C=${OCSERV_NS:-lgoc}-cli
SRV_IP=192.0.2.1 CLI_IP=192.0.2.2 BACKEND_IP=198.18.1.10 ECHO_PORT=9000
USER_PW=alice PASS_PW=loadgen-pass

sx() { ip netns exec "$NS_S" "$@"; }

up() {
  command -v ocserv > /dev/null || { echo "ocserv not installed (apt-get install ocserv)" >&2; exit 1; }
  [ -e "$LAB" ] && { echo "$LAB exists: run down first" >&2; exit 1; }
  mkdir -p "$LAB"
  cd "$LAB"
  ip netns add "$NS_S"
  ip netns add "$NS_C"
  ip -n "$NS_S" link add s type veth peer name c netns "$NS_C"
  sx ip addr add "$SRV_IP/24" dev s
  sx ip link set s up
  sx ip link set lo up
  ip -n "$NS_C" addr add "$CLI_IP/24" dev c
  ip -n "$NS_C" link set c up
  ip -n "$NS_C" link set lo up
  # The backend address: on a dummy link, or on lo when the kernel has no dummy driver.
  if sx ip link add lgoc-be type dummy 2> /dev/null; then
    sx ip addr add "$BACKEND_IP/24" dev lgoc-be
    sx ip link set lgoc-be up
  else
    sx ip addr add "$BACKEND_IP/32" dev lo
  fi
  # The server certificate, of the kind the tunnelgate test bed makes (TG_SERVER_KEY_TYPE), and
  # a P-256 CA with a client certificate for certificate logins.
  local key_args auth
  case ${TG_SERVER_KEY_TYPE:-ec-p256} in
    ec-p256) key_args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    rsa-2048) key_args=(-newkey rsa:2048) ;;
    *) echo "TG_SERVER_KEY_TYPE=$TG_SERVER_KEY_TYPE: expected ec-p256 or rsa-2048" >&2; exit 1 ;;
  esac
  openssl req -x509 "${key_args[@]}" -nodes -days 30 -subj "/CN=$SRV_IP" \
    -addext "subjectAltName=IP:$SRV_IP" -keyout server.key -out server.pem 2> /dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=loadgen lab CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2> /dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$USER_PW" \
    -keyout client.key -out client.csr 2> /dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" > client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -days 30 -set_serial "0x$(openssl rand -hex 8)" \
    -extfile client.ext -out client.pem 2> /dev/null
  echo "$USER_PW:*:$(openssl passwd -6 "$PASS_PW")" > ocpasswd
  case ${OCSERV_AUTH:-plain} in
    plain) auth="auth = \"plain[passwd=$LAB/ocpasswd]\"" ;;
    certificate) auth=$(printf '%s\n' 'auth = "certificate"' "ca-cert = $LAB/ca.pem" "cert-user-oid = 2.5.4.3") ;;
    *) echo "OCSERV_AUTH=$OCSERV_AUTH: expected plain or certificate" >&2; exit 1 ;;
  esac
  echo "${OCSERV_AUTH:-plain}" > auth
  cat > ocserv.conf <<EOF
$auth
listen-host = $SRV_IP
tcp-port = 443
udp-port = 443
run-as-user = nobody
run-as-group = nogroup
socket-file = $LAB/ocserv.sock
occtl-socket-file = $LAB/occtl.sock
use-occtl = true
pid-file = $LAB/ocserv.pid
server-cert = $LAB/server.pem
server-key = $LAB/server.key
isolate-workers = true
max-clients = ${OCSERV_MAX_CLIENTS:-1024}
max-same-clients = 0
rate-limit-ms = 0
max-ban-score = 0
keepalive = 32400
dpd = 90
mobile-dpd = 1800
switch-to-tcp-timeout = 25
try-mtu-discovery = false
tls-priorities = "NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.3"
auth-timeout = 240
idle-timeout = 1200
cookie-timeout = 300
rekey-time = 172800
rekey-method = ssl
device = vpns
predictable-ips = true
ipv4-network = 198.19.0.0
ipv4-netmask = 255.255.0.0
route = $BACKEND_IP/255.255.255.255
ping-leases = false
cisco-client-compat = true
dtls-legacy = true
log-level = 1
EOF
  # `ip netns exec` itself (not the sx function, which would fork a subshell) so that $! is
  # the program's PID: ip netns exec execs it.
  ip netns exec "$NS_S" ocserv -f -d "${OCSERV_WORKERS_DEBUG:-0}" -c "$LAB/ocserv.conf" > "$LAB/ocserv.log" 2>&1 &
  echo $! > "$LAB/ocserv.main.pid"
  ip netns exec "$NS_S" "$BUILD/bench/loadgen/tunnelgate-loadgen-echo" --listen "$BACKEND_IP:$ECHO_PORT" \
    --stats-file "$LAB/echo-stats.json" > "$LAB/echo.log" 2>&1 &
  echo $! > "$LAB/echo.pid"
  for _ in $(seq 50); do sx ss -ltn | grep -q "$SRV_IP:443" && break; sleep 0.1; done
  echo "ocserv up in $NS_S (pid $(cat "$LAB/ocserv.main.pid")), echo on $BACKEND_IP:$ECHO_PORT"
}

run() {
  local creds=(--user "$USER_PW" --password "$PASS_PW")
  [ "$(cat "$LAB/auth")" = certificate ] && creds=(--cert "$LAB/client.pem" --key "$LAB/client.key")
  ip netns exec "$NS_C" "$BUILD/bench/loadgen/tunnelgate-loadgen" --server "$SRV_IP" \
    "${creds[@]}" --target "$BACKEND_IP:$ECHO_PORT" "$@"
}

down() {
  local f p
  for f in "$LAB"/ocserv.main.pid "$LAB"/echo.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill -TERM "$p" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
  ip netns del "$NS_C" 2> /dev/null || true
  ip netns del "$NS_S" 2> /dev/null || true
  rm -rf "$LAB"
}

cmd=${1:-}
shift || true
case $cmd in
  up) up ;;
  run) run "$@" ;;
  down) down ;;
  *) sed -n '2,28p' "$0"; exit 1 ;;
esac
