// libFuzzer target: every L2/L3 parser the poll lcores run on outside frames.
#include <cstddef>
#include <cstdint>

#include "dataplane/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::dp;
  const uint32_t len = static_cast<uint32_t>(size > 65535 ? 65535 : size);
  EtherInfo eth;
  if (parse_ether(data, len, &eth) != kPass) return 0;
  const uint8_t* l3 = data + wire::kEtherHdrLen;
  const uint32_t l3_len = len - wire::kEtherHdrLen;
  ArpInfo arp;
  Ipv4Info ip;
  // Both parsers see every frame, whatever its ethertype says.
  (void)parse_arp(l3, l3_len, &arp);
  if (parse_ipv4(l3, l3_len, &ip) == kPass) {
    // Invariants the later stages rely on.
    if (ip.hdr_len < 20 || ip.hdr_len > ip.total_len || ip.total_len > l3_len) __builtin_trap();
    (void)ones_complement_sum(l3 + ip.hdr_len, ip.total_len - ip.hdr_len);
  }
  return 0;
}
