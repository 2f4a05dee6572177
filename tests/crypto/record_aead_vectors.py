#!/usr/bin/env python3
"""Known-answer vectors for record_aead_test.cc, computed with pyca/cryptography (OpenSSL),
independently of wolfCrypt and of tg_dtls's nonce/AAD helpers: the DTLS 1.2 record layout
of RFC 6347 §4.1 with the AEAD nonce and additional data of RFC 5288 §3 (AES-GCM) and
RFC 7905 §2 (ChaCha20-Poly1305), written out again here from the RFCs.

    python3 tests/crypto/record_aead_vectors.py   # prints the C++ table pasted into the test
"""
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

APP_DATA, DTLS12 = 23, 0xFEFD


def seq_num(epoch, seq):
    return epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")


def record(cipher, key, iv, epoch, seq, plaintext, explicit=None):
    aad = seq_num(epoch, seq) + bytes([APP_DATA]) + DTLS12.to_bytes(2, "big") + \
        len(plaintext).to_bytes(2, "big")
    if cipher == "chacha":
        nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + seq_num(epoch, seq)))
        fragment = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    else:
        if explicit is None:
            explicit = seq_num(epoch, seq)  # what RecordAead::seal sends (RFC 5288 §3)
        fragment = explicit + AESGCM(key).encrypt(iv + explicit, plaintext, aad)
    header = bytes([APP_DATA]) + DTLS12.to_bytes(2, "big") + seq_num(epoch, seq) + \
        len(fragment).to_bytes(2, "big")
    return header + fragment


def hexs(b):
    return "".join("%02x" % x for x in b)


VECTORS = [
    ("AES-128-GCM, IPv4 data", "kAes128Gcm", "gcm", bytes(range(16)), bytes.fromhex("a0a1a2a3"),
     1, 5, bytes.fromhex("00450000140001000040") + b"tunnelgate"),
    ("AES-256-GCM, keepalive", "kAes256Gcm", "gcm", bytes(range(32, 64)), bytes.fromhex("deadbeef"),
     1, 0x0000DEADBEEF, bytes([0x07])),
    ("CHACHA20-POLY1305, DPD", "kChacha20Poly1305", "chacha", bytes(range(64, 96)),
     bytes.fromhex("0c0d0e0f1011121314151617"), 1, 0x123456789ABC, bytes([0x03]) + b"probe" + bytes(10)),
    ("CHACHA20-POLY1305, empty", "kChacha20Poly1305", "chacha", bytes(range(96, 128)),
     bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafb"), 1, 0, b""),
]

for name, enum, cipher, key, iv, epoch, seq, plaintext in VECTORS:
    print('    {"%s", DtlsCipher::%s,' % (name, enum))
    print('     "%s",' % hexs(key))
    print('     "%s", %d, 0x%x,' % (hexs(iv), epoch, seq))
    print('     "%s",' % hexs(plaintext))
    print('     "%s"},' % hexs(record(cipher, key, iv, epoch, seq, plaintext)))

# A peer may send any explicit nonce (RFC 5288 §3 only asks for uniqueness): open() must take
# it from the record. Printed separately: seal() would not produce this record.
key, salt = bytes(range(200, 216)), bytes.fromhex("01020304")
print("peer explicit nonce:")
print('     "%s", "%s",' % (hexs(key), hexs(salt)))
print('     "%s"' % hexs(record("gcm", key, salt, 1, 9, b"\x00peer", explicit=bytes.fromhex("a5a5a5a5a5a5a5a5"))))
