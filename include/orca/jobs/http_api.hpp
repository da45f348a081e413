// The jobs HTTP JSON API, as an orca::http::Router that `orca serve` mounts
// (link orca::jobs_http), behind an access policy (orca/net/http/access_policy.hpp).
//
//   POST   /api/jobs                 submit a job spec (an object) or several (an array)
//   GET    /api/jobs?state=&type=&queue=&node=&trace_id=&error=&limit=&before=
//                                    list, newest first (error: text in the last error)
//   GET    /api/jobs/{id}            one job
//   GET    /api/jobs/{id}/audit      its audit trail, oldest first
//   POST   /api/jobs/{id}/cancel     cancel (DELETE /api/jobs/{id} does the same)
//   POST   /api/jobs/{id}/requeue    requeue from the dead-letter set
//   POST   /api/jobs/{id}/delete     delete a finished job with its audit trail
//   POST   /api/jobs/cancel          cancel {"ids": [...]} (at most 1000), each's outcome
//   POST   /api/queues/{q}/pause     pause a queue (no claims from it); .../resume
//   POST   /api/queues/{q}/requeue-dead      requeue every dead job of the queue
//   POST   /api/queues/{q}/delete-finished   delete its finished jobs ({"state": ...})
//   GET    /api/dead                 the dead-letter set
//   GET    /api/nodes                nodes, load and heartbeats
//   GET    /api/queues               job counts per queue and state
//   GET    /metrics                  Prometheus/OpenMetrics scrape (with ApiOptions::metrics)
//   GET    /api/periodic             periodic jobs, next and last runs
//   GET    /api/resilience           breakers and limiters this process knows
//   With ApiOptions::live (live.hpp):
//   GET    /api/stats/series?minutes=   per queue, a point per 5 s: throughput, latency
//   GET    /api/events               Server-Sent Events: queues, nodes, job, series
//   GET    /api/traces/{trace_id}    the stored spans of one trace
//   POST   /v1/traces                OTLP/HTTP JSON spans into the store (admin)
//
// Bodies are the JSON of json.hpp. A submitted job whose type no live node handles
// is accepted, and its entry in the reply carries "warning": "no live node handles
// type ...". Bad input gets a 4xx with {"error": "..."} and changes nothing: 400
// malformed JSON or a key given twice, a bad field or query parameter, or (with
// reject_unknown_types) a type no live node handles; 413 a payload over the
// broker's limit; 404 no such job; 409 a transition the job's state forbids (the
// message names that state). A store failure is a 503 with the store's message.
//
// Access (ApiOptions::access, see access_policy.hpp): with tokens, GET routes need a
// `read` or `admin` bearer token and the others an `admin` one (401 without a valid
// token, 403 with one of too low a role, 429 after repeated bad tokens from one
// address); with none, every caller may do everything, so serve it on loopback only.
// Whatever the tokens, the Host header must name an allowed host (421), and
// state-changing calls must not come from another site's page (403) and may carry
// only JSON bodies (415). Submit, cancel and requeue record the caller in the job's
// audit trail (AuditEntry::actor), and pause the queue's (QueueStats::paused_by): the
// token's name, or "anonymous" without tokens.
//
// Limits (rate_limit.hpp, load_shedding.hpp), none by default: ApiOptions::rate_limit
// runs before the access policy (every request counts, refused ones and token
// guesses included), token_rate_limit after it (RateLimitKey::kPrincipal keys it by
// the token's name), and load_shedding innermost, around the routes, so that only
// the handlers' own latency teaches its limiter. Past a rate limit: 429 with
// Retry-After; shed: 503 with Retry-After.
//
// Thread safety: the router's handlers may run concurrently; Center and Broker must
// outlive the server that runs them.
#pragma once

#include <optional>

#include "orca/jobs/center.hpp"
#include "orca/jobs/live.hpp"
#include "orca/net/http/access_policy.hpp"
#include "orca/net/http/load_shedding.hpp"
#include "orca/net/http/metrics.hpp"
#include "orca/net/http/rate_limit.hpp"
#include "orca/net/http/router.hpp"

namespace orca::jobs {

struct ApiOptions {
  JobLimits limits;
  // Refuse jobs whose type no live node handles (400), instead of accepting them
  // with a warning. Off by default, so that producers may be deployed before their
  // workers (as with Asynq and BullMQ); on, it catches typos at the door.
  bool reject_unknown_types = false;
  std::size_t max_list = 1000;  // ?limit= at most
  // Who may call it, from where (the default: anyone on a loopback host name).
  http::AccessOptions access;
  // Request rate limits before the access policy, and after it (see above).
  http::RateLimitOptions rate_limit;
  http::RateLimitOptions token_rate_limit;
  // Adaptive load shedding of the routes; nothing: none.
  std::optional<http::LoadSheddingOptions> load_shedding;
  // Serve GET /metrics from this registry (net/http/metrics.hpp), behind the same
  // access policy as the other reads (a read token when tokens are on); null: no
  // such route. Must outlive the router.
  ::orca::metrics::Registry* metrics = nullptr;  // qualified: the member has its name
  // Serve the live routes (series, events, traces) from this view; null: none.
  // Must outlive the router.
  LiveView* live = nullptr;
};

http::Router make_api_router(Center& center, ApiOptions options = {});

}  // namespace orca::jobs
