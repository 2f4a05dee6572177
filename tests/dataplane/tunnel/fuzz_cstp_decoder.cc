// libFuzzer: the CSTP stream decoder. The stream is decoded in one piece and again in
// fuzzer-sized chunks; both must yield the same frames and error, and every decoded frame
// must re-encode to the bytes it came from.
// Input: byte 0 picks the maximum payload, byte 1 the chunk size, the rest is the stream.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dataplane/tunnel/cstp_frame.h"

namespace {

using namespace tg::tunnel;

struct Outcome {
  std::vector<std::vector<uint8_t>> frames;  ///< re-encoded frames
  CstpError error = CstpError::kNone;
  bool operator==(const Outcome&) const = default;
};

Outcome run(std::span<const uint8_t> stream, size_t max_payload, size_t chunk) {
  CstpDecoder decoder(max_payload);
  Outcome out;
  for (size_t pos = 0; pos < stream.size() && out.error == CstpError::kNone;) {
    const size_t n = std::min(chunk, stream.size() - pos);
    std::span<const uint8_t> in = stream.subspan(pos, n);
    pos += n;
    while (!in.empty()) {
      const CstpDecodeResult r = decoder.decode(in);
      if (r.consumed > in.size()) std::abort();
      in = in.subspan(r.consumed);
      if (r.status == CstpDecodeStatus::kError) {
        out.error = r.error;
        break;
      }
      if (r.status == CstpDecodeStatus::kNeedMore) {
        if (!in.empty()) std::abort();  // need-more always consumes the whole input
        continue;
      }
      if (r.payload.size() > decoder.max_payload_bytes()) std::abort();
      std::vector<uint8_t> frame(cstp::kHeaderBytes + r.payload.size());
      if (cstp_encode_frame(frame, r.type, r.payload) != frame.size()) std::abort();
      out.frames.push_back(std::move(frame));
    }
    if (decoder.buffered_bytes() > cstp::kHeaderBytes + decoder.max_payload_bytes()) std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPrefixBytes = 2;
  if (size < kPrefixBytes) return 0;
  const size_t max_payload = static_cast<size_t>(data[0]) * 8;
  const size_t chunk = 1 + data[1];
  const std::span<const uint8_t> stream(data + kPrefixBytes, size - kPrefixBytes);

  const Outcome whole = run(stream, max_payload, stream.size() + 1);
  const Outcome pieces = run(stream, max_payload, chunk);
  if (!(whole == pieces)) std::abort();
  // The decoded frames are exactly the stream's prefix.
  size_t offset = 0;
  for (const auto& frame : whole.frames) {
    if (std::memcmp(frame.data(), stream.data() + offset, frame.size()) != 0) std::abort();
    offset += frame.size();
  }
  return 0;
}
