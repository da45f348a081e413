// with_static_files(): a fixed set of files (a web page, its scripts and styles,
// embedded in the binary at build time) served beside a router, each with an ETag,
// a caching policy and the page's security headers. Invariant: a request for one of
// the files' paths with GET or HEAD is answered from the set and never reaches the
// inner router; every other request (another path, another method) reaches it as
// if the files were not there.
//
//   static const orca::http::StaticFile kFiles[] = {
//       {"/", "text/html; charset=utf-8", "<!doctype html>...", "\"4f2a\""},
//       {"/assets/app.js", "text/javascript; charset=utf-8", "...", "\"9c1b\""},
//   };
//   orca::http::StaticFilesOptions page;
//   page.content_security_policy = "default-src 'self'";
//   Server server(with_static_files(std::move(api_routes), kFiles, page));
//
// A file is answered with 200 and its bytes, or 304 without a body when the
// request's If-None-Match lists its ETag (or is "*"). Every answer carries
// ETag, Cache-Control (StaticFilesOptions::cache_control: "no-cache" by default, so a
// browser keeps the file and revalidates it on each use, and a new build's files
// are seen at once), Content-Security-Policy, X-Content-Type-Options: nosniff,
// X-Frame-Options: DENY and Referrer-Policy: no-referrer.
//
// The files pass no access policy: a page must load before it can ask its user for
// a token, and these bytes are the same for every caller (they are in the binary).
// Whatever the page then calls goes to the inner router, behind its policy.
//
// Thread safety: the returned Router is as any Router (read-only once serving); the
// files' bytes must outlive it (static storage, as generated sources give).
// Errors: throws std::invalid_argument for a path that does not start with '/',
// holds a '{' or '}', or is given twice.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "orca/net/http/router.hpp"

namespace orca::http {

struct StaticFile {
  std::string_view path;          // as requested: "/", "/assets/app.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // a quoted entity tag, "\"<hash of body>\""
};

struct StaticFilesOptions {
  // The page's policy: what its scripts may load and call. The default allows only
  // the page's own origin, and no inline script or style.
  std::string content_security_policy =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  std::string cache_control = "no-cache";
};

// `inner` with `files` answered in front of it (see above).
Router with_static_files(Router inner, std::span<const StaticFile> files,
                         StaticFilesOptions options = {});

}  // namespace orca::http
