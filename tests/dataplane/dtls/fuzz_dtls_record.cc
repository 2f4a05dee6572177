// libFuzzer target: the DTLS record parser the poll lcores run on every UDP payload, then
// on each record the inner-type parser and the AEAD length/AAD builders, as the receive
// stage chains them. Traps on a broken invariant the later stages rely on.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dtls/dtls_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::dtls;
  const std::span<const uint8_t> datagram(data, size);
  size_t offset = 0;
  while (offset < datagram.size()) {
    DtlsRecord record{};
    const DtlsParseError error = dtls_record_parse(datagram, offset, &record);
    if (error != DtlsParseError::kOk) break;  // the rest of the datagram cannot be trusted
    // Invariants: progress, the spans inside the datagram, header + fragment = record.
    if (record.next_offset <= offset || record.next_offset > size) __builtin_trap();
    if (record.record.data() != data + offset) __builtin_trap();
    if (record.record.size() != wire::kRecordHeaderBytes + record.fragment.size()) __builtin_trap();
    if (record.fragment.empty() || record.fragment.size() > wire::kMaxFragmentBytes) __builtin_trap();
    if (record.fragment.data() + record.fragment.size() != data + record.next_offset) __builtin_trap();
    if (record.sequence > wire::kMaxSequence) __builtin_trap();
    // Treat the fragment as if it were the plaintext (the fuzzer has no keys).
    DtlsInner inner{};
    if (dtls_inner_parse(record.fragment, &inner) == DtlsParseError::kOk &&
        inner.payload.size() + 1 != record.fragment.size())
      __builtin_trap();
    size_t plaintext_len = 0;
    if (dtls_aead_plaintext_len(AeadCipher::kAesGcm, record.fragment.size(), &plaintext_len) ==
        DtlsParseError::kOk) {
      const AeadAad aad = dtls_aead_aad(record.epoch, record.sequence, record.type,
                                        record.version, static_cast<uint16_t>(plaintext_len));
      if (aad[aead::kAadTypeOffset] != data[offset]) __builtin_trap();
    }
    offset = record.next_offset;
  }
  return 0;
}
