#include "tls_test_support.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace tg::dp::tls::test {
namespace {

/// Removes the PKI directory when the test binary exits.
struct PkiHolder {
  TestPki pki;
  bool ok = false;
  ~PkiHolder() {
    if (!pki.dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(pki.dir, ignored);
    }
  }
};

bool openssl(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const int status = run_command(argv, "", "", dir + "/openssl.log");
  if (status != 0) {
    ADD_FAILURE() << "openssl " << args[0] << " failed (" << status
                  << "): " << read_file(dir + "/openssl.log");
  }
  return status == 0;
}

bool make_pki(TestPki& p) {
  char tmpl[] = "/tmp/tg-tls-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return false;
  p.dir = tmpl;
  const std::string& d = p.dir;
  p.ca_pem = d + "/ca.pem";
  p.ca_key = d + "/ca.key";
  p.other_ca_pem = d + "/other-ca.pem";
  p.server_ec_pem = d + "/server-ec.pem";
  p.server_ec_key = d + "/server-ec.key";
  p.server_rsa_pem = d + "/server-rsa.pem";
  p.server_rsa_key = d + "/server-rsa.key";
  p.server_ec_der = d + "/server-ec.der";
  p.server_ec_key_der = d + "/server-ec.key.der";
  p.client_pem = d + "/client.pem";
  p.client_key = d + "/client.key";
  p.client_der = d + "/client.der";
  p.garbage_pem = d + "/garbage.pem";
  p.empty_file = d + "/empty.pem";
  write_file(d + "/server.ext",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  write_file(d + "/client.ext", "extendedKeyUsage=clientAuth\n");
  write_file(p.garbage_pem,
             "-----BEGIN CERTIFICATE-----\nthis is not base64 DER!!\n-----END CERTIFICATE-----\n");
  write_file(p.empty_file, "");
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"};
  auto req = [&](const std::vector<std::string>& key, const std::string& keyout,
                 const std::string& out, const std::string& subject, bool self_signed) {
    std::vector<std::string> args{"req"};
    if (self_signed) args.push_back("-x509");
    args.insert(args.end(), key.begin(), key.end());
    for (const std::string& s :
         {std::string("-nodes"), std::string("-keyout"), keyout, std::string("-out"), out,
          std::string("-subj"), subject, std::string("-days"), std::string("3")}) {
      args.push_back(s);
    }
    return openssl(args, d);
  };
  auto sign = [&](const std::string& csr, const std::string& out, const std::string& ext) {
    return openssl({"x509", "-req", "-in", csr, "-CA", p.ca_pem, "-CAkey", p.ca_key,
                    "-CAcreateserial", "-out", out, "-days", "3", "-extfile", ext},
                   d);
  };
  return req(ec, p.ca_key, p.ca_pem, "/CN=tg-test-ca", true) &&
         req(ec, d + "/other-ca.key", p.other_ca_pem, "/CN=tg-other-ca", true) &&
         req(ec, p.server_ec_key, d + "/server-ec.csr", "/CN=127.0.0.1", false) &&
         sign(d + "/server-ec.csr", p.server_ec_pem, d + "/server.ext") &&
         req({"-newkey", "rsa:2048"}, p.server_rsa_key, d + "/server-rsa.csr", "/CN=127.0.0.1",
             false) &&
         sign(d + "/server-rsa.csr", p.server_rsa_pem, d + "/server.ext") &&
         req(ec, p.client_key, d + "/client.csr", "/CN=alice/UID=alice", false) &&
         sign(d + "/client.csr", p.client_pem, d + "/client.ext") &&
         openssl({"x509", "-in", p.server_ec_pem, "-outform", "DER", "-out", p.server_ec_der}, d) &&
         openssl({"pkey", "-in", p.server_ec_key, "-outform", "DER", "-out", p.server_ec_key_der},
                 d) &&
         openssl({"x509", "-in", p.client_pem, "-outform", "DER", "-out", p.client_der}, d);
}

}  // namespace

const TestPki* test_pki() {
  static PkiHolder holder;
  static bool tried = false;
  if (!tried) {
    tried = true;
    holder.ok = make_pki(holder.pki);
  }
  if (!holder.ok) {
    ADD_FAILURE() << "could not generate the test PKI in " << holder.pki.dir;
    return nullptr;
  }
  return &holder.pki;
}

int run_command(const std::vector<std::string>& argv, const std::string& stdin_path,
                const std::string& stdout_path, const std::string& stderr_path,
                std::chrono::milliseconds timeout) {
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls (this process has other threads).
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string in = stdin_path.empty() ? "/dev/null" : stdin_path;
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  const pid_t pid = ::fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    const int fd_in = ::open(in.c_str(), O_RDONLY);
    const int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd_in < 0 || fd_out < 0 || fd_err < 0) ::_exit(126);
    ::dup2(fd_in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_err, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

std::string to_hex(const uint8_t* data, size_t size) {
  static const char digits[] = "0123456789ABCDEF";
  std::string hex;
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(digits[data[i] >> 4]);
    hex.push_back(digits[data[i] & 15]);
  }
  return hex;
}

int count_open_fds() {
  int count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
    --count;  // the directory's own fd
  }
  return count;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

int connect_tcp(uint16_t port, int rcvbuf, int sndbuf) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool wait_peer_closed(int fd, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset
  }
}

// ------------------------------------------------------------------ TestClient

struct TestClient::Native {
  WOLFSSL_CTX* ctx = nullptr;
  WOLFSSL* ssl = nullptr;
  ~Native() {
    if (ssl != nullptr) wolfSSL_free(ssl);
    if (ctx != nullptr) wolfSSL_CTX_free(ctx);
  }
};

TestClient::TestClient(uint16_t port, int version, int rcvbuf, int sndbuf)
    : native_(std::make_unique<Native>()) {
  const TestPki* pki = test_pki();
  if (pki == nullptr) return;
  WOLFSSL_METHOD* method = version == 2   ? wolfTLSv1_2_client_method()
                           : version == 3 ? wolfTLSv1_3_client_method()
                                          : wolfSSLv23_client_method();
  native_->ctx = wolfSSL_CTX_new(method);
  wolfSSL_CTX_load_verify_locations(native_->ctx, pki->ca_pem.c_str(), nullptr);
  fd_ = connect_tcp(port, rcvbuf, sndbuf);
  if (fd_ < 0) return;
  native_->ssl = wolfSSL_new(native_->ctx);
  wolfSSL_set_fd(native_->ssl, fd_);
  const int ret = wolfSSL_connect(native_->ssl);
  ok_ = ret == WOLFSSL_SUCCESS;
  if (!ok_) last_error_ = wolfSSL_get_error(native_->ssl, ret);
}

TestClient::~TestClient() {
  native_.reset();
  if (fd_ >= 0) ::close(fd_);
}

bool TestClient::write_all(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const int ret = wolfSSL_write(native_->ssl, data.data() + done,
                                  static_cast<int>(data.size() - done));
    if (ret <= 0) return false;
    done += static_cast<size_t>(ret);
  }
  return true;
}

void TestClient::set_send_timeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int TestClient::write_some(const uint8_t* data, int size) {
  const int ret = wolfSSL_write(native_->ssl, data, size);
  if (ret > 0) return ret;
  const int error = wolfSSL_get_error(native_->ssl, ret);
  if (error == WOLFSSL_ERROR_WANT_WRITE || error == WOLFSSL_ERROR_WANT_READ) return 0;
  last_error_ = error;
  return -1;
}

std::string TestClient::read_exact(size_t size, std::chrono::milliseconds timeout) {
  std::string data;
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (data.size() < size && std::chrono::steady_clock::now() < until) {
    if (wolfSSL_pending(native_->ssl) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
    }
    const int n = wolfSSL_read(native_->ssl, buf,
                               static_cast<int>(std::min(sizeof buf, size - data.size())));
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
    } else {
      const int error = wolfSSL_get_error(native_->ssl, n);
      if (error != WOLFSSL_ERROR_WANT_READ) break;
    }
  }
  return data;
}

bool TestClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (std::chrono::steady_clock::now() < until) {
    if (wolfSSL_pending(native_->ssl) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
    }
    const int n = wolfSSL_read(native_->ssl, buf, sizeof buf);
    if (n > 0) continue;
    const int error = wolfSSL_get_error(native_->ssl, n);
    if (error != WOLFSSL_ERROR_WANT_READ) return true;
  }
  return false;
}

bool TestClient::export_keying_material(const std::string& label, uint8_t* out, size_t size) {
  return wolfSSL_export_keying_material(native_->ssl, out, size, label.data(), label.size(),
                                        nullptr, 0, 0) == WOLFSSL_SUCCESS;
}

std::string TestClient::cipher() const {
  const char* name = wolfSSL_get_cipher_name(native_->ssl);
  return name != nullptr ? name : "";
}

// ------------------------------------------------------------------ WorkerThread

WorkerThread::WorkerThread(const config::TlsConfig& tls, const TlsContextOptions& context_options,
                           const TlsWorkerOptions& options, TlsHandler& handler) {
  TlsContextResult context = tls_context_create(tls, context_options);
  if (!context.ok()) {
    error_ = context.error;
    return;
  }
  holder_ = std::make_unique<TlsContextHolder>(context.context);
  ListenResult listener = tls_listen(*config::parse_ip("127.0.0.1"), 0);
  if (!listener.ok()) {
    error_ = listener.error;
    return;
  }
  port_ = listener.port;
  TlsWorkerResult created = TlsWorker::create(options, *holder_, handler, listener.fd);
  if (!created.ok()) {
    error_ = created.error;
    return;
  }
  worker_ = std::move(created.worker);
  thread_ = std::thread([this] { worker_->run(); });
}

WorkerThread::~WorkerThread() { stop(); }

void WorkerThread::stop() {
  if (worker_ != nullptr) worker_->stop();
  if (thread_.joinable()) thread_.join();
}

config::TlsConfig ec_server_config() {
  config::TlsConfig tls;
  if (const TestPki* pki = test_pki()) {
    tls.certificate = pki->server_ec_pem;
    tls.key = pki->server_ec_key;
  }
  return tls;
}

config::TlsConfig rsa_server_config() {
  config::TlsConfig tls;
  if (const TestPki* pki = test_pki()) {
    tls.certificate = pki->server_rsa_pem;
    tls.key = pki->server_rsa_key;
  }
  return tls;
}

}  // namespace tg::dp::tls::test
