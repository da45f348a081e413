// protect() (access_policy.hpp): an outer router whose catch-all routes run the
// policy's checks, then the inner router's dispatch, then add the security headers.
// Catch-alls on every method the policy knows make the inner router's own 404 and 405
// answers pass through the policy too.
#include "orca/net/http/access_policy.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "catch_all.hpp"

namespace orca::http {

namespace {

const ContextKey<Principal> kPrincipal{"orca.http.principal"};

struct Policy {
  explicit Policy(AccessOptions o) : options(std::move(o)), failures(options.failures) {}

  AccessOptions options;
  std::vector<std::string> hosts;    // lower case, IPv6 bracketed
  std::vector<std::string> origins;  // lower case
  FailureLimiter failures;
  Router routes;

  bool authenticates() const { return options.tokens && !options.tokens->empty(); }
  bool allowed_origin(std::string_view origin) const {
    return std::any_of(origins.begin(), origins.end(),
                       [&](const std::string& o) { return iequals(o, origin); });
  }
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A JSON string of ASCII text (the messages here are ours; escaped anyway).
std::string json_error(std::string_view message) {
  std::string out = "{\"error\": \"";
  for (const char c : message) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  out.append("\"}");
  return out;
}

Response refuse(int status, std::string_view message) {
  return Response::json(status, json_error(message));
}

bool is_safe(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// "application/json", optionally followed by ";" and parameters.
bool is_json(std::string_view content_type) {
  constexpr std::string_view kJson = "application/json";
  if (content_type.size() < kJson.size() || !iequals(content_type.substr(0, kJson.size()), kJson))
    return false;
  const std::string_view rest = content_type.substr(kJson.size());
  const std::size_t i = rest.find_first_not_of(" \t");
  return i == std::string_view::npos || rest[i] == ';';
}

void add_headers(const Policy& p, const std::optional<std::string>& origin, Response& r) {
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.headers.set("X-Frame-Options", "DENY");
  r.headers.set("Referrer-Policy", "no-referrer");
  if (!r.headers.contains("Content-Security-Policy"))
    r.headers.set("Content-Security-Policy", p.options.content_security_policy);
  if (!r.headers.contains("Cache-Control")) r.headers.set("Cache-Control", "no-store");
  if (origin && p.allowed_origin(*origin)) {
    r.headers.set("Access-Control-Allow-Origin", std::string(*origin));
    r.headers.add("Vary", "Origin");
  }
}

// The refusal for `req`, or nothing if it may go on (then `who` is its principal,
// when the policy authenticates).
std::optional<Response> check(Policy& p, const Request& req, std::optional<Principal>& who) {
  // 1. Host.
  const std::optional<std::string_view> host_header = req.headers.get("Host");
  const std::string host = host_header ? host_of(*host_header) : std::string();
  if (host.empty() || std::find(p.hosts.begin(), p.hosts.end(), host) == p.hosts.end())
    return refuse(421, "this server does not answer for that Host (allowed: its configured names)");

  const std::optional<std::string_view> origin = req.headers.get("Origin");
  const bool listed_origin = origin && p.allowed_origin(*origin);

  // 2. CORS preflight.
  if (req.method == "OPTIONS" && origin && req.headers.contains("Access-Control-Request-Method")) {
    if (!listed_origin) return refuse(403, "cross-origin request from an origin not allowed");
    Response r;
    r.status = 204;
    r.headers.set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
    r.headers.set("Access-Control-Allow-Headers", "Authorization, Content-Type");
    r.headers.set("Access-Control-Max-Age", "600");
    return r;
  }

  // 3. Too many bad tokens from this address.
  if (p.authenticates()) {
    const auto wait = p.failures.retry_after(req.remote_address, Clock::now());
    if (wait.count() > 0) {
      Response r = refuse(429, "too many failed authentication attempts from this address");
      r.headers.set("Retry-After", std::to_string(wait.count()));
      return r;
    }
  }

  // 4. CSRF, for state-changing methods.
  const bool safe = is_safe(req.method);
  if (!safe && !listed_origin) {
    if (auto site = req.headers.get("Sec-Fetch-Site");
        site && !iequals(*site, "same-origin") && !iequals(*site, "none"))
      return refuse(403, "cross-site request refused (Sec-Fetch-Site)");
    // Appended: "lit" + string trips GCC's -Wrestrict at -O3.
    std::string own = p.options.https ? "https://" : "http://";
    own.append(*host_header);
    if (origin && !iequals(*origin, own))
      return refuse(403, "cross-origin request from an origin not allowed");
  }
  if (!safe) {
    const std::optional<std::string_view> type = req.headers.get("Content-Type");
    if ((type || !req.body.empty()) && !(type && is_json(*type)))
      return refuse(415, "a request body must be Content-Type: application/json");
  }

  // 5. Authentication and role.
  if (!p.authenticates()) return std::nullopt;
  const std::optional<std::string_view> auth = req.headers.get("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!auth || auth->size() <= kBearer.size() ||
      !iequals(auth->substr(0, kBearer.size()), kBearer)) {
    Response r = refuse(401, "authentication required: Authorization: Bearer TOKEN");
    r.headers.set("WWW-Authenticate", "Bearer realm=\"orca\"");
    return r;
  }
  std::string_view token = auth->substr(kBearer.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  who = p.options.tokens->find(token);
  if (!who) {
    p.failures.record_failure(req.remote_address, Clock::now());
    Response r = refuse(401, "invalid token");
    r.headers.set("WWW-Authenticate", "Bearer realm=\"orca\", error=\"invalid_token\"");
    return r;
  }
  const Role needed = role_for_method(req.method);
  if (!who->may(needed)) {
    std::string m = "token \"";
    m.append(who->name).append("\" has role ").append(to_string(who->role));
    m.append("; this request needs ").append(to_string(needed));
    return refuse(403, m);
  }
  return std::nullopt;
}

Task<Response> admit(std::shared_ptr<Policy> p, Context ctx, Request req) {
  std::optional<Principal> who;
  std::optional<Response> refused = check(*p, req, who);
  std::optional<std::string> origin;  // add_headers needs it after the request moved
  if (auto o = req.headers.get("Origin")) origin.emplace(*o);
  if (refused) {
    add_headers(*p, origin, *refused);
    co_return std::move(*refused);
  }
  if (who) ctx = with_value(ctx, kPrincipal, std::move(*who));
  Task<Response> handled = p->routes.dispatch(std::move(ctx), std::move(req));  // GCC PR 101367
  Response r = co_await std::move(handled);
  add_headers(*p, origin, r);
  co_return r;
}

}  // namespace

Role role_for_method(std::string_view method) noexcept {
  return is_safe(method) ? Role::kRead : Role::kAdmin;
}

const Principal* principal_of(const Context& ctx) noexcept {
  return ctx.value(kPrincipal);
}

std::string host_of(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t'))
    h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
    h.remove_suffix(1);
  std::string_view name;
  std::string_view port;
  if (!h.empty() && h.front() == '[') {
    const std::size_t close = h.find(']');
    if (close == std::string_view::npos) return {};
    name = h.substr(0, close + 1);
    const std::string_view rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port = rest.substr(1);
    }
  } else {
    const std::size_t colon = h.find(':');
    name = h.substr(0, colon);
    if (colon != std::string_view::npos) port = h.substr(colon + 1);
  }
  if (name.empty() || name.size() > 255) return {};
  for (const char c : port)
    if (c < '0' || c > '9') return {};
  for (const char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                    c == '_' || c == '[' || c == ']' || c == ':';
    if (!ok) return {};
  }
  return lower(name);
}

Router protect(Router routes, AccessOptions options) {
  auto p = std::make_shared<Policy>(std::move(options));
  p->hosts = {"localhost", "127.0.0.1", "[::1]"};
  for (const std::string& h : p->options.allowed_hosts) {
    // A bare IPv6 address ("2001:db8::5") is taken as its URL form, in brackets.
    const bool bare_v6 =
        std::count(h.begin(), h.end(), ':') > 1 && h.find('[') == std::string::npos;
    std::string name = host_of(bare_v6 ? "[" + h + "]" : h);
    if (name.empty() || h.find_first_of(" \t") != std::string::npos ||
        (!bare_v6 && name.size() != h.size() && h.find(':') != std::string::npos))
      throw std::invalid_argument("allowed host \"" + h +
                                  "\": expected a host name or address, without a port");
    p->hosts.push_back(std::move(name));
  }
  for (const std::string& o : p->options.allowed_origins) {
    const std::size_t scheme = o.find("://");
    if (scheme == std::string::npos || scheme == 0 ||
        o.find('/', scheme + 3) != std::string::npos || host_of(o.substr(scheme + 3)).empty())
      throw std::invalid_argument(
          "allowed origin \"" + o +
          "\": expected scheme://host[:port], e.g. https://ops.example.com");
    p->origins.push_back(lower(o));
  }
  p->routes = std::move(routes);
  return detail::catch_all(
      [p](Context ctx, Request req) { return admit(p, std::move(ctx), std::move(req)); });
}

}  // namespace orca::http
