#!/bin/bash
# tests/netns/certificates.sh -- server certificates and client-certificate revocation with
# the real openconnect client (docs/certificates.md, docs/auth.md):
#   * validation on reload: a chain without its CA is refused (the certificate in use stays),
#     a chain ending in an intermediate is accepted with a no_root warning, both exported;
#   * the second certificate takes over when the primary expires, with no operator;
#   * a client certificate revoked by a CRL update is refused without a restart.
#
#  client ns (openconnect, pinned)        gateway ns                                   backend ns
#  c0 192.0.2.2 ─── gw-out ─ TCP 443 ─► TLS workers (primary | second context) ────── 198.18.1.10
#                                        control plane: CA bundle + CRL (auth.crl)
#  (tools/testbed, docs/testbed.md). Needs root; else exit 77.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=tools/lib/testbed.sh
. "$REPO/tools/lib/testbed.sh"
command -v openconnect > /dev/null || { echo "SKIP: openconnect not installed"; exit 77; }

tg_test_init tgcert
export TG_LAB_FORWARDING=0
tg_testbed_up
echo "test bed $TG_RUN_ID up (state $TG_STATE_DIR)"
CTL=$TG_BUILD_DIR/tools/tunnelgatectl
PRIMARY_PIN=$TG_SERVER_PIN
W=$TG_STATE_DIR/work
mkdir -p "$W"

pin_of() {
  echo "pin-sha256:$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)"
}
# connects_with PIN NAME: a password client pinned to PIN connects (then leaves).
connects_with() {
  local saved=$TG_SERVER_PIN rc=0
  TG_SERVER_PIN=$1
  tg_oc_connect "$2" --no-dtls -u "$TG_USER" --authgroup "$TG_DEFAULT_GROUP" --passwd-on-stdin <<< "$TG_PASSWORD" || rc=$?
  TG_SERVER_PIN=$saved
  [ $rc = 0 ] && tg_oc_stop INT
  return $rc
}
reload() { ip netns exec "$TG_NS_GW" "$CTL" reload --socket "$TG_ADMIN_SOCKET" > /dev/null; }
metric() { tg_metric_sum "$(tg_metrics)" "$@"; }
# A CA for server certificates with exact dates (openssl ca), in $W.
cat > "$W/ca.cnf" <<CNF
[ ca ]
default_ca = tb
[ tb ]
dir = $W
database = $W/index.txt
serial = $W/serial
new_certs_dir = $W
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ server ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:$TG_GW_ADDR
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
CNF
: > "$W/index.txt"; echo 2000 > "$W/serial"
# leaf NAME ISSUER_PEM ISSUER_KEY START END: a server certificate and key in $W/NAME.{pem,key}.
leaf() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$1.key" 2>/dev/null
  openssl req -new -key "$W/$1.key" -subj "/CN=$TG_GW_ADDR" -out "$W/$1.csr" 2>/dev/null
  openssl ca -batch -config "$W/ca.cnf" -cert "$2" -keyfile "$3" -in "$W/$1.csr" -startdate "$4" \
    -enddate "$5" -extensions server -notext -out "$W/$1.pem" > /dev/null 2>&1
}
install_primary() {  # PEM KEY: replace tls.certificate/tls.key by rename, key first
  cp "$2" "$TG_SERVER_KEY.tmp" && mv "$TG_SERVER_KEY.tmp" "$TG_SERVER_KEY"
  cp "$1" "$TG_SERVER_CERT.tmp" && mv "$TG_SERVER_CERT.tmp" "$TG_SERVER_CERT"
}
NOW=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
LATER=$(date -u -d '+20 days' +%Y%m%d%H%M%SZ)

# Test that at start the primary is in use and the second is loaded and ready.
tg_check "primary active" tg_wait_metric 5 tunnelgate_certificate_active certificate=primary -eq 1
tg_check "second usable" tg_wait_metric 5 tunnelgate_certificate_usable certificate=second -eq 1
tg_check "…not active" tg_wait_metric 5 tunnelgate_certificate_active certificate=second -eq 0
tg_check "a client sees the primary" connects_with "$PRIMARY_PIN" primary
tg_check "tunnelgatectl certs: primary active, second ready, a CRL" bash -c \
  "ip netns exec '$TG_NS_GW' '$CTL' certs --socket '$TG_ADMIN_SOCKET' | tee /dev/stderr | grep -q '^primary  yes    yes' &&
   ip netns exec '$TG_NS_GW' '$CTL' certs --socket '$TG_ADMIN_SOCKET' | grep -q '^second   no     yes' &&
   ip netns exec '$TG_NS_GW' '$CTL' certs --socket '$TG_ADMIN_SOCKET' | grep -q '^CRL: 1 CRL(s), 0 revoked'"
if connects_with "$TG_SERVER2_PIN" early; then tg_fail "the second is not presented yet"
else tg_pass "the second is not presented yet"; fi

# Test that a chain without any CA is refused on reload (error no_ca): the primary stays.
leaf noca "$TG_CA_CERT" "$TG_CA_KEY" "$NOW" "$LATER"
failed=$(metric tunnelgate_certificate_reloads_total result=failed)
install_primary "$W/noca.pem" "$W/noca.key"
reload
tg_check "leaf without its CA: reload refused" tg_wait_metric 5 tunnelgate_certificate_reloads_total result=failed -gt "$failed"
tg_check "…logged with the finding" grep -q 'finding=no_ca' "$TG_DATAPLANE_LOG"
tg_check "…and clients still get the primary" connects_with "$PRIMARY_PIN" after-noca

# Test that a chain ending in an intermediate is accepted with the warning no_root.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/int.key" 2>/dev/null
openssl req -new -key "$W/int.key" -subj "/CN=tunnelgate testbed intermediate" -out "$W/int.csr" 2>/dev/null
openssl ca -batch -config "$W/ca.cnf" -cert "$TG_CA_CERT" -keyfile "$TG_CA_KEY" -in "$W/int.csr" \
  -startdate "$NOW" -enddate "$LATER" -extensions v3_ca -notext -out "$W/int.pem" > /dev/null 2>&1
leaf viaint "$W/int.pem" "$W/int.key" "$NOW" "$LATER"
cat "$W/viaint.pem" "$W/int.pem" > "$W/viaint-chain.pem"
ok=$(metric tunnelgate_certificate_reloads_total result=ok)
install_primary "$W/viaint-chain.pem" "$W/viaint.key"
reload
tg_check "leaf + intermediate: reload accepted" tg_wait_metric 5 tunnelgate_certificate_reloads_total result=ok -gt "$ok"
tg_check "…with the warning no_root exported" tg_wait_metric 5 tunnelgate_certificate_findings certificate=primary finding=no_root -eq 1
tg_check "…and it is presented" connects_with "$(pin_of "$W/viaint.pem")" viaint

# Test that the second certificate takes over when the primary expires, with no operator:
# a primary valid for 30 more seconds, then wait.
END=$(date -u -d '+30 seconds' +%Y%m%d%H%M%SZ)
leaf short "$TG_CA_CERT" "$TG_CA_KEY" "$NOW" "$END"
cat "$TG_CA_CERT" >> "$W/short.pem"
# No reload command this time: the dataplane notices the replaced files by itself.
install_primary "$W/short.pem" "$W/short.key"
tg_check "short-lived primary loaded (files replaced, no command)" tg_wait_metric 10 tunnelgate_certificate_expires_in_seconds certificate=primary -le 30
tg_check "…noticed by the file watch" grep -q 'msg="certificate files changed: reloading"' "$TG_DATAPLANE_LOG"
tg_check "…and presented" connects_with "$(pin_of "$W/short.pem")" short
switches=$(metric tunnelgate_certificate_switches_total)
tg_check "after its notAfter the second is active" tg_wait_metric 40 tunnelgate_certificate_active certificate=second -eq 1
tg_check "…one switch counted" tg_wait_metric 2 tunnelgate_certificate_switches_total -gt "$switches"
tg_check "…logged" grep -q 'msg="switched to the second certificate"' "$TG_DATAPLANE_LOG"
tg_check "new clients see the second certificate" connects_with "$TG_SERVER2_PIN" second
if connects_with "$(pin_of "$W/short.pem")" expired; then tg_fail "the expired primary is no longer presented"
else tg_pass "the expired primary is no longer presented"; fi

# Test that a revoked client certificate is refused after a CRL update, without a restart.
TG_SERVER_PIN=$TG_SERVER2_PIN  # the gateway presents the second now
tg_oc_connect prerevoke -c "$TG_CLIENT_CERT" -k "$TG_CLIENT_KEY" && { tg_pass "client certificate accepted"; tg_oc_stop INT; } ||
  { tg_fail "client certificate accepted"; sed 's/^/    | /' "$OC_LOG" | tail -n 5; }
(
  cd "$TG_PKI_DIR"
  openssl ca -config ca.cnf -revoke client.pem -cert ca.pem -keyfile ca.key > /dev/null 2>&1
  openssl ca -config ca.cnf -gencrl -cert ca.pem -keyfile ca.key -crldays 30 -out crl.new > /dev/null 2>&1
  mv crl.new crl.pem
)
tg_check "the control plane loaded the new CRL" bash -c \
  "for i in \$(seq 50); do grep -q 'msg=\"CRL loaded\".*revoked=1' '$TG_CONTROLPLANE_LOG' && exit 0; sleep 0.1; done; exit 1"
if tg_oc_connect revoked -c "$TG_CLIENT_CERT" -k "$TG_CLIENT_KEY"; then tg_fail "revoked certificate refused"; tg_oc_stop INT
else tg_pass "revoked certificate refused"; fi
tg_check "…the client was told why" grep -q "cert_revoked" "$OC_LOG"
tg_check "…counted as cert_revoked" tg_wait_metric 5 tunnelgate_auth_failures_total method=certificate reason=cert_revoked -ge 1
tg_check "CRL metrics exported" tg_wait_metric 5 tunnelgate_crl_revoked_certificates -eq 1
if tg_oc_connect app1 -c "$TG_APP1_CERT" -k "$TG_APP1_KEY"; then tg_pass "another client certificate of the CA still works"; tg_oc_stop INT
else tg_fail "another client certificate of the CA still works"; sed 's/^/    | /' "$OC_LOG" | tail -n 5; fi

tg_summary
