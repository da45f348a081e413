// Registry: families by name, callbacks and hooks, and the two exposition formats.
//
// Formats (https://prometheus.io/docs/instrumenting/exposition_formats/ and the
// OpenMetrics 1.0 specification), as written here:
//  - text 0.0.4: "# HELP name text" (\ and newline escaped), "# TYPE name type",
//    then one line per sample; a counter's family is named with its "_total".
//  - OpenMetrics: the same lines, but a counter's family is named without "_total"
//    (its samples keep it), HELP escapes '"' too, histogram bounds are written as
//    floats ("1.0"), a bucket may carry " # {trace_id="..."} value timestamp", and
//    the exposition ends with "# EOF".
//  - label values escape \, " and newline in both.
#include "orca/metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace orca::metrics {

namespace detail {

std::uint64_t hash_labels(std::span<const std::string_view> values) noexcept {
  // FNV-1a over the values, each followed by a 0xff byte (never in UTF-8), so that
  // ("ab", "c") and ("a", "bc") differ.
  std::uint64_t h = 1469598103934665603ull;
  for (std::string_view v : values) {
    for (char c : v) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
    h ^= 0xffu;
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

std::string clean_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  std::size_t i = 0;
  while (i < v.size()) {
    const auto c = static_cast<unsigned char>(v[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    bool ok = len != 0 && i + len <= v.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(v[i + k]) & 0xc0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
      std::uint32_t cp = c & (0x7f >> len);
      for (std::size_t k = 1; k < len; ++k)
        cp = cp << 6 | (static_cast<unsigned char>(v[i + k]) & 0x3f);
      ok = !((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
             (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff);
    }
    if (ok) {
      out.append(v.substr(i, len));
      i += len;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
    }
  }
  return out;
}

void throw_label_count(std::string_view family, std::size_t want, std::size_t got) {
  throw std::invalid_argument("metric " + std::string(family) + ": " + std::to_string(got) +
                              " label values for " + std::to_string(want) + " labels");
}

}  // namespace detail

namespace {

bool valid_name(std::string_view s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out.append("NaN");
  } else if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A bucket bound: OpenMetrics wants a float's form ("1.0"), text 0.0.4 takes "1".
void append_bound(std::string& out, double v, Format f) {
  const std::size_t at = out.size();
  append_number(out, v);
  if (f == Format::kOpenMetrics && std::isfinite(v) &&
      out.find_first_of(".e", at) == std::string::npos)
    out.append(".0");
}

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '\n')
      out.append("\\n");
    else if (c == '"' && quote)
      out.append("\\\"");
    else
      out.push_back(c);
  }
}

// {a="x",b="y"} plus an extra (le) label, or nothing without labels.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out.push_back('{');
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(names[i]).append("=\"");
    append_escaped(out, i < values.size() ? values[i] : std::string_view(), true);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out.push_back(',');
    out.append(extra_name).append("=\"").append(extra_value).push_back('"');
  }
  out.push_back('}');
}

bool labels_less(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a < b;
}

}  // namespace

Format negotiate(std::string_view accept) noexcept {
  // Each media range: "type/subtype;param=v;q=0.5", separated by commas.
  while (!accept.empty()) {
    const std::size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    while (!range.empty() && range.front() == ' ')
      range.remove_prefix(1);
    if (!range.starts_with("application/openmetrics-text")) continue;
    const std::size_t q = range.find("q=");
    if (q != std::string_view::npos) {
      std::string_view qv = range.substr(q + 2);
      double weight = 1;
      (void)std::from_chars(qv.data(), qv.data() + qv.size(), weight);
      if (weight <= 0) continue;
    }
    return Format::kOpenMetrics;
  }
  return Format::kPrometheusText;
}

std::string_view content_type(Format format) noexcept {
  return format == Format::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

struct Registry::Entry {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::string> labels;
  std::vector<double> bounds;                  // histograms
  std::unique_ptr<detail::FamilyBase> family;  // null: callbacks only (so far)
  std::map<std::uint64_t, Collect> callbacks;
};

Registry::Registry() = default;
Registry::~Registry() = default;

void Registration::reset() noexcept {
  if (registry_ != nullptr) registry_->remove(id_);
  registry_ = nullptr;
}

Registry::Entry& Registry::entry(std::string&& name, std::string&& help, MetricType type,
                                 std::vector<std::string>&& labels,
                                 const std::vector<double>* bounds) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("metric " + name + ": " + why);
  };
  if (!valid_name(name, true)) throw bad("not a valid metric name");
  if (type == MetricType::kCounter && !name.ends_with("_total"))
    throw bad("a counter's name must end with _total");
  for (const std::string& l : labels) {
    if (!valid_name(l, false) || l.starts_with("__")) throw bad("bad label name \"" + l + "\"");
    if (type == MetricType::kHistogram && l == "le") throw bad("\"le\" is a histogram's own label");
    if (std::count(labels.begin(), labels.end(), l) > 1) throw bad("label " + l + " given twice");
  }
  if (bounds != nullptr) check_buckets(*bounds);
  // Caller holds mu_.
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    Entry& e = *it->second;
    if (e.type != type || e.labels != labels || (bounds != nullptr && e.bounds != *bounds))
      throw bad("already registered with another type, labels or buckets");
    return e;
  }
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = std::move(help);
  e->type = type;
  e->labels = std::move(labels);
  if (bounds != nullptr) e->bounds = *bounds;
  Entry& ref = *e;
  entries_.emplace(std::move(name), std::move(e));
  return ref;
}

namespace {

template <class M>
Family<M>& family_of(std::unique_ptr<detail::FamilyBase>& slot, const std::string& name,
                     const std::vector<std::string>& labels, FamilyOptions options,
                     const std::vector<double>& bounds) {
  (void)bounds;  // histograms only
  if (!slot) {
    if constexpr (std::is_same_v<M, Histogram>)
      slot = std::make_unique<Family<M>>(name, labels, options,
                                         std::make_shared<const std::vector<double>>(bounds));
    else
      slot = std::make_unique<Family<M>>(name, labels, options);
  }
  return static_cast<Family<M>&>(*slot);
}

}  // namespace

Family<Counter>& Registry::counter_family(std::string name, std::string help,
                                          std::vector<std::string> labels, FamilyOptions options) {
  std::lock_guard lock(mu_);
  Entry& e =
      entry(std::move(name), std::move(help), MetricType::kCounter, std::move(labels), nullptr);
  return family_of<Counter>(e.family, e.name, e.labels, options, e.bounds);
}

Counter& Registry::counter(std::string name, std::string help) {
  return counter_family(std::move(name), std::move(help), {}).with({});
}

Family<Gauge>& Registry::gauge_family(std::string name, std::string help,
                                      std::vector<std::string> labels, FamilyOptions options) {
  std::lock_guard lock(mu_);
  Entry& e =
      entry(std::move(name), std::move(help), MetricType::kGauge, std::move(labels), nullptr);
  return family_of<Gauge>(e.family, e.name, e.labels, options, e.bounds);
}

Gauge& Registry::gauge(std::string name, std::string help) {
  return gauge_family(std::move(name), std::move(help), {}).with({});
}

Family<Histogram>& Registry::histogram_family(std::string name, std::string help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds, FamilyOptions options) {
  std::lock_guard lock(mu_);
  Entry& e =
      entry(std::move(name), std::move(help), MetricType::kHistogram, std::move(labels), &bounds);
  return family_of<Histogram>(e.family, e.name, e.labels, options, e.bounds);
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
  return histogram_family(std::move(name), std::move(help), {}, std::move(bounds)).with({});
}

Registration Registry::callback(std::string name, std::string help, MetricType type,
                                std::vector<std::string> labels, Collect collect) {
  if (type == MetricType::kHistogram)
    throw std::invalid_argument("metric " + name + ": callbacks report counters or gauges");
  std::lock_guard lock(mu_);
  Entry& e = entry(std::move(name), std::move(help), type, std::move(labels), nullptr);
  const std::uint64_t id = next_id_++;
  e.callbacks.emplace(id, std::move(collect));
  return Registration(this, id);
}

Registration Registry::before_scrape(std::function<Task<void>(Context)> hook) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  hooks_.emplace(id, std::move(hook));
  return Registration(this, id);
}

void Registry::remove(std::uint64_t id) noexcept {
  std::lock_guard lock(mu_);
  if (hooks_.erase(id) != 0) return;
  for (auto& [name, e] : entries_)
    if (e->callbacks.erase(id) != 0) return;
}

Task<void> Registry::refresh(Context ctx) {
  std::vector<std::function<Task<void>(Context)>> hooks;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, hook] : hooks_)
      hooks.push_back(hook);
  }
  for (auto& hook : hooks) {
    try {
      // A named local: the task is built outside the co_await operand (GCC PR 101367).
      Task<void> run = hook(ctx);
      co_await std::move(run);
    } catch (...) {
      // A scrape shows what it has.
    }
  }
}

namespace {

// The series of a family as (labels, writer) pairs, sorted by labels.
template <class M, class Write>
void for_each_series(const detail::FamilyBase* base, Write&& write) {
  const auto& family = static_cast<const Family<M>&>(*base);
  auto series = family.all();
  std::stable_sort(series.begin(), series.end(),
                   [](const auto* a, const auto* b) { return labels_less(a->values, b->values); });
  for (const auto* s : series)
    write(s->values, s->metric);
}

void append_histogram(std::string& out, const std::string& name,
                      const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const Histogram& h, Format f) {
  const HistogramSnapshot snap = h.snapshot();
  std::string le;
  for (std::size_t b = 0; b < snap.buckets.size(); ++b) {
    le.clear();
    if (b < snap.bounds.size())
      append_bound(le, snap.bounds[b], f);
    else
      le = "+Inf";
    out.append(name).append("_bucket");
    append_labels(out, names, values, "le", le);
    out.push_back(' ');
    append_number(out, snap.buckets[b]);
    if (f == Format::kOpenMetrics && snap.exemplars[b]) {
      const Exemplar& x = *snap.exemplars[b];
      out.append(" # {trace_id=\"");
      append_escaped(out, x.trace_id, true);
      out.append("\"} ");
      append_number(out, x.value);
      out.push_back(' ');
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, x.timestamp, std::chars_format::fixed, 3);
      out.append(buf, r.ptr);
    }
    out.push_back('\n');
  }
  out.append(name).append("_sum");
  append_labels(out, names, values);
  out.push_back(' ');
  append_number(out, snap.sum);
  out.push_back('\n');
  out.append(name).append("_count");
  append_labels(out, names, values);
  out.push_back(' ');
  append_number(out, snap.count);
  out.push_back('\n');
}

}  // namespace

std::string Registry::render(Format f) const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& named : entries_) {
    // Plain references, not structured bindings: clang 14 cannot capture those.
    const std::string& name = named.first;
    const Entry* e = named.second.get();
    std::vector<Sample> samples;
    for (const auto& [id, collect] : e->callbacks) {
      try {
        collect(samples);
      } catch (...) {
        // A callback that fails adds nothing; the rest of the scrape stands.
      }
    }
    std::string_view family_name = name;
    if (f == Format::kOpenMetrics && e->type == MetricType::kCounter)
      family_name.remove_suffix(std::string_view("_total").size());
    out.append("# HELP ").append(family_name).push_back(' ');
    append_escaped(out, e->help, f == Format::kOpenMetrics);
    out.append("\n# TYPE ").append(family_name).push_back(' ');
    out.append(type_name(e->type)).push_back('\n');
    const detail::FamilyBase* fam = e->family.get();
    switch (e->type) {
      case MetricType::kCounter:
        if (fam)
          for_each_series<Counter>(fam, [&](const auto& values, const Counter& c) {
            out.append(name);
            append_labels(out, e->labels, values);
            out.push_back(' ');
            append_number(out, c.value());
            out.push_back('\n');
          });
        break;
      case MetricType::kGauge:
        if (fam)
          for_each_series<Gauge>(fam, [&](const auto& values, const Gauge& g) {
            out.append(name);
            append_labels(out, e->labels, values);
            out.push_back(' ');
            append_number(out, g.value());
            out.push_back('\n');
          });
        break;
      case MetricType::kHistogram:
        if (fam)
          for_each_series<Histogram>(fam, [&](const auto& values, const Histogram& h) {
            append_histogram(out, name, e->labels, values, h, f);
          });
        break;
    }
    std::stable_sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
      return labels_less(a.labels, b.labels);
    });
    for (Sample& s : samples) {
      for (std::string& v : s.labels)
        v = detail::clean_label_value(v);
      out.append(name);
      append_labels(out, e->labels, s.labels);
      out.push_back(' ');
      append_number(out, s.value);
      out.push_back('\n');
    }
  }
  if (f == Format::kOpenMetrics) out.append("# EOF\n");
  return out;
}

}  // namespace orca::metrics
