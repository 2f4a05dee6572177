// Test support: a wolfSSL DTLS 1.2 endpoint (client or server) with plain-PSK credentials
// over in-memory datagrams, the peer of the code under test. The test moves datagrams:
// what the endpoint sent is taken with take_sent(), what it should receive is given with
// deliver(). No sockets, no clock: retransmissions happen when the test calls timeout().
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct WOLFSSL;
struct WOLFSSL_CTX;

namespace tg::test {

using Datagram = std::vector<uint8_t>;
using Datagrams = std::vector<Datagram>;

/// The 32-byte PSK and the identity openconnect uses (PROTOCOL.md §6.2, §6.3).
inline constexpr char kPskIdentity[] = "psk";

class WolfDtlsEndpoint {
 public:
  enum class Side { kClient, kServer };

  /// @param cipher one wolfSSL suite name (wolfSSL_CTX_set_cipher_list).
  /// @param psk the key the endpoint uses (a client sends identity "psk").
  static std::unique_ptr<WolfDtlsEndpoint> create(Side side, const std::string& cipher,
                                                  std::span<const uint8_t> psk,
                                                  std::string* error);
  ~WolfDtlsEndpoint();

  /// Queues one datagram for the endpoint to receive.
  void deliver(std::span<const uint8_t> datagram);
  void deliver(const Datagrams& datagrams);
  /// Datagrams the endpoint sent since the last call.
  Datagrams take_sent();

  /// One wolfSSL_connect / wolfSSL_accept call over everything queued.
  /// @return 1 when the handshake is done, 0 when it waits for data, else the wolfSSL error.
  int handshake();
  bool done() const { return done_; }

  /// wolfSSL_dtls_got_timeout: retransmits the last flight. @return wolfSSL's result.
  int timeout();

  /// wolfSSL_write of one record. @return true when it was written whole.
  bool write(std::span<const uint8_t> plaintext);
  /// wolfSSL_read of one record from the queued datagrams.
  /// @return the plaintext size, 0 when nothing could be read (dropped, or nothing queued),
  ///         or the negated wolfSSL error.
  int read(std::vector<uint8_t>* plaintext);

  WOLFSSL* native() const { return ssl_; }
  /// The wolfSSL error of the last failing call, as text.
  std::string error_text(int error) const;

 private:
  WolfDtlsEndpoint() = default;
  static int io_recv(WOLFSSL*, char* buf, int size, void* ctx);
  static int io_send(WOLFSSL*, char* buf, int size, void* ctx);
  static unsigned int psk_client(WOLFSSL* ssl, const char* hint, char* identity,
                                 unsigned int identity_len, unsigned char* key,
                                 unsigned int key_len);
  static unsigned int psk_server(WOLFSSL* ssl, const char* identity, unsigned char* key,
                                 unsigned int key_len);

  WOLFSSL_CTX* ctx_ = nullptr;
  WOLFSSL* ssl_ = nullptr;
  Side side_ = Side::kClient;
  std::vector<uint8_t> psk_;
  std::deque<Datagram> inbox_;
  Datagrams sent_;
  bool done_ = false;
};

/// The suites of `candidates` this wolfSSL build has (wolfSSL_get_ciphers), in order.
std::vector<std::string> wolfssl_suites_available(const std::vector<std::string>& candidates);

/// "aabb..." → bytes (test vectors).
std::vector<uint8_t> from_hex(const std::string& hex);
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace tg::test
