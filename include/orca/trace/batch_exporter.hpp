// BatchExporter: a SpanSink that queues kept spans and writes them in batches as
// OTLP/HTTP JSON (otlp_json.hpp) through a SpanWriter: an OTLP endpoint
// (http/otlp_writer.hpp posts through orca's HTTP client) or a file (file_writer).
//
//   auto exporter = std::make_shared<orca::trace::BatchExporter>(
//       orca::trace::file_writer("/var/log/orca/traces.jsonl"),
//       orca::trace::BatchExporterOptions{});
//   tracer->add_sink(exporter);
//   orca::go([exporter, ctx] { return exporter->run(ctx); });  // until ctx is done
//
// The hot path (on_end, at every kept span's end) copies the span into a bounded
// queue under a short lock and never waits: a full queue drops the span and counts
// it (stats().dropped). run() writes a batch every `interval`, or as soon as
// max_batch spans are queued; a batch the writer refuses is counted and dropped (no
// retry: spans are evidence, not data, and a retry queue would have to be bounded
// too). When run()'s context ends it writes what is queued once more, bounded by
// final_flush_timeout.
//
// Thread safety: every member from any thread; run() once at a time.
// Cancel safety: flush(ctx) and run(ctx) leave the queue consistent; a batch taken
// when ctx ends is still written (bounded by the writer's own context handling).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/channel.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::trace {

// Writes one OTLP JSON body (an ExportTraceServiceRequest).
using SpanWriter = std::function<Task<Result<void>>(Context, std::string body)>;

struct BatchExporterOptions {
  std::string service_name = "orca";
  // Spans waiting to be written at most; beyond, new spans are dropped (counted).
  std::size_t max_queue = 2048;
  // Spans per write at most (the OpenTelemetry SDK's default, 512).
  std::size_t max_batch = 512;
  // A batch is written at least this often while spans are queued.
  Clock::duration interval = std::chrono::seconds(1);
  // How long run() spends writing the remainder once its context ends.
  Clock::duration final_flush_timeout = std::chrono::seconds(2);
};

struct ExporterStats {
  std::uint64_t exported = 0;        // spans written
  std::uint64_t dropped = 0;         // spans dropped: the queue was full
  std::uint64_t failed_batches = 0;  // writes that failed (their spans are lost)
  std::uint64_t failed_spans = 0;    // spans in those writes
};

class BatchExporter : public SpanSink {
 public:
  // Throws std::invalid_argument for a null writer, or zero max_queue or max_batch.
  BatchExporter(SpanWriter writer, BatchExporterOptions options = {});

  void on_end(const SpanData& span) noexcept override;
  // Writes batches until ctx is done, then the remainder once (see above).
  Task<void> run(Context ctx);
  // Writes every span queued now, in batches; the first writer error, if any (the
  // other batches are still tried).
  Task<Result<void>> flush(Context ctx);
  ExporterStats stats() const;

 private:
  // Takes up to max_batch queued spans and writes them.
  Task<Result<void>> write_batch(Context ctx, std::vector<SpanData> batch);
  std::vector<SpanData> take(std::size_t max);

  SpanWriter writer_;
  const BatchExporterOptions options_;
  Channel<std::monostate> full_{1};  // a batch is ready: run() writes it now
  mutable std::mutex mu_;            // guards everything below
  std::vector<SpanData> queue_;
  ExporterStats stats_;
};

// Appends each body as one line to `path` (created if missing, mode 0644), with one
// write(2) on the blocking pool (workers never wait on a disk). The file is opened
// for each write, so it may be rotated away at any time.
SpanWriter file_writer(std::string path);

}  // namespace orca::trace
