// Helpers shared by the TLS engine tests: generated certificates, child processes
// (openssl, curl), a blocking wolfSSL client, a worker on its own thread, fd counting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/tls/tls_context.h"
#include "dataplane/tls/tls_worker.h"

namespace tg::dp::tls::test {

/// Certificates generated with openssl in a temporary directory once per test binary.
struct TestPki {
  std::string dir;
  std::string ca_pem, ca_key;              // EC P-256 CA
  std::string other_ca_pem;                // an unrelated CA
  std::string server_ec_pem, server_ec_key;    // EC P-256, SAN IP:127.0.0.1, signed by ca
  std::string server_rsa_pem, server_rsa_key;  // RSA-2048, same SAN
  std::string server_ec_der, server_ec_key_der;
  std::string client_pem, client_key, client_der;  // client cert signed by ca
  std::string garbage_pem;                 // a PEM block whose body is not base64 DER
  std::string empty_file;
};

/// The PKI (generated on first use; the directory is removed at exit). Fails the test
/// (and returns nullptr) if openssl is missing or fails.
const TestPki* test_pki();

/// Run argv (argv[0] looked up in PATH) with stdin/stdout/stderr redirected to files
/// ("" = /dev/null). @return the exit status, or -1 on timeout (the child is killed).
int run_command(const std::vector<std::string>& argv, const std::string& stdin_path,
                const std::string& stdout_path, const std::string& stderr_path,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& contents);
/// Hex of bytes, upper case.
std::string to_hex(const uint8_t* data, size_t size);

/// Entries of /proc/self/fd.
int count_open_fds();

/// Poll `done` every 2 ms until true or `timeout`. @return its last value.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A TCP socket connected to 127.0.0.1:port (blocking), or -1.
int connect_tcp(uint16_t port, int rcvbuf = 0, int sndbuf = 0);
/// Wait up to `timeout` for the peer to close `fd` (recv returns 0 or an error).
bool wait_peer_closed(int fd, std::chrono::milliseconds timeout);

/// A blocking wolfSSL client for tests that need both ends in-process.
class TestClient {
 public:
  /// @param version 0 = 1.2 or 1.3; 2 = TLS 1.2 only; 3 = TLS 1.3 only.
  TestClient(uint16_t port, int version = 0, int rcvbuf = 0, int sndbuf = 0);
  ~TestClient();
  bool handshake_ok() const { return ok_; }
  int last_error() const { return last_error_; }
  /// Write all of `data` (blocking). @return false on error.
  bool write_all(const std::string& data);
  /// One wolfSSL_write with a send timeout set on the socket; @return bytes written, 0 if it
  /// would block (the same buffer must then be written again), -1 on error.
  int write_some(const uint8_t* data, int size);
  /// Read until `size` bytes or timeout/close. @return what was read.
  std::string read_exact(size_t size, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// True when the server closed (close_notify or EOF) within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);
  bool export_keying_material(const std::string& label, uint8_t* out, size_t size);
  std::string cipher() const;
  int fd() const { return fd_; }
  void set_send_timeout(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  struct Native;
  std::unique_ptr<Native> native_;
  bool ok_ = false;
  int last_error_ = 0;
};

/// A context + listener + worker on its own thread; stopped and joined on destruction.
class WorkerThread {
 public:
  WorkerThread(const config::TlsConfig& tls, const TlsContextOptions& context_options,
               const TlsWorkerOptions& options, TlsHandler& handler);
  ~WorkerThread();
  bool ok() const { return worker_ != nullptr; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  TlsWorker& worker() { return *worker_; }
  TlsContextHolder& contexts() { return *holder_; }
  const TlsWorkerCounters& counters() const { return worker_->counters(); }
  /// stop() + join (idempotent).
  void stop();

 private:
  std::unique_ptr<TlsContextHolder> holder_;
  std::unique_ptr<TlsWorker> worker_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::string error_;
};

/// Server TLS config with the EC certificate of the test PKI.
config::TlsConfig ec_server_config();
config::TlsConfig rsa_server_config();

}  // namespace tg::dp::tls::test
