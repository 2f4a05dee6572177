#!/usr/bin/env bash
# Makes the server certificates of server_cert_test in DIR with the openssl CLI (OpenSSL 3, no
# faketime). Every date is fixed (`openssl ca -startdate/-enddate`; OpenSSL 3.0's x509 and req
# have no -not_before), so the test validates at an injected "now" of 2024-06-01T00:00:00Z:
#   CAs        2020-01-01 .. 2040-01-01
#   leaves     2024-01-01 .. 2025-01-01  (valid at "now")
#   expired    2022-01-01 .. 2023-01-01
#   future     2025-01-01 .. 2026-01-01  (not yet valid at "now")
#   long       2024-01-01 .. 2027-01-01  (more than 825 days)
# For each key type A in ec (P-256) and rsa (2048 bits):
#   A-root, A-int (signed by A-root), A-other (an unrelated root), A-otherint (signed by A-other)
#   A-leaf       A-int, serverAuth, SAN DNS:vpn.example.com + IP:192.0.2.1   (the good one)
#   A-direct     A-root directly, otherwise like A-leaf
#   A-noeku      A-int, no extendedKeyUsage
#   A-clientonly A-int, extendedKeyUsage clientAuth only
#   A-anyeku     A-int, extendedKeyUsage anyExtendedKeyUsage
#   A-expired, A-future, A-long   A-int, dates above
#   A-nosan      A-int, no subjectAltName
#   A-kuenc      A-int, keyUsage keyEncipherment only (no digitalSignature)
#   A-self       self-signed leaf (serverAuth, SAN)
#   A-stranger   A-otherint (a CA chain that is not in the good files)
# and for rsa only: rsa-sha1 (signed with SHA-1), rsa-weak (1024-bit key); for ec only:
# ec-viaold (valid, under an expired intermediate), ec-outlive (valid past its CA).
# Then bundles (A-*.pem files of several certificates), DER files, PKCS#12 files in three
# encryptions, PKCS#7 (.p7b) files, encrypted PEM keys, an Ed25519 key: see the end.
# usage: make_server_certs.sh DIR
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
copy_extensions = none
email_in_dn = no
[ any ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:vpn.example.com, IP:192.0.2.1
[ v3_noeku ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
subjectAltName = DNS:vpn.example.com
[ v3_clientonly ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:vpn.example.com
[ v3_anyeku ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
subjectAltName = DNS:vpn.example.com
[ v3_nosan ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[ v3_kuenc ]
basicConstraints = CA:false
keyUsage = critical, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:vpn.example.com
CNF

q() { "$@" > /dev/null 2>&1; }
# key NAME TYPE [BITS]: a private key in PKCS#8 PEM.
key() {
  case $2 in
    ec) q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" ;;
    rsa) q openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${3:-2048}" -out "$1.key" ;;
  esac
}
# sign NAME ISSUER START END EXT SUBJECT [MD]: a certificate for NAME.key signed by ISSUER
# ("self": self-signed), as NAME.pem and NAME.der.
sign() {
  local name=$1 issuer=$2 start=$3 end=$4 ext=$5 subject=$6 md=${7:-sha256}
  q openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
  if [[ $issuer == self ]]; then
    q openssl ca -batch -config ca.cnf -selfsign -keyfile "$name.key" -in "$name.csr" \
      -startdate "$start" -enddate "$end" -extensions "$ext" -md "$md" -notext -out "$name.pem"
  else
    q openssl ca -batch -config ca.cnf -cert "$issuer.pem" -keyfile "$issuer.key" \
      -in "$name.csr" -startdate "$start" -enddate "$end" -extensions "$ext" -md "$md" \
      -notext -out "$name.pem"
  fi
  openssl x509 -in "$name.pem" -outform DER -out "$name.der"
}
ca_start=20200101000000Z ca_end=20400101000000Z
start=20240101000000Z end=20250101000000Z

for a in ec rsa; do
  for n in root other; do
    key $a-$n $a
    sign $a-$n self $ca_start $ca_end v3_ca "/O=tunnelgate test/CN=$a $n CA"
  done
  key $a-int $a
  sign $a-int $a-root $ca_start $ca_end v3_ca "/O=tunnelgate test/CN=$a intermediate CA"
  key $a-otherint $a
  sign $a-otherint $a-other $ca_start $ca_end v3_ca "/O=tunnelgate test/CN=$a other intermediate CA"

  for n in leaf direct noeku clientonly anyeku expired future long nosan kuenc self stranger; do
    key $a-$n $a
  done
  sign $a-leaf $a-int $start $end v3_leaf "/CN=vpn.example.com"
  sign $a-direct $a-root $start $end v3_leaf "/CN=vpn.example.com"
  sign $a-noeku $a-int $start $end v3_noeku "/CN=vpn.example.com"
  sign $a-clientonly $a-int $start $end v3_clientonly "/CN=vpn.example.com"
  sign $a-anyeku $a-int $start $end v3_anyeku "/CN=vpn.example.com"
  sign $a-expired $a-int 20220101000000Z 20230101000000Z v3_leaf "/CN=vpn.example.com"
  sign $a-future $a-int 20250101000000Z 20260101000000Z v3_leaf "/CN=vpn.example.com"
  sign $a-long $a-int $start 20270101000000Z v3_leaf "/CN=vpn.example.com"
  sign $a-nosan $a-int $start $end v3_nosan "/CN=vpn.example.com"
  sign $a-kuenc $a-int $start $end v3_kuenc "/CN=vpn.example.com"
  sign $a-self self $start $end v3_leaf "/CN=vpn.example.com"
  sign $a-stranger $a-otherint $start $end v3_leaf "/CN=vpn.example.com"

  # Bundles: the leaf's file as an operator would upload it.
  cat $a-leaf.pem $a-int.pem $a-root.pem > $a-chain.pem        # ok
  cat $a-root.pem $a-int.pem $a-leaf.pem > $a-reversed.pem     # ok: the key picks the leaf
  cat $a-leaf.pem $a-leaf.key $a-int.pem $a-root.pem > $a-combined.pem  # key in the same file
  cat $a-direct.pem $a-root.pem > $a-direct-chain.pem          # ok: no intermediate
  cat $a-leaf.pem $a-int.pem > $a-noroot.pem                   # warning no_root
  cat $a-leaf.pem $a-int.pem $a-other.pem > $a-rootmismatch.pem  # warning root_mismatch
  cp $a-leaf.pem $a-alone.pem                                  # error no_ca
  cat $a-leaf.pem $a-other.pem > $a-nochain.pem                # error no_chain
  cat $a-stranger.pem $a-int.pem $a-root.pem > $a-strangerchain.pem  # error no_chain
  for n in noeku clientonly anyeku expired future long nosan kuenc; do
    cat $a-$n.pem $a-int.pem $a-root.pem > $a-$n-chain.pem
  done

  # DER key in PKCS#8 and in the traditional form (PKCS#1 / SEC1).
  # (OpenSSL 3.0's `pkey -outform DER` writes the traditional form; pkcs8 -topk8 writes PKCS#8.)
  openssl pkcs8 -topk8 -nocrypt -in $a-leaf.key -outform DER -out $a-leaf.key.der
  openssl pkey -in $a-leaf.key -traditional -out $a-leaf.trad.key
  openssl pkey -in $a-leaf.key -outform DER -out $a-leaf.trad.key.der
  # Encrypted PEM keys: PKCS#8 (PBES2, AES-256-CBC) and traditional (Proc-Type, AES-128-CBC).
  openssl pkcs8 -topk8 -in $a-leaf.key -v2 aes-256-cbc -passout pass:s3cret -out $a-leaf.enc.key
  openssl pkey -in $a-leaf.key -traditional -aes128 -passout pass:s3cret -out $a-leaf.enc-trad.key

  # PKCS#12 of the good chain: OpenSSL 3's default (PBES2 AES-256-CBC, PBKDF2, HMAC-SHA256
  # MAC), -legacy (RC2-40 certificates, 3DES key, SHA-1 MAC) and 3DES everywhere.
  openssl pkcs12 -export -in $a-leaf.pem -inkey $a-leaf.key -certfile <(cat $a-int.pem $a-root.pem) \
    -passout pass:s3cret -out $a-chain.p12
  openssl pkcs12 -export -legacy -in $a-leaf.pem -inkey $a-leaf.key \
    -certfile <(cat $a-int.pem $a-root.pem) -passout pass:s3cret -out $a-chain-legacy.p12
  openssl pkcs12 -export -in $a-leaf.pem -inkey $a-leaf.key -certfile <(cat $a-int.pem $a-root.pem) \
    -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -passout pass:s3cret \
    -out $a-chain-3des.p12
  openssl pkcs12 -export -in $a-leaf.pem -inkey $a-leaf.key -passout pass:s3cret -out $a-alone.p12

  # PKCS#7 certificate bundles (.p7b), DER and PEM.
  openssl crl2pkcs7 -nocrl -certfile $a-chain.pem -outform DER -out $a-chain.p7b
  openssl crl2pkcs7 -nocrl -certfile $a-chain.pem -out $a-chain.p7b.pem
done

# rsa only: a SHA-1 signature and a 1024-bit key.
key rsa-sha1 rsa
sign rsa-sha1 rsa-int $start $end v3_leaf "/CN=vpn.example.com" sha1
cat rsa-sha1.pem rsa-int.pem rsa-root.pem > rsa-sha1-chain.pem
key rsa-weak rsa 1024
sign rsa-weak rsa-int $start $end v3_leaf "/CN=vpn.example.com"
cat rsa-weak.pem rsa-int.pem rsa-root.pem > rsa-weak-chain.pem

# ec only: an intermediate that expired (2020..2023) over a leaf valid in 2024, and a leaf
# that outlives its CA (2024..2045, the CA ends in 2040).
key ec-oldint ec
sign ec-oldint ec-root $ca_start 20230101000000Z v3_ca "/O=tunnelgate test/CN=ec old intermediate CA"
key ec-viaold ec
sign ec-viaold ec-oldint $start $end v3_leaf "/CN=vpn.example.com"
cat ec-viaold.pem ec-oldint.pem ec-root.pem > ec-viaold-chain.pem
key ec-outlive ec
sign ec-outlive ec-int $start 20450101000000Z v3_leaf "/CN=vpn.example.com"
cat ec-outlive.pem ec-int.pem ec-root.pem > ec-outlive-chain.pem
# A SEC1 key without its public key (the loader computes it).
openssl ec -in ec-leaf.key -no_public -out ec-leaf.nopub.key 2> /dev/null

# A key of a type tunnelgate does not serve (Ed25519), a public key, two keys in one file.
q openssl genpkey -algorithm ED25519 -out ed25519.key
q openssl req -x509 -new -key ed25519.key -subj "/CN=vpn.example.com" -days 30 -out ed25519.pem
openssl x509 -in ed25519.pem -outform DER -out ed25519.der
openssl pkey -in ec-leaf.key -pubout -out ec-leaf.pub
cat ec-leaf.key ec-noeku.key > two-keys.pem
# 20 distinct certificates as PEM and PKCS#7 (more than wolfSSL's MAX_PKCS7_CERTS, 15).
for a in ec rsa; do
  for n in root other int otherint leaf direct noeku clientonly anyeku expired; do cat $a-$n.pem; done
done > many.pem
openssl crl2pkcs7 -nocrl -certfile many.pem -outform DER -out many.p7b

# The SPKI pin of each leaf as openconnect --servercert takes it, computed by openssl.
for f in ec-leaf rsa-leaf ec-self rsa-self; do
  echo "pin-sha256:$(openssl x509 -in $f.pem -pubkey -noout | openssl pkey -pubin -outform der |
                     openssl dgst -sha256 -binary | base64)" > $f.pin
done
