#!/usr/bin/env bash
# Makes the certificates of cert_auth_test in DIR (OpenSSL 3, no faketime): a root CA, an
# intermediate CA, client certificates (good, expired, not yet valid, via the intermediate,
# with a bad user name, with app identities), and a certificate from another CA. `openssl ca` sets exact
# validity dates with -startdate/-enddate (OpenSSL 3.0's x509 has no -not_before).
# Then, for the CRL tests: revoked certificates, CRLs (current, expired via -crl_lastupdate/
# -crl_nextupdate, forged, RSA) in PEM and DER with their dates as openssl reads them
# (NAME.times: "thisUpdate nextUpdate" in Unix seconds), serials (NAME.serial: hex) and
# bundles of two CAs.
# usage: make_test_certs.sh DIR
set -euo pipefail
dir=$1
cd "$dir"
mkdir -p db
: > db/index.txt
echo 1000 > db/serial
cat > ca.cnf <<'CNF'
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
email_in_dn = no
[ any ]
commonName = supplied
organizationalUnitName = optional
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
[ v3_leaf ]
basicConstraints = CA:false
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
CNF

q() { "$@" > /dev/null 2>&1; }
key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# Self-signed roots.
for ca in root other; do
  key $ca.key
  q openssl req -x509 -new -key $ca.key -subj "/CN=tunnelgate test $ca CA" -days 3650 \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out $ca.pem
done

# sign NAME ISSUER START END EXT SUBJECT [SAN]
sign() {
  local name=$1 issuer=$2 start=$3 end=$4 ext=$5 subject=$6 san=${7:-}
  key $name.key
  if [[ -n $san ]]; then
    q openssl req -new -key $name.key -subj "$subject" -addext "subjectAltName=$san" -out $name.csr
  else
    q openssl req -new -key $name.key -subj "$subject" -out $name.csr
  fi
  q openssl ca -batch -config ca.cnf -cert $issuer.pem -keyfile $issuer.key -in $name.csr \
    -startdate "$start" -enddate "$end" -extensions $ext -notext -out $name.pem
  openssl x509 -in $name.pem -outform DER -out $name.der
}

sign intermediate root 20200101000000Z 20991231000000Z v3_ca "/CN=tunnelgate test intermediate"
sign alice root 20200101000000Z 20991231000000Z v3_leaf "/CN=alice" \
  "email:alice@example.com,DNS:alice.example.com"
sign expired root 20200101000000Z 20210101000000Z v3_leaf "/CN=expired"
sign future root 20980101000000Z 20991231000000Z v3_leaf "/CN=future"
sign badname root 20200101000000Z 20991231000000Z v3_leaf "/CN=alice smith"
sign viaint intermediate 20200101000000Z 20991231000000Z v3_leaf "/CN=carol"
sign stranger other 20200101000000Z 20991231000000Z v3_leaf "/CN=mallory"
# App identity: a SAN URI urn:app:<id> (after a URI with another prefix), and an OU.
sign appuri root 20200101000000Z 20991231000000Z v3_leaf "/CN=dave/OU=com.example.ou" \
  "URI:https://example.com/device/7,URI:urn:app:com.example.mail"
sign appspace root 20200101000000Z 20991231000000Z v3_leaf "/CN=erin" "URI:urn:app:com example"
openssl x509 -in root.pem -outform DER -out root.der

# ---- Revocation. Everything above is unchanged; these come after it (serials 1009 on).
sign bob root 20200101000000Z 20991231000000Z v3_leaf "/CN=bob"
sign revint root 20200101000000Z 20991231000000Z v3_ca "/CN=tunnelgate test revoked intermediate"
sign dan revint 20200101000000Z 20991231000000Z v3_leaf "/CN=dan"
sign eve intermediate 20200101000000Z 20991231000000Z v3_leaf "/CN=eve"
# A CA with the root's name but another key (forged CRLs), and an RSA root with a leaf.
key fakeroot.key
q openssl req -x509 -new -key fakeroot.key -subj "/CN=tunnelgate test root CA" -days 3650 \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out fakeroot.pem
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsaroot.key
q openssl req -x509 -new -key rsaroot.key -subj "/CN=tunnelgate test rsa CA" -days 3650 \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out rsaroot.pem
sign frank rsaroot 20200101000000Z 20991231000000Z v3_leaf "/CN=frank"
for name in alice bob revint eve frank; do
  openssl x509 -in $name.pem -noout -serial | cut -d= -f2 > $name.serial
done
cat root.pem other.pem > root_other.pem
cat root.pem intermediate.pem > root_int.pem
cat root.pem rsaroot.pem > root_rsa.pem

# Each CRL has its own index of revoked certificates (CRL_DB), so it lists only what it is
# given; `openssl ca -revoke` adds a certificate it has not issued from that index.
cat > crl.cnf <<'CNF'
[ crl_v1 ]
database = $ENV::CRL_DB
default_md = sha256
[ crl_v2 ]
database = $ENV::CRL_DB
crlnumber = $ENV::CRL_NUMBER
default_md = sha256
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF
# revoke DB ISSUER CERT [openssl ca options]
revoke() {
  local db=$1 issuer=$2 cert=$3
  shift 3
  touch $db
  CRL_DB=$db CRL_NUMBER=$db.number q openssl ca -config crl.cnf -name crl_v1 -cert $issuer.pem \
    -keyfile $issuer.key -revoke $cert.pem "$@"
}
# gencrl NAME SECTION DB ISSUER [openssl ca options]: NAME.pem, NAME.der, NAME.times
gencrl() {
  local name=$1 section=$2 db=$3 issuer=$4
  shift 4
  touch $db
  [[ -f $db.number ]] || echo 01 > $db.number
  CRL_DB=$db CRL_NUMBER=$db.number q openssl ca -config crl.cnf -name $section -cert $issuer.pem \
    -keyfile $issuer.key -gencrl "$@" -out $name.pem
  openssl crl -in $name.pem -outform DER -out $name.der
  local last next
  last=$(openssl crl -in $name.pem -noout -lastupdate | cut -d= -f2)
  next=$(openssl crl -in $name.pem -noout -nextupdate | cut -d= -f2)
  echo "$(date -u -d "$last" +%s) $(date -u -d "$next" +%s)" > $name.times
}
# The root's CRL (v2: CRL number, authority key id, a reason code): bob and revint revoked.
revoke crl_root.db root bob -crl_reason keyCompromise
revoke crl_root.db root revint
gencrl crl_root crl_v2 crl_root.db root -crldays 30
# The same plus alice (the reload test).
for c in bob revint alice; do revoke crl_root_alice.db root $c; done
gencrl crl_root_alice crl_v1 crl_root_alice.db root -crldays 30
# The intermediate's: eve revoked.
revoke crl_intermediate.db intermediate eve
gencrl crl_intermediate crl_v1 crl_intermediate.db intermediate -crldays 30
# The root's, past its nextUpdate since 2020: bob revoked.
revoke crl_root_expired.db root bob
gencrl crl_root_expired crl_v1 crl_root_expired.db root \
  -crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z
# Another CA's (not in root.pem); forged ones (the root's name, another key); the RSA root's
# past its nextUpdate (its signature is then checked by tunnelgate, not wolfSSL).
gencrl crl_other crl_v1 crl_other.db other -crldays 30
revoke crl_forged.db fakeroot alice
gencrl crl_forged crl_v1 crl_forged.db fakeroot -crldays 30
gencrl crl_forged_expired crl_v1 crl_forged_expired.db fakeroot \
  -crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z
gencrl crl_rsa_expired crl_v1 crl_rsa_expired.db rsaroot \
  -crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z
