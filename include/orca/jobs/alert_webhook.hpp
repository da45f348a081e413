// alert_webhook: a P99ReportOptions::notify that POSTs the report's summary (JSON) to
// a webhook URL through orca's own HTTP client: a chat bridge, an incident tool, or
// the receiver Alertmanager sends orca's alerts to (deploy/prometheus/alertmanager.yml).
//
//   jobs::P99ReportOptions p;
//   p.notify = jobs::alert_webhook("https://hooks.example/orca");
//
// Each summary is one POST (Content-Type application/json) carrying an Idempotency-Key
// (the report's name), so a receiver can drop a repeat. An attempt is bounded by
// `timeout`; a connection error, a timed-out attempt, a 5xx or a 429 is tried again,
// at most `max_attempts` in all, with jittered exponential backoff
// (resilience::Retry); any other answer outside 2xx ends it (the receiver refused
// the request as it is: sending it again cannot help). The outcome is logged: nothing
// on success, a warning with the last error otherwise. The notifier never throws and
// returns once the post succeeded or gave up (or the context ended it): at most
// max_attempts * timeout plus the backoffs, 3 * 5 s + 0.3 s by default.
//
// Thread safety: the notifier may be called concurrently (its client is shared).
// Errors: std::invalid_argument at creation for a URL that is not http:// or https://
// (the message names it and says what is expected), or for bad options.
#pragma once

#include <chrono>
#include <string>

#include "orca/jobs/p99_report.hpp"

namespace orca::jobs {

struct AlertWebhookOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // per attempt; > 0
  int max_attempts = 3;                                        // in all; 1..10
};

P99Notify alert_webhook(std::string url, AlertWebhookOptions options = {});

}  // namespace orca::jobs
