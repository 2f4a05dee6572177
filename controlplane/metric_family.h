// Control plane: building prometheus-cpp metric families by hand (the collectors of the
// dataplane's segment and of the auth backend produce families at scrape time).
// Thread-safety: plain values.
#pragma once

#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace tg::controlplane {

using MetricLabels = std::vector<prometheus::ClientMetric::Label>;

/// An empty family.
prometheus::MetricFamily make_family(std::string name, std::string help, prometheus::MetricType type);

/// Appends one sample: the counter, gauge or untyped value, as the family's type says.
void add_sample(prometheus::MetricFamily& f, MetricLabels labels, double value);

/// Appends to `out` a family of one unlabelled sample.
void push_single(std::vector<prometheus::MetricFamily>& out, std::string name, std::string help,
                 prometheus::MetricType type, double value);

}  // namespace tg::controlplane
