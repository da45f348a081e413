// The jobs API's live routes (live.hpp's data, periodic jobs, resilience state),
// added to the API router by make_api_router. Private to orca_jobs_http.
#pragma once

#include "orca/jobs/center.hpp"
#include "orca/jobs/live.hpp"
#include "orca/metrics/registry.hpp"
#include "orca/net/http/router.hpp"

namespace orca::jobs::detail {

// GET /api/periodic and /api/resilience always; with `live`, also
// GET /api/stats/series, /api/events, /api/traces/{trace_id} and POST /v1/traces.
// `registry` (may be null) is read for the limiters' rejections.
void add_live_routes(http::Router& router, Center& center, LiveView* live,
                     ::orca::metrics::Registry* registry);

}  // namespace orca::jobs::detail
