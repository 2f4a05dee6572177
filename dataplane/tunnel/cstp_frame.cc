// CSTP frame encoder and incremental decoder (see cstp_frame.h).
#include "dataplane/tunnel/cstp_frame.h"

#include <algorithm>
#include <cstring>

namespace tg::tunnel {
namespace {

constexpr unsigned kBitsPerByte = 8;
constexpr uint8_t kByteMask = 0xff;

bool type_known(uint8_t raw) {
  switch (static_cast<CstpType>(raw)) {
    case CstpType::kData:
    case CstpType::kDpdRequest:
    case CstpType::kDpdResponse:
    case CstpType::kDisconnect:
    case CstpType::kKeepalive:
    case CstpType::kCompressed:
    case CstpType::kTerminate:
      return true;
  }
  return false;
}

}  // namespace

std::string_view cstp_error_name(CstpError error) {
  switch (error) {
    case CstpError::kNone: return "none";
    case CstpError::kBadMagic: return "bad_magic";
    case CstpError::kReservedNotZero: return "reserved_not_zero";
    case CstpError::kUnknownType: return "unknown_type";
    case CstpError::kCompressedRejected: return "compressed_rejected";
    case CstpError::kPayloadTooLarge: return "payload_too_large";
    case CstpError::kOutputTooSmall: return "output_too_small";
  }
  return "unknown";
}

void cstp_encode_header(uint8_t out[cstp::kHeaderBytes], CstpType type, uint16_t payload_len) {
  std::memcpy(out, cstp::kMagic, sizeof(cstp::kMagic));
  out[cstp::kLengthOffset] = static_cast<uint8_t>(payload_len >> kBitsPerByte);
  out[cstp::kLengthOffset + 1] = static_cast<uint8_t>(payload_len & kByteMask);
  out[cstp::kTypeOffset] = static_cast<uint8_t>(type);
  out[cstp::kReservedOffset] = 0;
}

size_t cstp_encode_frame(std::span<uint8_t> out, CstpType type,
                         std::span<const uint8_t> payload) {
  if (payload.size() > cstp::kMaxPayloadBytes) return 0;
  const size_t total = cstp::kHeaderBytes + payload.size();
  if (out.size() < total) return 0;
  cstp_encode_header(out.data(), type, static_cast<uint16_t>(payload.size()));
  if (!payload.empty()) std::memcpy(out.data() + cstp::kHeaderBytes, payload.data(), payload.size());
  return total;
}

size_t cstp_encode_disconnect(std::span<uint8_t> out, uint8_t reason, std::string_view text) {
  const size_t text_len = std::min(text.size(), cstp::kMaxDisconnectTextBytes);
  const size_t payload_len = 1 + text_len;
  const size_t total = cstp::kHeaderBytes + payload_len;
  if (out.size() < total) return 0;
  cstp_encode_header(out.data(), CstpType::kDisconnect, static_cast<uint16_t>(payload_len));
  out[cstp::kHeaderBytes] = reason;
  if (text_len > 0) std::memcpy(out.data() + cstp::kHeaderBytes + 1, text.data(), text_len);
  return total;
}

CstpHeader cstp_parse_header(std::span<const uint8_t, cstp::kHeaderBytes> header,
                             size_t max_payload_bytes) {
  CstpHeader parsed;
  if (std::memcmp(header.data(), cstp::kMagic, sizeof(cstp::kMagic)) != 0) {
    parsed.error = CstpError::kBadMagic;
    return parsed;
  }
  if (header[cstp::kReservedOffset] != 0) {
    parsed.error = CstpError::kReservedNotZero;
    return parsed;
  }
  const uint8_t raw_type = header[cstp::kTypeOffset];
  if (!type_known(raw_type)) {
    parsed.error = CstpError::kUnknownType;
    return parsed;
  }
  if (static_cast<CstpType>(raw_type) == CstpType::kCompressed) {
    parsed.error = CstpError::kCompressedRejected;
    return parsed;
  }
  parsed.payload_len = static_cast<uint16_t>((header[cstp::kLengthOffset] << kBitsPerByte) |
                                             header[cstp::kLengthOffset + 1]);
  if (parsed.payload_len > max_payload_bytes) {
    parsed.error = CstpError::kPayloadTooLarge;
    return parsed;
  }
  parsed.type = static_cast<CstpType>(raw_type);
  return parsed;
}

CstpDisconnect cstp_parse_disconnect(std::span<const uint8_t> payload) {
  CstpDisconnect bye;
  if (payload.empty()) return bye;
  bye.has_reason = true;
  bye.reason = payload[0];
  const size_t text_len = std::min(payload.size() - 1, cstp::kMaxDisconnectTextBytes);
  bye.text = std::string_view(reinterpret_cast<const char*>(payload.data() + 1), text_len);
  return bye;
}

CstpDecoder::CstpDecoder(size_t max_payload_bytes)
    : max_payload_bytes_(std::min(max_payload_bytes, cstp::kMaxPayloadBytes)) {}

CstpDecodeResult CstpDecoder::fail(CstpError error, size_t consumed) {
  error_ = error;
  partial_.clear();
  CstpDecodeResult result;
  result.status = CstpDecodeStatus::kError;
  result.error = error;
  result.consumed = consumed;
  return result;
}

CstpDecodeResult CstpDecoder::decode(std::span<const uint8_t> input) {
  if (error_ != CstpError::kNone) return fail(error_, 0);

  CstpDecodeResult result;
  if (partial_.empty()) {
    // Fast path: a whole frame at the front of the input is returned in place.
    if (input.size() >= cstp::kHeaderBytes) {
      const CstpHeader header =
          cstp_parse_header(input.first<cstp::kHeaderBytes>(), max_payload_bytes_);
      if (header.error != CstpError::kNone) return fail(header.error, 0);
      const size_t total = cstp::kHeaderBytes + header.payload_len;
      if (input.size() >= total) {
        result.status = CstpDecodeStatus::kFrame;
        result.type = header.type;
        result.payload = input.subspan(cstp::kHeaderBytes, header.payload_len);
        result.consumed = total;
        return result;
      }
    }
  }

  // Slow path: assemble the frame in partial_. First complete the header...
  size_t used = 0;
  if (partial_.size() < cstp::kHeaderBytes) {
    const size_t take = std::min(cstp::kHeaderBytes - partial_.size(), input.size());
    partial_.insert(partial_.end(), input.begin(), input.begin() + static_cast<ptrdiff_t>(take));
    used += take;
    if (partial_.size() < cstp::kHeaderBytes) {
      result.consumed = used;
      return result;  // kNeedMore
    }
  }
  const CstpHeader header = cstp_parse_header(
      std::span<const uint8_t, cstp::kHeaderBytes>(partial_.data(), cstp::kHeaderBytes),
      max_payload_bytes_);
  if (header.error != CstpError::kNone) return fail(header.error, used);

  // ...then the payload, never more than this frame needs.
  const size_t total = cstp::kHeaderBytes + header.payload_len;
  partial_.reserve(total);  // one allocation per assembled frame, of its size
  const size_t take = std::min(total - partial_.size(), input.size() - used);
  partial_.insert(partial_.end(), input.begin() + static_cast<ptrdiff_t>(used),
                  input.begin() + static_cast<ptrdiff_t>(used + take));
  used += take;
  result.consumed = used;
  if (partial_.size() < total) return result;  // kNeedMore

  frame_.swap(partial_);
  std::vector<uint8_t>().swap(partial_);  // hold one frame's buffer, not two
  result.status = CstpDecodeStatus::kFrame;
  result.type = header.type;
  result.payload = std::span<const uint8_t>(frame_).subspan(cstp::kHeaderBytes);
  return result;
}

}  // namespace tg::tunnel
