// Router: a trie of path segments. Each node has literal children, at most one
// "{name}" child and at most one "{name...}" catch-all; lookup tries them in that
// order and backtracks, so the most specific pattern that fits wins.
#include "orca/net/http/router.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>
#include <utility>

namespace orca::http {

struct Router::Route {
  std::string method;
  std::string pattern;  // as registered: Response::route of its answers
  Handler handler;
};

struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::unique_ptr<Node> rest;
  std::string rest_name;
  std::vector<Route> handlers;  // by method
};

namespace {

// A path of more segments than this matches nothing (404): it bounds the
// recursion of the lookup, and no route of a real API is this deep.
constexpr std::size_t kMaxSegments = 128;

// "/" -> {""}, "/a/b" -> {"a", "b"}, "/a/" -> {"a", ""}. Empty for no leading '/'.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool braced(std::string_view s) {
  return s.size() >= 2 && s.front() == '{' && s.back() == '}';
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;
Router::~Router() = default;

Router& Router::add(std::string_view method, std::string_view pattern, Handler handler) {
  const auto bad = [&](const char* why) {
    return std::invalid_argument("orca::http::Router: pattern \"" + std::string(pattern) +
                                 "\": " + why);
  };
  if (!handler) throw bad("empty handler");
  if (method.empty()) throw bad("empty method");
  const std::vector<std::string_view> segments = split_path(pattern);
  if (segments.empty()) throw bad("must start with '/'");
  Node* node = root_.get();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string_view seg = segments[i];
    if (braced(seg)) {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
        if (i + 1 != segments.size()) throw bad("{name...} must be the last segment");
        name.remove_suffix(3);
        if (!node->rest) {
          node->rest = std::make_unique<Node>();
          node->rest_name = name;
        } else if (node->rest_name != name) {
          throw bad("conflicting wildcard names");
        }
        node = node->rest.get();
        continue;
      }
      if (name.empty() || name.find_first_of("{}") != std::string_view::npos)
        throw bad("bad {name}");
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = name;
      } else if (node->param_name != name) {
        throw bad("conflicting parameter names at the same position");
      }
      node = node->param.get();
      continue;
    }
    if (seg.find_first_of("{}") != std::string_view::npos) throw bad("'{' or '}' in a literal");
    auto it = node->literals.find(seg);
    if (it == node->literals.end())
      it = node->literals.emplace(std::string(seg), std::make_unique<Node>()).first;
    node = it->second.get();
  }
  for (const Route& r : node->handlers)
    if (r.method == method) throw bad("registered twice for this method");
  node->handlers.push_back({std::string(method), std::string(pattern), std::move(handler)});
  return *this;
}

// One lookup: the decoded segments, the parameters bound so far, and the methods
// seen on nodes that matched the whole path (for 405's Allow).
struct Router::Lookup {
  std::string_view method;
  std::vector<std::string> segs;
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string_view> allowed;
};

// Depth-first in priority order; stops at the first node with a handler for the
// method (HEAD falling back to GET).
const Router::Route* Router::walk(const Node* node, std::size_t i, Lookup& l) {
  if (i == l.segs.size()) {
    const Route* get = nullptr;
    for (const Route& r : node->handlers) {
      if (r.method == l.method) return &r;
      if (r.method == "GET") get = &r;
      if (std::find(l.allowed.begin(), l.allowed.end(), r.method) == l.allowed.end())
        l.allowed.emplace_back(r.method);
    }
    if (l.method == "HEAD" && get != nullptr) return get;
    return nullptr;
  }
  if (auto it = node->literals.find(l.segs[i]); it != node->literals.end()) {
    if (const Route* h = walk(it->second.get(), i + 1, l)) return h;
  }
  if (node->param) {
    l.params.emplace_back(node->param_name, l.segs[i]);
    if (const Route* h = walk(node->param.get(), i + 1, l)) return h;
    l.params.pop_back();
  }
  if (node->rest && !(l.segs.size() - i == 1 && l.segs[i].empty())) {
    std::string tail = l.segs[i];
    for (std::size_t j = i + 1; j < l.segs.size(); ++j)
      tail.append("/").append(l.segs[j]);
    l.params.emplace_back(node->rest_name, std::move(tail));
    if (const Route* h = walk(node->rest.get(), l.segs.size(), l)) return h;
    l.params.pop_back();
  }
  return nullptr;
}

Router::Match Router::match(Request& req) const {
  Match result;
  result.status = 404;
  std::vector<std::string_view> raw = split_path(req.path);
  if (raw.empty() || raw.size() > kMaxSegments) return result;
  Lookup l;
  l.method = req.method;
  l.segs.reserve(raw.size());
  for (std::string_view s : raw) {
    if (s.find('%') == std::string_view::npos) {
      l.segs.emplace_back(s);
      continue;
    }
    auto decoded = percent_decode(s);
    if (!decoded) return result;  // a malformed escape names no resource
    l.segs.push_back(std::move(*decoded));
  }
  if (const Route* r = walk(root_.get(), 0, l)) {
    result.handler = &r->handler;
    result.pattern = r->pattern;
    result.status = 200;
    req.path_params = std::move(l.params);
    return result;
  }
  if (!l.allowed.empty()) {
    result.status = 405;
    bool has_get = false;
    bool has_head = false;
    for (std::size_t i = 0; i < l.allowed.size(); ++i) {
      has_get = has_get || l.allowed[i] == "GET";
      has_head = has_head || l.allowed[i] == "HEAD";
      if (i > 0) result.allow.append(", ");
      result.allow.append(l.allowed[i]);
    }
    if (has_get && !has_head) result.allow.append(", HEAD");
  }
  return result;
}

Task<Response> Router::dispatch(Context ctx, Request req, ErrorFormat errors) const {
  const Match m = match(req);
  if (m.handler == nullptr) {
    if (m.status == 405) {
      Response r = Response::error(405, "method not allowed", errors);
      r.headers.add("Allow", m.allow);
      co_return r;
    }
    co_return Response::error(404, "not found", errors);
  }
  // A named local: the task is built outside the co_await operand (GCC PR 101367).
  Task<Response> handled = (*m.handler)(std::move(ctx), std::move(req));
  Response resp = co_await std::move(handled);
  // The innermost router names the route: an outer one (a wrapper's) finds it set.
  if (resp.route.empty() && !transparent_) resp.route = m.pattern;
  co_return resp;
}

}  // namespace orca::http
