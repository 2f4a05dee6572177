// tunnelgate-loadgen-echo: the backend end of tunnelgate-loadgen's traffic (README.md).
//
// A UDP server for the backend namespace. In echo mode it returns every datagram to its
// sender (the session's tunnel address, through the gateway), after writing into the probe
// how many probes of the generator's current run it had received so far; that count tells
// the generator how many of its packets arrived upstream (one generator at a time per echo). In sink mode it only counts. It writes its counters as JSON to
// --stats-file on SIGUSR1 and on exit (SIGINT/SIGTERM). recvmmsg/sendmmsg in bursts of 64.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/loadgen/probe.h"

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_dump = 0;

constexpr unsigned kBurst = 64;
constexpr size_t kMaxDatagram = 9216;

struct Counters {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_probes = 0, tx_packets = 0, tx_errors = 0;
};

void dump(const std::string& path, const Counters& c) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  std::fprintf(f, "{\"rx_packets\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"rx_probes\":%" PRIu64
                  ",\"tx_packets\":%" PRIu64 ",\"tx_errors\":%" PRIu64 "}\n",
               c.rx_packets, c.rx_bytes, c.rx_probes, c.tx_packets, c.tx_errors);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

void usage() {
  std::fputs("usage: tunnelgate-loadgen-echo --listen IP:PORT [--mode echo|sink] [--stats-file PATH]\n", stderr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen, stats_file;
  bool echo = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) listen = argv[++i];
    else if (a == "--mode" && i + 1 < argc) {
      const std::string mode = argv[++i];
      if (mode != "echo" && mode != "sink") { usage(); return 2; }
      echo = mode == "echo";
    } else if (a == "--stats-file" && i + 1 < argc) stats_file = argv[++i];
    else { usage(); return 2; }
  }
  const size_t colon = listen.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, listen.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    usage();
    return 2;
  }
  address.sin_port = htons(static_cast<uint16_t>(std::stoul(listen.substr(colon + 1))));
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int buffer = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  timeval tick{0, 200000};  // wake up to notice signals
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    std::fprintf(stderr, "level=error msg=\"cannot bind\" listen=%s error=\"%s\"\n", listen.c_str(), std::strerror(errno));
    return 1;
  }
  struct sigaction stop{};
  stop.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  struct sigaction dumper{};
  dumper.sa_handler = [](int) { g_dump = 1; };
  sigaction(SIGUSR1, &dumper, nullptr);
  std::fprintf(stderr, "level=info msg=\"listening\" listen=%s mode=%s\n", listen.c_str(), echo ? "echo" : "sink");

  static uint8_t data[kBurst][kMaxDatagram];
  mmsghdr msgs[kBurst]{};
  iovec iov[kBurst]{};
  sockaddr_in peers[kBurst]{};
  Counters c;
  uint32_t run = 0;
  uint64_t run_probes = 0;
  while (!g_stop) {
    if (g_dump) {
      g_dump = 0;
      if (!stats_file.empty()) dump(stats_file, c);
    }
    for (unsigned i = 0; i < kBurst; ++i) {
      iov[i] = {data[i], kMaxDatagram};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
    }
    const int n = recvmmsg(fd, msgs, kBurst, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) {
      ++c.rx_packets;
      c.rx_bytes += msgs[i].msg_len;
      std::span<uint8_t> payload(data[i], msgs[i].msg_len);
      if (const auto probe = tg::loadgen::parse_probe_payload(payload)) {
        ++c.rx_probes;
        if (probe->run != run) {  // a new generator run: count its probes from zero
          run = probe->run;
          run_probes = 0;
        }
        tg::loadgen::set_probe_echo_count(payload, static_cast<uint32_t>(++run_probes));
      }
      iov[i].iov_len = msgs[i].msg_len;
    }
    if (!echo) continue;
    int sent = 0;
    while (sent < n) {
      const int r = sendmmsg(fd, msgs + sent, static_cast<unsigned>(n - sent), 0);
      if (r <= 0) {
        c.tx_errors += static_cast<uint64_t>(n - sent);
        break;
      }
      sent += r;
    }
    c.tx_packets += static_cast<uint64_t>(sent);
  }
  if (!stats_file.empty()) dump(stats_file, c);
  std::fprintf(stderr, "level=info msg=\"stopped\" rx_packets=%" PRIu64 " rx_probes=%" PRIu64 " tx_packets=%" PRIu64 "\n",
               c.rx_packets, c.rx_probes, c.tx_packets);
  close(fd);
  return 0;
}
