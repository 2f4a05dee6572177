#!/bin/bash
# tests/netns/cert_rotation.sh -- the server certificate is replaced while a tunnel is up:
# SIGHUP makes the dataplane load the new files for new handshakes only. The established
# tunnel keeps working, a new client sees the new certificate's pin, a client pinned to the
# old one is refused, and a broken file changes nothing.
#
#  client ns (two openconnect clients)     gateway ns (dataplane: TLS workers)     backend ns
#  c0 192.0.2.2 ─── gw-out ─ TCP 443 ─► tg-exc ─► TlsContextHolder (old → new)  ─── 198.18.1.10
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgcr
export TG_LAB_FORWARDING=0
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
read -r -a URLS <<< "$TG_BACKEND_URLS"
OLD_PIN=$TG_SERVER_PIN

pin_of() {
  echo "pin-sha256:$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)"
}
# new_server_cert DIR: a new key and certificate for the gateway, from the bed's CA.
new_server_cert() {
  local d=$1
  mkdir -p "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/server.key" 2>/dev/null
  openssl req -new -key "$d/server.key" -subj "/CN=$TG_GW_ADDR" -out "$d/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:$TG_GW_ADDR" "extendedKeyUsage=serverAuth" > "$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$TG_CA_CERT" -CAkey "$TG_CA_KEY" -sha256 -days 30 \
    -set_serial "0x$(openssl rand -hex 8)" -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null
  cat "$TG_CA_CERT" >> "$d/server.pem"  # the chain: leaf, then its CA
}

# A tunnel up on the old certificate.
tg_oc_connect before --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" || tg_fail "connect before rotation"
before_pid=$OC_PID_FILE

# Test that SIGHUP with new files puts the new certificate in use for new handshakes.
new_server_cert "$TG_STATE_DIR/rotated"
NEW_PIN=$(pin_of "$TG_STATE_DIR/rotated/server.pem")
# Key first, then certificate, each by rename: a reload never reads half a file.
cp "$TG_STATE_DIR/rotated/server.key" "$TG_SERVER_KEY.tmp" && mv "$TG_SERVER_KEY.tmp" "$TG_SERVER_KEY"
cp "$TG_STATE_DIR/rotated/server.pem" "$TG_SERVER_CERT.tmp" && mv "$TG_SERVER_CERT.tmp" "$TG_SERVER_CERT"
kill -HUP "$TG_DATAPLANE_PID"
tg_check "the dataplane reloaded the certificate" tg_wait_metric 5 tunnelgate_certificate_reloads_total result=ok -ge 1
tg_check "…and logged it" grep -q 'msg="server certificate" why=reload' "$TG_DATAPLANE_LOG"

# Test that the tunnel established before the rotation keeps working.
body=$(tg_cx curl -fsS --max-time 10 "${URLS[0]}" || true)
if [ -n "$body" ]; then tg_pass "the tunnel from before the rotation still forwards"; else tg_fail "the tunnel from before the rotation still forwards"; fi

# Test that a new client pinned to the new certificate connects, and one pinned to the
# old certificate is refused.
TG_SERVER_PIN=$NEW_PIN
if tg_oc_connect newpin --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "a new client sees the new certificate ($NEW_PIN)"; tg_oc_stop INT
else tg_fail "a new client sees the new certificate"; sed 's/^/    | /' "$OC_LOG" | tail -n 5; fi
TG_SERVER_PIN=$OLD_PIN
if tg_oc_connect oldpin --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_fail "a client pinned to the old certificate is refused"; tg_oc_stop INT
else tg_pass "a client pinned to the old certificate is refused"; fi

# Test that a broken certificate file is refused on reload and the current one stays.
echo "not a certificate" > "$TG_SERVER_CERT"
kill -HUP "$TG_DATAPLANE_PID"
tg_check "the broken file was refused" bash -c \
  "for i in \$(seq 50); do grep -q 'certificate reload refused' '$TG_DATAPLANE_LOG' && exit 0; sleep 0.1; done; exit 1"
TG_SERVER_PIN=$NEW_PIN
if tg_oc_connect afterbad --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD"; then
  tg_pass "clients still get the last good certificate"; tg_oc_stop INT
else tg_fail "clients still get the last good certificate"; fi

OC_PID_FILE=$before_pid tg_oc_stop INT
tg_summary
