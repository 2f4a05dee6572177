#!/usr/bin/env python3
"""tests/netns/hostile_client.py -- what a hostile or broken client sends a gateway, for
tests/netns/hostile.sh. Standard library only (ssl, socket). Each subcommand prints one
result line that the test checks; exit status 0 means "the scenario ran", not "the gateway
behaved": the shell test judges that.

  oversized  HOST PORT BYTES          POST with BYTES of headers  -> "status N" | "closed"
  slow       HOST PORT WAIT_S         half a request line, then silence -> "closed after N s" | "open"
  garbage    HOST PORT                random bytes instead of a TLS ClientHello -> "closed" | "open"
  cstp-lie   HOST PORT USER PASSWORD GROUP KIND
                                      logs in, CONNECTs, then sends a CSTP frame that lies
                                      (KIND: long = length beyond the bytes sent and the MTU,
                                      magic = bad magic, type = unknown type)
                                      -> "connected ADDRESS" then "closed" | "open"
  spoof      IFACE SRC DST N          N ICMP echo requests with source SRC out of tun IFACE
  arp-flood  IFACE TARGET PREFIX N    N ARP requests for TARGET from random senders in PREFIX (/24)
  replay     IFACE DST PORT N WAIT_S  captures N DTLS application records the client sends to
                                      DST:PORT (AF_PACKET, within WAIT_S), then sends the same
                                      frames again, byte for byte -> "replayed N"
"""
import os
import random
import re
import socket
import ssl
import struct
import sys
import time


def tls_connect(host, port, timeout=10):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test bed's own CA; the pin is openconnect's business
    raw = socket.create_connection((host, int(port)), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=host)


def read_until_closed(sock, wait_s):
    """True when the peer closed (or reset) the connection within wait_s seconds."""
    sock.settimeout(0.5)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


def read_http_response(sock):
    """(status, headers dict, body) of one HTTP response with Content-Length (or close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0] if lines else "")
    status = int(m.group(1)) if m else 0
    headers = {}
    cookies = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "set-cookie":
            cookies.append(v.strip())
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    headers["set-cookie"] = cookies
    return status, headers, body


def oversized(host, port, nbytes):
    s = tls_connect(host, port)
    filler = "X-Filler: " + "a" * 1000 + "\r\n"
    req = "POST / HTTP/1.1\r\nHost: %s\r\n" % host + filler * (int(nbytes) // len(filler) + 1)
    req += "Content-Length: 0\r\n\r\n"
    try:
        s.sendall(req.encode())
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    try:
        status, _, _ = read_http_response(s)
    except (ConnectionError, ssl.SSLError, OSError):
        status = 0
    print("status %d" % status if status else "closed")


def slow(host, port, wait_s):
    s = tls_connect(host, port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: ")  # and then nothing, like a slowloris
    t0 = time.monotonic()
    closed = read_until_closed(s, float(wait_s))
    print("closed after %d s" % round(time.monotonic() - t0) if closed else "open")


def garbage(host, port):
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(os.urandom(4096))
    except OSError:
        pass
    print("closed" if read_until_closed(s, 10) else "open")


def login(host, port, user, password, group):
    """Password login and CONNECT, as openconnect does (PROTOCOL.md §3): the tunnel socket,
    the X-CSTP-Address."""
    s = tls_connect(host, port)
    hdr = ("POST / HTTP/1.1\r\nHost: %s\r\nUser-Agent: Open AnyConnect VPN Agent v9.01\r\n"
           "X-Transcend-Version: 1\r\nX-Aggregate-Auth: 1\r\nX-AnyConnect-Platform: linux-64\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" '
            'aggregate-auth-version="2"><version who="vpn">v9.01</version><device-id>linux-64'
            '</device-id><group-select>%s</group-select><auth><username>%s</username>'
            '<password>%s</password></auth></config-auth>' % (group, user, password)).encode()
    s.sendall((hdr % (host, len(body))).encode() + body)
    status, headers, _ = read_http_response(s)
    cookie = None
    for c in headers["set-cookie"]:
        m = re.match(r"webvpn=([^;]+)", c)
        if m and m.group(1):
            cookie = m.group(1)
    if status != 200 or not cookie:
        print("login failed: status %d" % status)
        sys.exit(1)
    s.sendall(("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: %s\r\n"
               "User-Agent: Open AnyConnect VPN Agent v9.01\r\nCookie: webvpn=%s\r\n"
               "X-CSTP-Version: 1\r\nX-CSTP-Hostname: hostile\r\nX-CSTP-Base-MTU: 1500\r\n"
               "X-CSTP-Address-Type: IPv4\r\nX-CSTP-Full-IPv6-Capability: false\r\n\r\n"
               % (host, cookie)).encode())
    status, headers, _ = read_http_response(s)
    if status != 200:
        print("CONNECT failed: status %d" % status)
        sys.exit(1)
    return s, headers.get("x-cstp-address", "?")


def cstp_lie(host, port, user, password, group, kind):
    s, address = login(host, port, user, password, group)
    print("connected %s" % address, flush=True)
    if kind == "long":
        frame = b"STF\x01" + struct.pack(">H", 0xFFFF) + b"\x00\x00" + b"\x45" * 100
    elif kind == "magic":
        frame = b"XYZ\x01" + struct.pack(">H", 20) + b"\x00\x00" + b"\x45" * 20
    elif kind == "type":
        frame = b"STF\x01" + struct.pack(">H", 0) + b"\x42\x00"
    else:
        raise SystemExit("unknown kind " + kind)
    s.sendall(frame)
    print("closed" if read_until_closed(s, 10) else "open")


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    n = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    n = (n >> 16) + (n & 0xFFFF)
    n += n >> 16
    return ~n & 0xFFFF


def spoof(iface, src, dst, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    for i in range(int(n)):
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7467, i) + b"spoofed!" * 4
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        total = 20 + len(icmp)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, i, 0, 64, 1, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        s.sendto(ip + icmp, (dst, 0))
    print("sent %d" % int(n))


def arp_flood(iface, target, prefix, n):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    base = prefix.rsplit(".", 1)[0]
    tgt = socket.inet_aton(target)
    for _ in range(int(n)):
        mac = bytes([0x02]) + os.urandom(5)
        sender = socket.inet_aton("%s.%d" % (base, random.randint(3, 254)))
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + sender + b"\0" * 6 + tgt
        s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
    print("sent %d" % int(n))


def replay(iface, dst, port, n, wait_s):
    """Capture outgoing DTLS application-data records (content type 23) to dst:port on iface,
    then put the very same Ethernet frames on the wire again: a replay an on-path attacker
    could make without any key."""
    eth_p_all = 0x0003
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(eth_p_all))
    s.bind((iface, eth_p_all))
    s.settimeout(0.5)
    want, dst_ip, dport = int(n), socket.inet_aton(dst), int(port)
    frames, end = [], time.monotonic() + float(wait_s)
    while len(frames) < want and time.monotonic() < end:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING or len(frame) < 42 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 17 or frame[30:34] != dst_ip:
            continue
        udp = 14 + ihl
        if struct.unpack("!H", frame[udp + 2:udp + 4])[0] != dport or len(frame) <= udp + 8:
            continue
        if frame[udp + 8] == 23:  # DTLS application data: a tunnel packet
            frames.append(frame)
    for f in frames:
        s.send(f)
    print("replayed %d" % len(frames))


def main(argv):
    cmds = {"oversized": oversized, "slow": slow, "garbage": garbage, "cstp-lie": cstp_lie,
            "spoof": spoof, "arp-flood": arp_flood, "replay": replay}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__)
        return 2
    cmds[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
