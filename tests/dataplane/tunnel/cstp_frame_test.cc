// CSTP framing: a table of bad headers first, then round trips split at every offset and
// the real frames of the trace.
#include "dataplane/tunnel/cstp_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tg::tunnel {
namespace {

constexpr size_t kMtu = 1500;

using Bytes = std::vector<uint8_t>;

Bytes frame(CstpType type, const Bytes& payload) {
  Bytes out(cstp::kHeaderBytes + payload.size());
  EXPECT_EQ(cstp_encode_frame(out, type, payload), out.size());
  return out;
}

Bytes pattern(size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i * 7 + 1);
  return out;
}

struct Decoded {
  CstpType type;
  Bytes payload;
  bool operator==(const Decoded&) const = default;
};

/// Decodes `stream` fed in chunks of the given sizes (the rest in one last chunk).
/// Returns the frames, and the error if one occurred.
std::pair<std::vector<Decoded>, CstpError> decode_chunks(const Bytes& stream,
                                                         const std::vector<size_t>& cuts,
                                                         size_t max_payload = kMtu) {
  CstpDecoder decoder(max_payload);
  std::vector<Decoded> frames;
  size_t pos = 0;
  std::vector<size_t> bounds = cuts;
  bounds.push_back(stream.size());
  for (size_t bound : bounds) {
    std::span<const uint8_t> in(stream.data() + pos, bound - pos);
    pos = bound;
    while (!in.empty()) {
      const CstpDecodeResult r = decoder.decode(in);
      EXPECT_LE(r.consumed, in.size());
      in = in.subspan(r.consumed);
      if (r.status == CstpDecodeStatus::kFrame) {
        frames.push_back({r.type, Bytes(r.payload.begin(), r.payload.end())});
      } else if (r.status == CstpDecodeStatus::kError) {
        return {frames, r.error};
      } else {
        EXPECT_TRUE(in.empty());
      }
    }
  }
  return {frames, CstpError::kNone};
}

struct BadHeader {
  const char* name;
  Bytes header;
  CstpError expected;
};

TEST(CstpFrameMalformed, TableOfBadHeaders) {
  const BadHeader cases[] = {
      {"magic byte 0", {'s', 'T', 'F', 1, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"magic byte 1", {'S', 't', 'F', 1, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"magic byte 2", {'S', 'T', 'f', 1, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"version 0", {'S', 'T', 'F', 0, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"version 2", {'S', 'T', 'F', 2, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"HTTP text", {'H', 'T', 'T', 'P', '/', '1', '.', '1'}, CstpError::kBadMagic},
      {"all zero", {0, 0, 0, 0, 0, 0, 0, 0}, CstpError::kBadMagic},
      {"reserved 1", {'S', 'T', 'F', 1, 0, 0, 0, 1}, CstpError::kReservedNotZero},
      {"reserved ff", {'S', 'T', 'F', 1, 0, 0, 3, 0xff}, CstpError::kReservedNotZero},
      {"type 1", {'S', 'T', 'F', 1, 0, 0, 1, 0}, CstpError::kUnknownType},
      {"type 2", {'S', 'T', 'F', 1, 0, 0, 2, 0}, CstpError::kUnknownType},
      {"type 6", {'S', 'T', 'F', 1, 0, 0, 6, 0}, CstpError::kUnknownType},
      {"type 10", {'S', 'T', 'F', 1, 0, 0, 10, 0}, CstpError::kUnknownType},
      {"type ff", {'S', 'T', 'F', 1, 0, 0, 0xff, 0}, CstpError::kUnknownType},
      {"compressed", {'S', 'T', 'F', 1, 0, 4, 8, 0}, CstpError::kCompressedRejected},
      {"length mtu+1", {'S', 'T', 'F', 1, 0x05, 0xdd, 0, 0}, CstpError::kPayloadTooLarge},
      {"length 65535", {'S', 'T', 'F', 1, 0xff, 0xff, 0, 0}, CstpError::kPayloadTooLarge},
  };
  for (const BadHeader& c : cases) {
    SCOPED_TRACE(c.name);
    const CstpHeader parsed = cstp_parse_header(
        std::span<const uint8_t, cstp::kHeaderBytes>(c.header.data(), cstp::kHeaderBytes), kMtu);
    EXPECT_EQ(parsed.error, c.expected);
    EXPECT_FALSE(cstp_error_name(parsed.error).empty());
    // The decoder reports the same, however the header arrives, and stays in error.
    for (size_t cut = 0; cut <= c.header.size(); ++cut) {
      const auto [frames, error] = decode_chunks(c.header, {cut});
      EXPECT_TRUE(frames.empty());
      EXPECT_EQ(error, c.expected) << "cut " << cut;
    }
    CstpDecoder decoder(kMtu);
    EXPECT_EQ(decoder.decode(c.header).status, CstpDecodeStatus::kError);
    const Bytes good = frame(CstpType::kKeepalive, {});
    const CstpDecodeResult again = decoder.decode(good);
    EXPECT_EQ(again.status, CstpDecodeStatus::kError);
    EXPECT_EQ(again.error, c.expected);
  }
}

TEST(CstpFrameMalformed, ErrorAfterGoodFramesAndTruncationNeedsMore) {
  Bytes stream = frame(CstpType::kData, pattern(84));
  const Bytes bad = {'S', 'T', 'F', 1, 0, 0, 6, 0};
  stream.insert(stream.end(), bad.begin(), bad.end());
  const auto [frames, error] = decode_chunks(stream, {});
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_EQ(error, CstpError::kUnknownType);

  // Any strict prefix of a valid frame is just incomplete.
  const Bytes whole = frame(CstpType::kData, pattern(100));
  for (size_t len = 0; len < whole.size(); ++len) {
    CstpDecoder decoder(kMtu);
    const CstpDecodeResult r = decoder.decode(std::span(whole.data(), len));
    EXPECT_EQ(r.status, CstpDecodeStatus::kNeedMore) << len;
    EXPECT_EQ(r.consumed, len);
    EXPECT_EQ(decoder.buffered_bytes(), len);
  }
}

TEST(CstpFrameMalformed, MaximumIsClampedToOneTlsRecord) {
  CstpDecoder decoder(70000);
  EXPECT_EQ(decoder.max_payload_bytes(), cstp::kMaxPayloadBytes);
  const Bytes header = {'S', 'T', 'F', 1, 0x3f, 0xf9, 0, 0};  // 16377 = max + 1
  EXPECT_EQ(decoder.decode(header).error, CstpError::kPayloadTooLarge);
}

TEST(CstpFrameEncode, BufferAndPayloadBounds) {
  Bytes small(cstp::kHeaderBytes + 3);
  EXPECT_EQ(cstp_encode_frame(small, CstpType::kData, pattern(4)), 0u);
  EXPECT_EQ(cstp_encode_frame(small, CstpType::kData, pattern(3)), small.size());
  Bytes big(cstp::kHeaderBytes + cstp::kMaxPayloadBytes + 1);
  EXPECT_EQ(cstp_encode_frame(big, CstpType::kData, pattern(cstp::kMaxPayloadBytes + 1)), 0u);
  EXPECT_EQ(cstp_encode_disconnect(std::span(small.data(), 9), 0xb0, "x"), 0u);
}

TEST(CstpFrameEncode, HeaderBytes) {
  uint8_t header[cstp::kHeaderBytes];
  cstp_encode_header(header, CstpType::kData, 0x1234);
  const Bytes expected = {0x53, 0x54, 0x46, 0x01, 0x12, 0x34, 0x00, 0x00};
  EXPECT_EQ(Bytes(header, header + cstp::kHeaderBytes), expected);
}

TEST(CstpFrame, RealFramesFromTheTrace) {
  const Bytes dpd_request = {0x53, 0x54, 0x46, 0x01, 0x00, 0x00, 0x03, 0x00};
  const Bytes dpd_response = {0x53, 0x54, 0x46, 0x01, 0x00, 0x00, 0x04, 0x00};
  EXPECT_EQ(frame(CstpType::kDpdRequest, {}), dpd_request);
  EXPECT_EQ(frame(CstpType::kDpdResponse, {}), dpd_response);

  const std::string bye_text = "Aborted by caller";
  // Built from one string: gcc 12 warns (-Warray-bounds, a false positive) on inserting
  // into a vector made from a short initializer list.
  const std::string bye_wire = std::string("\x53\x54\x46\x01\x00\x12\x05\x00\xb0", 9) + bye_text;
  const Bytes bye(bye_wire.begin(), bye_wire.end());
  Bytes built(64);
  built.resize(cstp_encode_disconnect(built, cstp::kDisconnectReasonUserLogout, bye_text));
  EXPECT_EQ(built, bye);

  CstpDecoder decoder(kMtu);
  const CstpDecodeResult r = decoder.decode(bye);
  ASSERT_EQ(r.status, CstpDecodeStatus::kFrame);
  EXPECT_EQ(r.type, CstpType::kDisconnect);
  const CstpDisconnect parsed = cstp_parse_disconnect(r.payload);
  EXPECT_TRUE(parsed.has_reason);
  EXPECT_EQ(parsed.reason, cstp::kDisconnectReasonUserLogout);
  EXPECT_EQ(parsed.text, bye_text);

  EXPECT_FALSE(cstp_parse_disconnect({}).has_reason);  // roaming: temporary disconnect
  const Bytes long_text(1000, 'x');
  EXPECT_EQ(cstp_parse_disconnect(long_text).text.size(), cstp::kMaxDisconnectTextBytes);
}

TEST(CstpFrame, ContiguousFramesAreReturnedWithoutCopy) {
  const Bytes data = frame(CstpType::kData, pattern(84));
  CstpDecoder decoder(kMtu);
  const CstpDecodeResult r = decoder.decode(data);
  ASSERT_EQ(r.status, CstpDecodeStatus::kFrame);
  EXPECT_EQ(r.payload.data(), data.data() + cstp::kHeaderBytes);
  EXPECT_EQ(r.consumed, data.size());
}

TEST(CstpFrame, RoundTripsOfEveryTypeAtEverySplit) {
  const std::vector<Decoded> frames = {
      {CstpType::kData, pattern(84)},       {CstpType::kDpdRequest, {}},
      {CstpType::kDpdResponse, {}},         {CstpType::kKeepalive, {}},
      {CstpType::kData, pattern(1)},        {CstpType::kData, pattern(kMtu)},
      {CstpType::kDisconnect, {0xb0, 'x'}}, {CstpType::kTerminate, {}},
      {CstpType::kDpdRequest, pattern(20)},
  };
  Bytes stream;
  for (const Decoded& f : frames) {
    const Bytes encoded = frame(f.type, f.payload);
    stream.insert(stream.end(), encoded.begin(), encoded.end());
  }
  // Several frames in one read.
  EXPECT_EQ(decode_chunks(stream, {}).first, frames);
  // Split into two reads at every offset.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto [decoded, error] = decode_chunks(stream, {cut});
    ASSERT_EQ(error, CstpError::kNone) << cut;
    ASSERT_EQ(decoded, frames) << cut;
  }
  // One byte per read.
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  EXPECT_EQ(decode_chunks(stream, every).first, frames);
}

TEST(CstpFrame, MaxPayloadIsInclusive) {
  const Bytes at_max = frame(CstpType::kData, pattern(100));
  EXPECT_EQ(decode_chunks(at_max, {}, 100).second, CstpError::kNone);
  EXPECT_EQ(decode_chunks(at_max, {}, 99).second, CstpError::kPayloadTooLarge);
}

}  // namespace
}  // namespace tg::tunnel
