#!/usr/bin/env bash
# Makes the certificates of cert_auth_test in DIR (OpenSSL 3, no faketime): a root CA, an
# intermediate CA, client certificates (good, expired, not yet valid, via the intermediate,
# with a bad user name, with app identities), and a certificate from another CA. `openssl ca` sets exact
# validity dates with -startdate/-enddate (OpenSSL 3.0's x509 has no -not_before).
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
