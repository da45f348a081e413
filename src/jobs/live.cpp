// The center's live view (live.hpp): series buckets, the event fan-out, the span
// store and its OTLP/HTTP JSON reader, and the broker poll that feeds the events.
//
// Invariant of a StatsSeries queue: its closed points are in time order, each
// within the hour before the newest bucket seen, and its open bucket (if any) is
// later than every closed one.
#include "orca/jobs/live.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "orca/jobs/json.hpp"
#include "orca/jobs/queue_status.hpp"
#include "orca/runtime/sleep.hpp"

namespace orca::jobs {

using nlohmann::json;

namespace {

constexpr std::int64_t kIntervalMs = StatsSeries::kInterval.count();

std::int64_t bucket_of(WallClock::time_point t) {
  const std::int64_t ms = to_unix_ms(t);
  return ms - ((ms % kIntervalMs) + kIntervalMs) % kIntervalMs;  // floor, negatives too
}

// Nearest rank: the smallest sample with at least `p` of them at or below it.
std::optional<double> percentile(std::vector<double>& v, double p) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[rank == 0 ? 0 : rank - 1];
}

json optional_ms(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v * 1000.0) / 1000.0;  // microseconds are enough
}

}  // namespace

json to_json(const SeriesPoint& p) {
  return json{{"t", p.t_ms},
              {"finished", p.finished},
              {"failed", p.failed},
              {"wait_p50_ms", optional_ms(p.wait_p50_ms)},
              {"wait_p99_ms", optional_ms(p.wait_p99_ms)},
              {"run_p50_ms", optional_ms(p.run_p50_ms)},
              {"run_p99_ms", optional_ms(p.run_p99_ms)}};
}

void StatsSeries::Samples::add(double v, std::uint64_t& rng) {
  ++seen;
  if (kept.size() < kSamples) {
    kept.push_back(v);
    return;
  }
  // xorshift64: reservoir sampling needs uniform picks, not good randomness.
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  const std::uint64_t j = rng % seen;
  if (j < kSamples) kept[j] = v;
}

void StatsSeries::close_before(Queue& q, std::int64_t bucket) const {
  if (q.open_t != 0 && q.open_t < bucket) {
    q.open.finished = std::max(q.open.finished, q.fleet_finished);
    q.open.failed = std::max(q.open.failed, q.fleet_failed);
    q.fleet_finished = q.fleet_failed = 0;
    q.open.wait_p50_ms = percentile(q.wait.kept, 0.50);
    q.open.wait_p99_ms = percentile(q.wait.kept, 0.99);
    q.open.run_p50_ms = percentile(q.run.kept, 0.50);
    q.open.run_p99_ms = percentile(q.run.kept, 0.99);
    q.closed.push_back(q.open);
    q.open = SeriesPoint();
    q.open_t = 0;
    q.wait = Samples();
    q.run = Samples();
  }
  const std::int64_t oldest = bucket - static_cast<std::int64_t>(kPoints) * kIntervalMs;
  while (!q.closed.empty() && q.closed.front().t_ms < oldest)
    q.closed.pop_front();
}

StatsSeries::Queue* StatsSeries::open_bucket(std::string_view queue, std::int64_t bucket) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) {
    if (queues_.size() >= max_queues_) {
      ++dropped_;
      return nullptr;
    }
    it = queues_.emplace(std::string(queue), Queue()).first;
  }
  Queue& q = it->second;
  close_before(q, bucket);
  if (q.open_t == 0) {
    // A late sample (its bucket already closed) counts in the open one.
    q.open_t = q.closed.empty() ? bucket : std::max(bucket, q.closed.back().t_ms + kIntervalMs);
    q.open.t_ms = q.open_t;
  }
  return &q;
}

void StatsSeries::record(std::string_view queue, WallClock::time_point at, bool failed,
                         std::optional<std::chrono::duration<double, std::milli>> wait,
                         std::optional<std::chrono::duration<double, std::milli>> run) {
  std::lock_guard lock(mu_);
  Queue* q = open_bucket(queue, bucket_of(at));
  if (q == nullptr) return;
  ++q->open.finished;
  if (failed) ++q->open.failed;
  if (wait) q->wait.add(std::max(0.0, wait->count()), rng_);
  if (run) q->run.add(std::max(0.0, run->count()), rng_);
}

void StatsSeries::record_fleet(std::string_view queue, WallClock::time_point at,
                               std::uint64_t finished, std::uint64_t failed) {
  std::lock_guard lock(mu_);
  Queue* q = open_bucket(queue, bucket_of(at));
  if (q == nullptr) return;
  q->fleet_finished += finished;
  q->fleet_failed += failed;
}

void StatsSeries::record_latency(std::string_view queue, WallClock::time_point at,
                                 std::optional<std::chrono::duration<double, std::milli>> wait,
                                 std::optional<std::chrono::duration<double, std::milli>> run) {
  std::lock_guard lock(mu_);
  Queue* q = open_bucket(queue, bucket_of(at));
  if (q == nullptr) return;
  if (wait) q->wait.add(std::max(0.0, wait->count()), rng_);
  if (run) q->run.add(std::max(0.0, run->count()), rng_);
}

std::map<std::string, std::vector<SeriesPoint>> StatsSeries::points(
    WallClock::time_point now, std::chrono::milliseconds span) const {
  const std::int64_t bucket = bucket_of(now);
  const std::int64_t n =
      std::clamp<std::int64_t>(span.count() / kIntervalMs, 0, static_cast<std::int64_t>(kPoints));
  std::map<std::string, std::vector<SeriesPoint>> out;
  std::lock_guard lock(mu_);
  for (auto& [name, q] : queues_) {
    close_before(q, bucket);
    if (q.closed.empty() && q.open_t == 0) continue;  // nothing within the hour
    std::vector<SeriesPoint>& points = out[name];
    auto c = q.closed.begin();
    for (std::int64_t t = bucket - n * kIntervalMs; t < bucket; t += kIntervalMs) {
      while (c != q.closed.end() && c->t_ms < t)
        ++c;
      if (c != q.closed.end() && c->t_ms == t) {
        points.push_back(*c);
      } else {
        SeriesPoint zero;
        zero.t_ms = t;
        points.push_back(zero);
      }
    }
  }
  return out;
}

std::map<std::string, SeriesPoint> StatsSeries::latest(WallClock::time_point now) const {
  std::map<std::string, SeriesPoint> out;
  for (auto& [name, points] : points(now, kInterval))
    if (!points.empty()) out.emplace(name, points.back());
  return out;
}

std::uint64_t StatsSeries::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

std::shared_ptr<EventHub::Subscriber> EventHub::subscribe() {
  std::lock_guard lock(mu_);
  if (subs_.size() >= options_.max_subscribers) return nullptr;
  subs_.push_back(std::make_shared<Subscriber>(std::max<std::size_t>(options_.max_pending, 1)));
  return subs_.back();
}

void EventHub::unsubscribe(const std::shared_ptr<Subscriber>& s) {
  if (!s) return;
  std::lock_guard lock(mu_);
  std::erase(subs_, s);
  (void)s->queue.close();
}

void EventHub::publish(std::string_view name, std::string_view data) {
  std::string event("event: ");
  event.append(name).append("\ndata: ").append(data).append("\n\n");
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [&](const std::shared_ptr<Subscriber>& s) {
    if (s->queue.try_send(event)) return false;
    // Full: the subscriber is max_pending events behind. Closing its queue ends its
    // stream once it has read what is queued; it reconnects to a fresh state.
    (void)s->queue.close();
    ++dropped_;
    return true;
  });
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

std::uint64_t EventHub::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

json to_json(const StoredSpan& s) {
  json out{{"trace_id", s.trace_id},
           {"span_id", s.span_id},
           {"parent_span_id", s.parent_span_id.empty() ? json(nullptr) : json(s.parent_span_id)},
           {"name", s.name},
           {"service", s.service},
           {"start_ms", s.start_ms},
           {"end_ms", s.end_ms},
           {"status", s.status},
           {"attributes", s.attributes}};
  if (!s.status_message.empty()) out["status_message"] = s.status_message;
  return out;
}

void SpanStore::add(StoredSpan span) {
  std::lock_guard lock(mu_);
  spans_.push_back(std::move(span));
  while (spans_.size() > max_spans_)
    spans_.pop_front();
}

std::vector<StoredSpan> SpanStore::trace(std::string_view trace_id) const {
  std::vector<StoredSpan> out;
  {
    std::lock_guard lock(mu_);
    for (const StoredSpan& s : spans_)
      if (s.trace_id == trace_id) out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(), [](const StoredSpan& a, const StoredSpan& b) {
    return a.start_ms < b.start_ms;
  });
  return out;
}

std::size_t SpanStore::size() const {
  std::lock_guard lock(mu_);
  return spans_.size();
}

namespace {

// Whole milliseconds exactly, the rest as a fraction (a double holds nanoseconds
// since 1970 only to about 256 ns).
double unix_nano_to_ms(std::int64_t ns) {
  return static_cast<double>(ns / 1'000'000) + static_cast<double>(ns % 1'000'000) / 1e6;
}

Error bad_otlp(std::string where, std::string_view what) {
  where.append(": ").append(what);
  return Error(std::make_error_code(std::errc::invalid_argument), std::move(where));
}

// Lowercase hex of exactly `digits` digits, not all zero; nothing otherwise.
std::optional<std::string> hex_id(const json& v, std::size_t digits) {
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  if (s.size() != digits) return std::nullopt;
  bool nonzero = false;
  for (char& c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    nonzero = nonzero || c != '0';
  }
  if (!nonzero) return std::nullopt;
  return s;
}

// OTLP's 64-bit integers are JSON strings (the protobuf mapping) or numbers.
std::optional<std::int64_t> otlp_int(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  std::int64_t n = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return n;
}

// An AnyValue as plain JSON: its one known member's value; an unknown kind as is.
json any_value(const json& v) {
  if (!v.is_object()) return nullptr;
  if (auto it = v.find("stringValue"); it != v.end()) return *it;
  if (auto it = v.find("boolValue"); it != v.end()) return *it;
  if (auto it = v.find("doubleValue"); it != v.end()) return *it;
  if (auto it = v.find("intValue"); it != v.end()) {
    if (auto n = otlp_int(*it)) return *n;
    return *it;
  }
  if (auto it = v.find("arrayValue"); it != v.end() && it->is_object()) {
    json out = json::array();
    if (auto values = it->find("values"); values != it->end() && values->is_array())
      for (const json& e : *values)
        out.push_back(any_value(e));
    return out;
  }
  return v;
}

// `attributes` (a KeyValue list) as an object; entries without a string key are
// skipped (tolerated, like unknown fields).
json attributes_of(const json& list) {
  json out = json::object();
  if (!list.is_array()) return out;
  for (const json& kv : list) {
    if (!kv.is_object()) continue;
    auto key = kv.find("key");
    if (key == kv.end() || !key->is_string()) continue;
    auto value = kv.find("value");
    out[key->get<std::string>()] = value == kv.end() ? json(nullptr) : any_value(*value);
  }
  return out;
}

const json* array_member(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}

Result<StoredSpan> otlp_span(const json& in, const std::string& where, const std::string& service) {
  if (!in.is_object()) return bad_otlp(where, "expected an object");
  StoredSpan s;
  s.service = service;
  auto trace = in.contains("traceId") ? hex_id(in["traceId"], 32) : std::nullopt;
  if (!trace) return bad_otlp(where + ".traceId", "expected 32 hex digits, not all zero");
  s.trace_id = std::move(*trace);
  auto span = in.contains("spanId") ? hex_id(in["spanId"], 16) : std::nullopt;
  if (!span) return bad_otlp(where + ".spanId", "expected 16 hex digits, not all zero");
  s.span_id = std::move(*span);
  if (auto p = in.find("parentSpanId");
      p != in.end() && !(p->is_string() && p->get_ref<const std::string&>().empty())) {
    auto parent = hex_id(*p, 16);
    if (!parent) return bad_otlp(where + ".parentSpanId", "expected 16 hex digits or \"\"");
    s.parent_span_id = std::move(*parent);
  }
  if (auto n = in.find("name"); n != in.end()) {
    if (!n->is_string()) return bad_otlp(where + ".name", "expected a string");
    s.name = n->get<std::string>();
  }
  std::int64_t times[2] = {0, 0};
  const char* fields[2] = {"startTimeUnixNano", "endTimeUnixNano"};
  for (int i = 0; i < 2; ++i) {
    auto t = in.find(fields[i]);
    auto n = t == in.end() ? std::nullopt : otlp_int(*t);
    if (!n || *n < 0)
      return bad_otlp(where + "." + fields[i],
                      "expected a non-negative integer (a string or number)");
    times[i] = *n;
  }
  if (times[1] < times[0]) return bad_otlp(where + ".endTimeUnixNano", "before startTimeUnixNano");
  s.start_ms = unix_nano_to_ms(times[0]);
  s.end_ms = unix_nano_to_ms(times[1]);
  s.status = "unset";
  if (auto st = in.find("status"); st != in.end() && st->is_object()) {
    auto code = st->find("code");
    if (code != st->end()) {
      if (*code == 1 || *code == "STATUS_CODE_OK") s.status = "ok";
      if (*code == 2 || *code == "STATUS_CODE_ERROR") s.status = "error";
    }
    if (auto m = st->find("message"); m != st->end() && m->is_string())
      s.status_message = m->get<std::string>();
  }
  if (auto a = in.find("attributes"); a != in.end()) s.attributes = attributes_of(*a);
  return s;
}

}  // namespace

Result<std::size_t> SpanStore::add_otlp_json(std::string_view body, std::size_t max_request_spans) {
  Result<json> parsed = parse_json_strict(body);
  if (!parsed) return bad_otlp("body", parsed.error().detail());
  const json& root = *parsed;
  if (!root.is_object()) return bad_otlp("body", "expected an ExportTraceServiceRequest object");
  std::vector<StoredSpan> spans;
  if (const json* resources = array_member(root, "resourceSpans")) {
    for (std::size_t r = 0; r < resources->size(); ++r) {
      const json& rs = (*resources)[r];
      const std::string rwhere = "resourceSpans[" + std::to_string(r) + "]";
      if (!rs.is_object()) return bad_otlp(rwhere, "expected an object");
      std::string service = "unknown";
      if (auto res = rs.find("resource"); res != rs.end() && res->is_object())
        if (auto attrs = res->find("attributes"); attrs != res->end()) {
          const json a = attributes_of(*attrs);
          if (auto name = a.find("service.name"); name != a.end() && name->is_string())
            service = name->get<std::string>();
        }
      // scopeSpans; instrumentationLibrarySpans before OTLP 0.15.
      const json* scopes = array_member(rs, "scopeSpans");
      if (scopes == nullptr) scopes = array_member(rs, "instrumentationLibrarySpans");
      if (scopes == nullptr) continue;
      for (std::size_t sc = 0; sc < scopes->size(); ++sc) {
        const json& scope = (*scopes)[sc];
        const std::string swhere = rwhere + ".scopeSpans[" + std::to_string(sc) + "]";
        if (!scope.is_object()) return bad_otlp(swhere, "expected an object");
        const json* list = array_member(scope, "spans");
        if (list == nullptr) continue;
        for (std::size_t i = 0; i < list->size(); ++i) {
          if (spans.size() == max_request_spans)
            return bad_otlp(
                "body", "more than " + std::to_string(max_request_spans) + " spans in one request");
          Result<StoredSpan> s =
              otlp_span((*list)[i], swhere + ".spans[" + std::to_string(i) + "]", service);
          if (!s) return s.error();
          spans.push_back(std::move(*s));
        }
      }
    }
  }
  for (StoredSpan& s : spans)
    add(std::move(s));
  return spans.size();
}

namespace {

class StoreSink final : public trace::SpanSink {
 public:
  StoreSink(SpanStore& store, std::string service) : store_(store), service_(std::move(service)) {}
  void on_end(const trace::SpanData& d) noexcept override {
    try {
      StoredSpan s;
      s.trace_id = d.context.trace_id.hex();
      s.span_id = d.context.span_id.hex();
      if (d.parent_span_id.valid()) s.parent_span_id = d.parent_span_id.hex();
      s.name = d.name;
      s.service = service_;
      s.start_ms = unix_nano_to_ms(d.start_unix_nano);
      s.end_ms = unix_nano_to_ms(d.end_unix_nano);
      s.status = d.status == trace::SpanStatus::kError ? "error"
                 : d.status == trace::SpanStatus::kOk  ? "ok"
                                                       : "unset";
      s.status_message = d.status_message;
      for (const auto& [key, value] : d.attributes)
        std::visit([&, &k = key](const auto& v) { s.attributes[k] = v; }, value);
      store_.add(std::move(s));
    } catch (...) {
      // Out of memory: the span is not kept; the tracer goes on.
    }
  }

 private:
  SpanStore& store_;
  std::string service_;
};

std::string_view outcome_state(Outcome o) {
  switch (o) {
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kRetryable:
      return "retrying";  // or dead, once the broker counts its attempts
    case Outcome::kPermanent:
      return "failed";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kHandBack:
      break;
  }
  return "pending";
}

}  // namespace

LiveView::LiveView(Broker& broker, LiveOptions options)
    : broker_(broker),
      options_(options),
      series_(options.max_queues),
      events_(options.events),
      spans_(options.max_spans) {}

void LiveView::job_event(JobId id, std::string_view state, std::string_view queue,
                         std::string_view type) {
  if (events_.subscribers() == 0) return;  // nobody listens: spare the JSON
  events_.publish("job",
                  json{{"id", id}, {"state", state}, {"queue", queue}, {"type", type}}.dump());
}

void LiveView::job_event(JobId id, JobState state, std::string_view queue, std::string_view type) {
  job_event(id, to_string(state), queue, type);
}

std::function<void(const Job&, Outcome, std::chrono::nanoseconds)> LiveView::recorder() {
  return [this](const Job& job, Outcome outcome, std::chrono::nanoseconds took) {
    const WallClock::time_point now = WallClock::now();
    if (outcome != Outcome::kHandBack) {
      const bool failed = outcome == Outcome::kRetryable || outcome == Outcome::kPermanent;
      const auto started = now - std::chrono::duration_cast<WallClock::duration>(took);
      std::optional<std::chrono::duration<double, std::milli>> wait;
      if (job.ready_at != WallClock::time_point{}) wait = started - job.ready_at;
      series_.record(job.spec.queue, now, failed, wait, took);
    }
    note_local(job.id);
    job_event(job.id, outcome_state(outcome), job.spec.queue, job.spec.type);
  };
}

std::shared_ptr<trace::SpanSink> LiveView::span_sink(std::string service) {
  return std::make_shared<StoreSink>(spans_, std::move(service));
}

Task<Result<LiveView::Snapshot>> LiveView::snapshot(Context ctx) {
  auto queues = co_await broker_.queues(ctx);
  if (!queues) co_return queues.error();
  auto nodes = co_await broker_.nodes(ctx);
  if (!nodes) co_return nodes.error();
  json q = json::array();
  for (const QueueStatus& s : queue_status(*queues, *nodes))
    q.push_back(to_json(s));
  json n = json::array();
  for (const NodeInfo& info : *nodes)
    n.push_back(to_json(info));
  co_return Snapshot{q.dump(), n.dump()};
}

void LiveView::note_local(JobId id) {
  std::lock_guard lock(local_mu_);
  if (!local_ids_.insert(id).second) return;
  local_order_.push_back(id);
  if (local_order_.size() > kLocalIds) {
    local_ids_.erase(local_order_.front());
    local_order_.pop_front();
  }
}

bool LiveView::is_local(JobId id) const {
  std::lock_guard lock(local_mu_);
  return local_ids_.contains(id);
}

namespace {

// A queue's jobs that have finished, and of them those that failed.
std::pair<std::uint64_t, std::uint64_t> finished_counts(const QueueStats& q) {
  auto n = [&](JobState s) {
    auto it = q.counts.find(s);
    return it == q.counts.end() ? std::uint64_t{0} : static_cast<std::uint64_t>(it->second);
  };
  const std::uint64_t failed = n(JobState::kFailed) + n(JobState::kDead);
  return {n(JobState::kSucceeded) + n(JobState::kCancelled) + failed, failed};
}

}  // namespace

Task<void> LiveView::poll_fleet(Context ctx, WallClock::time_point now) {
  auto queues = co_await broker_.queues(ctx);
  if (!queues) co_return;
  const bool first = !fleet_started_;
  fleet_started_ = true;
  const WallClock::time_point since = fleet_last_;
  fleet_last_ = now;
  const WallClock::time_point ended = from_unix_ms(bucket_of(now) - 1);  // see record_fleet
  std::vector<std::string> risen;
  for (const QueueStats& q : *queues) {
    const auto [finished, failed] = finished_counts(q);
    FleetQueue& f = fleet_[q.queue];
    if (!first) {
      const std::uint64_t d_finished = finished > f.finished ? finished - f.finished : 0;
      const std::uint64_t d_failed = failed > f.failed ? failed - f.failed : 0;
      if (d_finished > 0) {
        // run() polls once a bucket has ended (within a poll interval of its end): the
        // rise belongs to the bucket that ended, where the attempts run here are
        // counted too.
        series_.record_fleet(q.queue, ended, d_finished, d_failed);
        risen.push_back(q.queue);
      }
    }
    f.finished = finished;
    f.failed = failed;
  }
  // A queue gone from the broker (its jobs trimmed or deleted) is forgotten: the map
  // holds the broker's queues, no more.
  std::set<std::string_view> present;
  for (const QueueStats& q : *queues)
    present.insert(q.queue);
  std::erase_if(fleet_, [&](const auto& entry) { return !present.contains(entry.first); });
  std::size_t audits = 0;
  for (const std::string& queue : risen) {
    FleetQueue& f = fleet_[queue];
    std::set<JobId> page_ids;
    for (const bool dead_letter : {false, true}) {
      JobFilter filter;
      filter.queue = queue;
      if (dead_letter)
        filter.dead_letter = true;
      else
        filter.state = JobState::kSucceeded;
      filter.limit = kFleetPage;
      auto jobs = co_await broker_.list(ctx, filter);
      if (!jobs) co_return;
      for (const Job& job : *jobs) {
        page_ids.insert(job.id);
        // Seen at the last poll, run here, or finished before it: not new.
        if (f.last_page.contains(job.id) || is_local(job.id)) continue;
        if (!job.finished_at || *job.finished_at < since) continue;
        job_event(job.id, job.state, job.spec.queue, job.spec.type);
        if (audits == kFleetAudits) continue;
        ++audits;
        auto trail = co_await broker_.audit(ctx, job.id);
        if (!trail) continue;
        // The last attempt: its start (the last `running` row) against the time it
        // was due and the time it ended.
        auto started = std::find_if(trail->rbegin(), trail->rend(),
                                    [](const AuditEntry& e) { return e.to == JobState::kRunning; });
        if (started == trail->rend()) continue;
        std::optional<std::chrono::duration<double, std::milli>> wait;
        if (job.ready_at != WallClock::time_point{} && job.ready_at <= started->at)
          wait = started->at - job.ready_at;
        // In the bucket its count went to, so a point's throughput and latency are of
        // the same jobs.
        series_.record_latency(queue, ended, wait, *job.finished_at - started->at);
      }
    }
    f.last_page = std::move(page_ids);
  }
}

// The poll: every options_.poll, the queues and nodes (sent when changed, so at
// most once a poll); every series interval, the newest points. A broker error
// skips that poll's events (the page keeps what it has). While nobody listens it
// asks the broker only for poll_fleet, every 5 s.
Task<void> LiveView::run(Context ctx) {
  Snapshot last;
  std::int64_t last_series = bucket_of(WallClock::now());
  // The counts at start: what finished before is not counted as finishing now.
  co_await poll_fleet(ctx, WallClock::now());
  while (!ctx.is_done()) {
    if (events_.subscribers() > 0) {
      Result<Snapshot> now = co_await snapshot(ctx);
      if (now) {
        if (now->queues != last.queues) events_.publish("queues", now->queues);
        if (now->nodes != last.nodes) events_.publish("nodes", now->nodes);
        last = std::move(*now);
      }
    }
    const WallClock::time_point now = WallClock::now();
    if (const std::int64_t b = bucket_of(now); b != last_series) {
      last_series = b;
      co_await poll_fleet(ctx, now);
      if (events_.subscribers() > 0) {
        json out{{"interval_ms", kIntervalMs}, {"queues", json::object()}};
        for (const auto& [name, point] : series_.latest(now))
          out["queues"][name] = to_json(point);
        events_.publish("series", out.dump());
      }
    }
    (void)co_await sleep_for(ctx, options_.poll);
  }
}

}  // namespace orca::jobs
