// Control plane: the process modes of tunnelgate-controlplane (main thread).
#pragma once

#include <string>

namespace tg::controlplane {

/// --check-config FILE: load and validate. Prints "FILE: OK" on stdout and returns 0, or
/// prints every ConfigError::to_string() on stderr and returns 1.
int controlplane_check_config(const std::string& path);

/// --config FILE: load the configuration (errors as above, return 1), serve /metrics on
/// metrics.listen (return 1 with a logged error if it cannot bind), then wait on the main
/// thread for SIGINT or SIGTERM and return 0.
///
/// Threads: the calling (main) thread only waits for signals; prometheus-cpp's civetweb
/// threads accept scrapes and run MetricsCollector::Collect().
/// @param version  reported as tunnelgate_build_info{version}.
int controlplane_run(const std::string& path, const std::string& version);

}  // namespace tg::controlplane
