// Helpers shared by the tunnel codec tests: reading the trace files under data/.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace tg::tunnel::test {

/// Contents of tests/dataplane/tunnel/data/<name> (TG_TUNNEL_TEST_DATA is set by meson).
inline std::string read_data_file(std::string_view name) {
  const std::string path = std::string(TG_TUNNEL_TEST_DATA) + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

/// The body of an HTTP message file (after the first blank line).
inline std::string body_of(std::string_view message) {
  const size_t end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? std::string() : std::string(message.substr(end + 4));
}

}  // namespace tg::tunnel::test
