#include "controlplane/metric_family.h"

#include <utility>

namespace tg::controlplane {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily make_family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_sample(MetricFamily& f, MetricLabels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  switch (f.type) {
    case MetricType::Counter:
      m.counter.value = value;
      break;
    case MetricType::Gauge:
      m.gauge.value = value;
      break;
    default:
      m.untyped.value = value;
      break;
  }
  f.metric.push_back(std::move(m));
}

void push_single(std::vector<MetricFamily>& out, std::string name, std::string help, MetricType type,
                 double value) {
  MetricFamily f = make_family(std::move(name), std::move(help), type);
  add_sample(f, {}, value);
  out.push_back(std::move(f));
}

}  // namespace tg::controlplane
