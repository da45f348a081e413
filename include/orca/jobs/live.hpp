// The center's live view, for dashboards: what the jobs API streams and charts
// (GET /api/stats/series, /api/events, /api/traces/{id}; routes in http_api.hpp).
//
//   StatsSeries  per queue, one point per 5 s for the last hour: attempts finished
//                and failed, wait and run time P50/P99. Memory is bounded: a queue
//                keeps 720 closed points and one open bucket of at most 1,024
//                samples per measure; at most max_queues queues.
//   EventHub     Server-Sent Events fanned out to subscribers, each with a bounded
//                queue: a subscriber that falls max_pending events behind is
//                dropped (its stream ends), never buffered for; at most
//                max_subscribers at once.
//   SpanStore    the most recent spans (at most max_spans, oldest dropped first),
//                from this process's tracer (span_sink) and from OTLP/HTTP JSON
//                requests (add_otlp_json), looked up by trace id.
//   LiveView     the three together, fed by the center (job transitions it makes),
//                by the nodes of this process (recorder(), a NodeOptions::
//                on_attempt_end), and by run(), which polls the broker for queue and
//                node changes and closes series points.
//
// What the center sees of jobs: the transitions it makes (submit, routing,
// cancel, requeue through the API) and the attempts of the nodes of its process,
// exactly. Jobs run by worker processes elsewhere reach the broker only, so the
// series learn of them from it (poll_fleet):
//   throughput  the rise of each queue's finished counts (succeeded, failed, dead,
//               cancelled) and failed counts (failed, dead) between two polls; a
//               point shows the larger of that and the attempts seen here. A job
//               counts when it finishes (a retried attempt elsewhere does not), and a
//               fall (trim, delete, requeue) counts as none.
//   latency     the newest finished jobs of each queue whose counts rose, a page of
//               kFleetPage succeeded and one of failed or dead jobs, each job once
//               (by id; those run here are already in), its wait and run time read
//               from its audit trail (at most kFleetAudits trails a poll): a sample,
//               never a whole queue.
// Those jobs are sent as `job` events too.
//
// Thread safety: every member from any thread or task. A LiveView must outlive the
// center, nodes, tracer sinks and routers that use it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/job.hpp"
#include "orca/sync/channel.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::jobs {

// One closed 5-s bucket of one queue. Percentiles are nullopt when no attempt of the
// bucket measured them.
struct SeriesPoint {
  std::int64_t t_ms = 0;       // the bucket's start, Unix ms
  std::uint64_t finished = 0;  // attempts that ended: succeeded, failed or cancelled
  std::uint64_t failed = 0;    // of those, the failed ones (retryable or not)
  std::optional<double> wait_p50_ms, wait_p99_ms;  // due (ready_at) to handler start
  std::optional<double> run_p50_ms, run_p99_ms;    // handler run time
};
nlohmann::json to_json(const SeriesPoint& point);

class StatsSeries {
 public:
  static constexpr std::chrono::milliseconds kInterval{5000};
  // An hour of 5-s points.
  static constexpr std::size_t kPoints = 720;
  // Samples kept per measure in the open bucket: past it, a uniform sample of them
  // (reservoir sampling), so a busy queue costs the same memory as a quiet one.
  static constexpr std::size_t kSamples = 1024;

  explicit StatsSeries(std::size_t max_queues = 256) : max_queues_(max_queues) {}

  // One attempt of `queue` that ended at `at`. Negative times count as 0. A new
  // queue past max_queues is not recorded (dropped() counts it).
  void record(std::string_view queue, WallClock::time_point at, bool failed,
              std::optional<std::chrono::duration<double, std::milli>> wait,
              std::optional<std::chrono::duration<double, std::milli>> run);
  // Jobs of `queue` the broker saw finish (of them, `failed` failed) by `at`, run
  // anywhere: the bucket's throughput is the larger of these and the attempts
  // record()ed (which they include when run here).
  void record_fleet(std::string_view queue, WallClock::time_point at, std::uint64_t finished,
                    std::uint64_t failed);
  // One job's wait and run time, measured elsewhere, for the percentiles only.
  void record_latency(std::string_view queue, WallClock::time_point at,
                      std::optional<std::chrono::duration<double, std::milli>> wait,
                      std::optional<std::chrono::duration<double, std::milli>> run);
  // Each queue's closed points of the last `span` before `now` (the bucket holding
  // `now` is still open), oldest first, one per interval; an interval without
  // attempts is a zero point. Queues with no attempt within the hour are left out
  // (one whose only attempts are in the open bucket is in, with zero points).
  std::map<std::string, std::vector<SeriesPoint>> points(WallClock::time_point now,
                                                         std::chrono::milliseconds span) const;
  // Each queue's newest closed point, the one just before `now`'s bucket.
  std::map<std::string, SeriesPoint> latest(WallClock::time_point now) const;
  std::uint64_t dropped() const;

 private:
  struct Samples {
    std::vector<double> kept;
    std::uint64_t seen = 0;
    void add(double v, std::uint64_t& rng);
  };
  struct Queue {
    std::deque<SeriesPoint> closed;  // by t_ms, only buckets with attempts
    std::int64_t open_t = 0;         // the open bucket's start (0: none)
    SeriesPoint open;
    std::uint64_t fleet_finished = 0, fleet_failed = 0;  // the open bucket's, record_fleet
    Samples wait, run;
  };
  void close_before(Queue& q, std::int64_t bucket) const;
  // The queue's open bucket for a sample at `bucket`, or null past max_queues. Under mu_.
  Queue* open_bucket(std::string_view queue, std::int64_t bucket);

  std::size_t max_queues_;
  mutable std::mutex mu_;
  // Mutable: reading closes buckets whose time has passed (the state they stand for
  // does not change).
  mutable std::map<std::string, Queue, std::less<>> queues_;
  mutable std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  std::uint64_t dropped_ = 0;
};

struct EventHubOptions {
  std::size_t max_subscribers = 64;
  // Events queued for one subscriber at most; one more drops it. 256 is minutes of
  // a quiet fleet's events, and seconds of a busy one's: a reader that far behind
  // is not keeping up and reconnects to a fresh state.
  std::size_t max_pending = 256;
};

class EventHub {
 public:
  // One subscriber's queue of formatted events ("event: NAME\ndata: JSON\n\n").
  // Closed when the hub drops it (too slow) or the subscriber is released.
  struct Subscriber {
    explicit Subscriber(std::size_t capacity) : queue(capacity) {}
    Channel<std::string> queue;
  };

  explicit EventHub(EventHubOptions options = {}) : options_(options) {}
  // A new subscriber, or null when max_subscribers are subscribed.
  std::shared_ptr<Subscriber> subscribe();
  void unsubscribe(const std::shared_ptr<Subscriber>& s);
  // Sends `data` (one line of JSON) as event `name` to every subscriber.
  void publish(std::string_view name, std::string_view data);
  std::size_t subscribers() const;
  std::uint64_t dropped() const;  // subscribers dropped as too slow, since start

 private:
  EventHubOptions options_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subs_;
  std::uint64_t dropped_ = 0;
};

// A span as GET /api/traces/{id} shows it.
struct StoredSpan {
  std::string trace_id;        // 32 lowercase hex digits
  std::string span_id;         // 16
  std::string parent_span_id;  // empty for a root
  std::string name;
  std::string service;
  double start_ms = 0, end_ms = 0;  // Unix ms, fractional
  std::string status;               // "unset", "ok" or "error"
  std::string status_message;
  nlohmann::json attributes = nlohmann::json::object();
};
nlohmann::json to_json(const StoredSpan& span);

class SpanStore {
 public:
  explicit SpanStore(std::size_t max_spans = 20'000) : max_spans_(max_spans) {}
  void add(StoredSpan span);
  // Parses an OTLP/HTTP JSON export request (ExportTraceServiceRequest) and stores
  // its spans. Unknown fields are ignored. Returns the number of spans stored, or
  // invalid_argument with a detail naming the first bad field
  // ("resourceSpans[0].scopeSpans[0].spans[2].traceId: expected 32 hex digits");
  // nothing is stored then. At most max_request_spans spans per request.
  Result<std::size_t> add_otlp_json(std::string_view body, std::size_t max_request_spans = 10'000);
  // The spans of one trace (lowercase hex), by start time.
  std::vector<StoredSpan> trace(std::string_view trace_id) const;
  std::size_t size() const;

 private:
  std::size_t max_spans_;
  mutable std::mutex mu_;
  std::deque<StoredSpan> spans_;
};

struct LiveOptions {
  std::size_t max_queues = 256;  // StatsSeries
  EventHubOptions events;
  std::size_t max_spans = 20'000;  // SpanStore
  // POST /v1/traces bodies at most (413 beyond). 4 MiB holds a batch exporter's
  // largest requests (512 spans of a few KiB) with room.
  std::size_t max_otlp_bytes = 4 << 20;
  // How often run() asks the broker for queues and nodes (events are sent only on
  // change).
  std::chrono::milliseconds poll{1000};
};

class LiveView {
 public:
  explicit LiveView(Broker& broker, LiveOptions options = {});
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  StatsSeries& series() noexcept { return series_; }
  EventHub& events() noexcept { return events_; }
  SpanStore& spans() noexcept { return spans_; }
  const LiveOptions& options() const noexcept { return options_; }

  // A transition seen by this process: publishes `event: job`.
  void job_event(JobId id, JobState state, std::string_view queue, std::string_view type);
  void job_event(JobId id, std::string_view state, std::string_view queue, std::string_view type);
  // A NodeOptions::on_attempt_end that records each attempt into the series and
  // publishes its job event (succeeded, failed, retrying, cancelled or pending for a
  // job handed back).
  std::function<void(const Job&, Outcome, std::chrono::nanoseconds)> recorder();
  // A tracer sink that stores this process's spans, named `service`.
  std::shared_ptr<trace::SpanSink> span_sink(std::string service);

  // The JSON texts of GET /api/queues and GET /api/nodes, as now.
  struct Snapshot {
    std::string queues, nodes;
  };
  Task<Result<Snapshot>> snapshot(Context ctx);

  // Until ctx is done: every poll, the broker's queues and nodes, published as
  // `queues` and `nodes` events when they changed; every 5 s, poll_fleet and then
  // the newest series point per queue as a `series` event.
  Task<void> run(Context ctx);

  // Finished jobs read per queue and state class by poll_fleet, and audit trails
  // read per poll at most: a poll costs a few indexed reads, whatever the fleet.
  static constexpr std::size_t kFleetPage = 20;
  static constexpr std::size_t kFleetAudits = 64;
  // One poll of the fleet's figures at `now` (see above): the first only notes the
  // counts; a rise counts in the bucket that ended last before `now` (run() polls
  // once a bucket has ended). run() calls it every 5 s; public so a test can drive it. A broker
  // error skips the poll. Not to be called concurrently with itself.
  Task<void> poll_fleet(Context ctx, WallClock::time_point now);

 private:
  void note_local(JobId id);
  bool is_local(JobId id) const;

  Broker& broker_;
  LiveOptions options_;
  StatsSeries series_;
  EventHub events_;
  SpanStore spans_;
  // Jobs whose attempts ended in this process (recorder), the newest kLocalIds:
  // poll_fleet leaves them out, they are in the series already.
  static constexpr std::size_t kLocalIds = 4096;
  mutable std::mutex local_mu_;
  std::deque<JobId> local_order_;
  std::set<JobId> local_ids_;
  // poll_fleet's state (one caller at a time): each queue's finished and failed
  // counts at the last poll, the ids of its last pages, and that poll's time.
  struct FleetQueue {
    std::uint64_t finished = 0, failed = 0;
    std::set<JobId> last_page;
  };
  std::map<std::string, FleetQueue> fleet_;
  bool fleet_started_ = false;
  WallClock::time_point fleet_last_{};
};

}  // namespace orca::jobs
