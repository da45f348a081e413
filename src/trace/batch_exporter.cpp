// BatchExporter and file_writer (batch_exporter.hpp).
#include "orca/trace/batch_exporter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "orca/runtime/blocking.hpp"
#include "orca/sync/select.hpp"
#include "orca/trace/otlp_json.hpp"

namespace orca::trace {

BatchExporter::BatchExporter(SpanWriter writer, BatchExporterOptions options)
    : writer_(std::move(writer)), options_(std::move(options)) {
  if (!writer_) throw std::invalid_argument("BatchExporter: the writer is null");
  if (options_.max_queue == 0 || options_.max_batch == 0)
    throw std::invalid_argument("BatchExporter: max_queue and max_batch must be at least 1");
}

void BatchExporter::on_end(const SpanData& span) noexcept {
  bool batch_ready = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      ++stats_.dropped;
      return;
    }
    try {
      queue_.push_back(span);
    } catch (...) {
      ++stats_.dropped;
      return;
    }
    batch_ready = queue_.size() == options_.max_batch;
  }
  if (batch_ready) (void)full_.try_send(std::monostate{});  // full: a wake-up is pending
}

std::vector<SpanData> BatchExporter::take(std::size_t max) {
  std::lock_guard lock(mu_);
  const std::size_t n = std::min(max, queue_.size());
  std::vector<SpanData> out(std::make_move_iterator(queue_.begin()),
                            std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
  return out;
}

Task<Result<void>> BatchExporter::write_batch(Context ctx, std::vector<SpanData> batch) {
  if (batch.empty()) co_return Result<void>{};
  const std::string body = to_otlp_json(batch, options_.service_name);
  Task<Result<void>> written = writer_(std::move(ctx), body);  // named: GCC PR 101367
  Result<void> r = co_await std::move(written);
  std::lock_guard lock(mu_);
  if (r) {
    stats_.exported += batch.size();
  } else {
    ++stats_.failed_batches;
    stats_.failed_spans += batch.size();
  }
  co_return r;
}

Task<Result<void>> BatchExporter::flush(Context ctx) {
  std::size_t left;
  {
    std::lock_guard lock(mu_);
    left = queue_.size();
  }
  Result<void> first;
  while (left > 0) {
    std::vector<SpanData> batch = take(std::min(left, options_.max_batch));
    if (batch.empty()) break;
    left -= batch.size();
    Result<void> r = co_await write_batch(ctx, std::move(batch));
    if (!r && first) first = r.error();
  }
  co_return first;
}

Task<void> BatchExporter::run(Context ctx) {
  for (;;) {
    auto woke = co_await select(ctx, recv(full_), after(options_.interval));
    if (woke.index() < 0) break;
    // Whole batches while they are there, then what one interval gathered.
    for (;;) {
      std::vector<SpanData> batch = take(options_.max_batch);
      if (batch.empty()) break;
      const bool more = batch.size() == options_.max_batch;
      (void)co_await write_batch(ctx, std::move(batch));
      if (!more) break;
    }
  }
  auto [last, stop] = with_timeout(without_cancel(ctx), options_.final_flush_timeout);
  (void)co_await flush(last);
  stop();
}

ExporterStats BatchExporter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

namespace {

// A free coroutine owning its arguments: its frame refers to no lambda object.
Task<Result<void>> append_line(std::string path, Context ctx, std::string body) {
  if (std::error_code e = ctx.err()) co_return e;
  body.push_back('\n');
  auto append = [&path, &body]() -> int {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    std::size_t off = 0;
    int result = 0;
    while (off < body.size()) {
      const ssize_t n = ::write(fd, body.data() + off, body.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        result = errno;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return result;
  };
  const int err = co_await blocking(append);  // a named callable: GCC PR 101367
  if (err != 0) co_return std::error_code(err, std::system_category());
  co_return Result<void>{};
}

}  // namespace

SpanWriter file_writer(std::string path) {
  return [path = std::move(path)](Context ctx, std::string body) {
    return append_line(path, std::move(ctx), std::move(body));
  };
}

}  // namespace orca::trace
