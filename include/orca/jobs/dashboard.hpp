// The web dashboard: the page in dashboard/ of the source tree (HTML, CSS and
// JavaScript, no build step) and Debian's Chart.js, embedded into the binary at build
// time, served in front of the jobs API (http_api.hpp) so that `orca serve` needs no
// files beside it and works offline. The page uses only the public JSON API.
//
//   http::Server server(jobs::with_dashboard(jobs::make_api_router(center, options)));
//
// Served: GET / (the page) and GET /assets/NAME (its scripts, styles and Chart.js), with
// an ETag, Cache-Control: no-cache and the page's Content-Security-Policy (scripts,
// styles, images and API calls from its own origin only; no inline script or style)
// (net/http/static_files.hpp). Everything else reaches `api`, behind its access policy.
//
// Thread safety: as any Router.
#pragma once

#include <span>

#include "orca/net/http/router.hpp"
#include "orca/net/http/static_files.hpp"

namespace orca::jobs {

// The embedded files, by the path they are served at (generated at build time).
std::span<const http::StaticFile> dashboard_files() noexcept;

// `api` with the dashboard's files in front of it.
http::Router with_dashboard(http::Router api);

}  // namespace orca::jobs
