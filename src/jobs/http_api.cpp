// The jobs HTTP JSON API (http_api.hpp): each route parses and checks its input, makes
// one Center/Broker call, and renders JSON.
#include "orca/jobs/http_api.hpp"

#include <charconv>
#include <memory>
#include <set>
#include <variant>

#include "live_api.hpp"
#include "orca/jobs/actor.hpp"
#include "orca/jobs/json.hpp"

namespace orca::jobs {

namespace {

using nlohmann::json;

struct Api {
  Center* center;
  ApiOptions options;
  Broker& broker() const { return center->broker(); }
};
using ApiPtr = std::shared_ptr<const Api>;

http::Response error(int status, const std::string& message) {
  return http::Response::json(status, json{{"error", message}}.dump());
}

http::Response ok(int status, const json& body) {
  return http::Response::json(status, body.dump());
}

// A failed store call: 404/409 for the job's own reasons, 503 for the store.
http::Response from_error(const Error& e, JobId id) {
  if (e == errc::not_found) return error(404, "no job " + std::to_string(id));
  if (e == errc::invalid_state) return error(409, "job " + std::to_string(id) + ": " + e.message());
  if (e == errc::broker_failure) return error(503, "store failure: " + std::string(e.detail()));
  return error(503, e.message());
}

std::optional<JobId> parse_id(const http::Request& req) {
  auto text = req.path_param("id");
  if (!text) return std::nullopt;
  JobId id = 0;
  const auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), id);
  if (ec != std::errc() || p != text->data() + text->size() || id <= 0) return std::nullopt;
  return id;
}

Task<http::Response> submit(ApiPtr api, Context ctx, http::Request req) {
  Result<json> parsed = parse_json_strict(req.body);
  if (!parsed) co_return error(400, std::string("body: ").append(parsed.error().detail()));
  json body = std::move(*parsed);
  const bool many = body.is_array();
  if (!many) body = json::array({body});
  if (body.empty()) co_return error(400, "no job in the body");
  std::vector<JobSpec> specs;
  for (std::size_t i = 0; i < body.size(); ++i) {
    Result<JobSpec> spec = job_spec_from_json(body[i]);
    if (!spec) {
      const std::string_view problem = spec.error().detail();
      std::string where = many ? "job " + std::to_string(i) + ": " : "";
      co_return error(problem.starts_with("payload is ") ? 413 : 400, where.append(problem));
    }
    if (std::string limit = check_job_spec(*spec, api->options.limits); !limit.empty())
      co_return error(limit.rfind("payload is ", 0) == 0 ? 413 : 400, limit);
    specs.push_back(std::move(*spec));
  }
  auto nodes = co_await api->broker().nodes(ctx);
  if (!nodes) co_return from_error(nodes.error(), 0);
  const std::set<std::string> handled = live_types(*nodes);
  std::vector<std::string> types;
  for (const JobSpec& s : specs) {
    if (api->options.reject_unknown_types && handled.count(s.type) == 0)
      co_return error(400, "unknown job type \"" + s.type + "\": no live node handles it");
    types.push_back(s.type);
  }
  auto added = co_await api->center->submit_batch(ctx, std::move(specs));
  if (!added) co_return from_error(added.error(), 0);
  json out = json::array();
  for (std::size_t i = 0; i < added->size(); ++i) {
    const EnqueueResult& r = (*added)[i];
    json item{{"id", r.id}, {"duplicate", r.duplicate}};
    if (handled.count(types[i]) == 0)
      item["warning"] =
          "no live node handles type \"" + types[i] + "\" yet: the job waits until one registers";
    out.push_back(std::move(item));
  }
  co_return ok(201, many ? out : out[0]);
}

Task<http::Response> get_job(ApiPtr api, Context ctx, http::Request req) {
  auto id = parse_id(req);
  if (!id) co_return error(400, "job id must be a positive integer");
  auto job = co_await api->broker().get(ctx, *id);
  if (!job) co_return from_error(job.error(), *id);
  co_return ok(200, to_json(*job));
}

Task<http::Response> audit(ApiPtr api, Context ctx, http::Request req) {
  auto id = parse_id(req);
  if (!id) co_return error(400, "job id must be a positive integer");
  auto job = co_await api->broker().get(ctx, *id);  // 404 rather than an empty trail
  if (!job) co_return from_error(job.error(), *id);
  auto trail = co_await api->broker().audit(ctx, *id);
  if (!trail) co_return from_error(trail.error(), *id);
  json out = json::array();
  for (const AuditEntry& e : *trail)
    out.push_back(to_json(e));
  co_return ok(200, out);
}

// A transition the job's state forbids: 409 naming that state (read after the
// refusal, so it is the state that refused, or a later one).
Task<http::Response> conflict_or_error(ApiPtr api, Context ctx, Error e, JobId id,
                                       const char* action) {
  if (e != errc::invalid_state) co_return from_error(e, id);
  auto job = co_await api->broker().get(ctx, id);
  if (!job) co_return from_error(job.error(), id);
  co_return error(409, "job " + std::to_string(id) + " is " + std::string(to_string(job->state)) +
                           ": " + action + " is not allowed in that state");
}

Task<http::Response> cancel(ApiPtr api, Context ctx, http::Request req) {
  auto id = parse_id(req);
  if (!id) co_return error(400, "job id must be a positive integer");
  auto state = co_await api->center->cancel(ctx, *id);
  if (!state) co_return co_await conflict_or_error(api, ctx, state.error(), *id, "cancel");
  co_return ok(200, json{{"id", *id},
                         {"state", std::string(to_string(*state))},
                         {"cancel_requested", *state == JobState::kRunning}});
}

Task<http::Response> requeue(ApiPtr api, Context ctx, http::Request req) {
  auto id = parse_id(req);
  if (!id) co_return error(400, "job id must be a positive integer");
  auto r = co_await api->broker().requeue(ctx, *id);
  if (!r) co_return co_await conflict_or_error(api, ctx, r.error(), *id, "requeue");
  api->center->notify();
  co_return ok(200, json{{"id", *id}, {"state", "pending"}});
}

Task<http::Response> list(ApiPtr api, Context ctx, http::Request req, bool dead_letter) {
  JobFilter f;
  f.dead_letter = dead_letter;
  f.limit = 100;
  for (const auto& [key, value] : req.query_params()) {
    if (key == "state") {
      f.state = parse_job_state(value);
      if (!f.state) co_return error(400, "state: unknown state \"" + value + "\"");
    } else if (key == "type") {
      f.type = value;
    } else if (key == "queue") {
      f.queue = value;
    } else if (key == "node") {
      f.node = value;
    } else if (key == "trace_id") {
      f.trace_id = value;
    } else if (key == "error") {
      f.error = value;
    } else if (key == "limit" || key == "before") {
      std::int64_t n = 0;
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n <= 0)
        co_return error(400, key + ": expected a positive integer");
      if (key == "limit") {
        if (static_cast<std::size_t>(n) > api->options.max_list)
          co_return error(400, "limit: at most " + std::to_string(api->options.max_list));
        f.limit = static_cast<std::size_t>(n);
      } else {
        f.before_id = n;
      }
    } else {
      co_return error(400, "unknown query parameter \"" + key + "\"");
    }
  }
  auto jobs = co_await api->broker().list(ctx, f);
  if (!jobs) co_return from_error(jobs.error(), 0);
  json out = json::array();
  for (const Job& j : *jobs)
    out.push_back(to_json(j));
  co_return ok(200, out);
}

Task<http::Response> nodes(ApiPtr api, Context ctx, http::Request) {
  auto list = co_await api->broker().nodes(ctx);
  if (!list) co_return from_error(list.error(), 0);
  json out = json::array();
  for (const NodeInfo& n : *list)
    out.push_back(to_json(n));
  co_return ok(200, out);
}

// Each queue with its counts and what holds its jobs back (queue_status.hpp).
Task<http::Response> queues(ApiPtr api, Context ctx, http::Request) {
  auto list = co_await api->broker().queues(ctx);
  if (!list) co_return from_error(list.error(), 0);
  auto nodes = co_await api->broker().nodes(ctx);
  if (!nodes) co_return from_error(nodes.error(), 0);
  json out = json::array();
  for (const QueueStatus& q : queue_status(*list, *nodes))
    out.push_back(to_json(q));
  co_return ok(200, out);
}

// --- queue administration and bulk actions ----------------------------------------------

// At most this many ids in one POST /api/jobs/cancel (each is one store call).
constexpr std::size_t kMaxCancelIds = 1000;

// The {queue} of the path, checked as enqueue checks it; or the 400 that refuses it.
std::variant<std::string, http::Response> queue_param(const Api& api, const http::Request& req) {
  std::string queue(req.path_param("queue").value_or(""));
  if (std::string why = check_queue_name(queue, api.options.limits); !why.empty())
    return error(400, why);
  return queue;
}

Task<http::Response> pause(ApiPtr api, Context ctx, http::Request req, bool paused) {
  auto queue = queue_param(*api, req);
  if (auto* refused = std::get_if<http::Response>(&queue)) co_return std::move(*refused);
  const std::string& name = std::get<std::string>(queue);
  auto r = co_await api->broker().set_queue_paused(ctx, name, paused);
  if (!r) co_return from_error(r.error(), 0);
  if (!paused) api->center->notify();
  co_return ok(200, json{{"queue", name}, {"paused", paused}});
}

Task<http::Response> remove(ApiPtr api, Context ctx, http::Request req) {
  auto id = parse_id(req);
  if (!id) co_return error(400, "job id must be a positive integer");
  auto r = co_await api->broker().remove(ctx, *id);
  if (!r) co_return co_await conflict_or_error(api, ctx, r.error(), *id, "delete");
  co_return ok(200, json{{"id", *id}, {"deleted", true}});
}

Task<http::Response> requeue_dead(ApiPtr api, Context ctx, http::Request req) {
  auto queue = queue_param(*api, req);
  if (auto* refused = std::get_if<http::Response>(&queue)) co_return std::move(*refused);
  auto n = co_await api->broker().requeue_dead(ctx, std::get<std::string>(queue));
  if (!n) co_return from_error(n.error(), 0);
  if (*n > 0) api->center->notify();
  co_return ok(200, json{{"requeued", *n}});
}

// Body: nothing, or {"state": "succeeded" | "failed" | "cancelled" | "dead"}.
Task<http::Response> delete_finished(ApiPtr api, Context ctx, http::Request req) {
  auto queue = queue_param(*api, req);
  if (auto* refused = std::get_if<http::Response>(&queue)) co_return std::move(*refused);
  std::optional<JobState> state;
  if (!req.body.empty()) {
    Result<json> body = parse_json_strict(req.body);
    if (!body) co_return error(400, std::string("body: ").append(body.error().detail()));
    if (!body->is_object()) co_return error(400, "body: expected an object {\"state\": ...}");
    for (const auto& [key, value] : body->items()) {
      if (key != "state") co_return error(400, "body: unknown field \"" + key + "\"");
      if (value.is_string()) state = parse_job_state(value.get<std::string>());
      if (!state || is_live(*state))
        co_return error(400, "state: expected succeeded, failed, cancelled or dead");
    }
  }
  auto n = co_await api->broker().delete_finished(ctx, std::get<std::string>(queue), state);
  if (!n) co_return from_error(n.error(), 0);
  co_return ok(200, json{{"deleted", *n}});
}

// Body {"ids": [1, 2, ...]}: each cancelled as POST /api/jobs/{id}/cancel does, its
// outcome in "results", in order (one failing does not stop the others).
Task<http::Response> cancel_many(ApiPtr api, Context ctx, http::Request req) {
  Result<json> body = parse_json_strict(req.body);
  if (!body) co_return error(400, std::string("body: ").append(body.error().detail()));
  if (!body->is_object() || body->size() != 1 || !body->contains("ids") ||
      !(*body)["ids"].is_array())
    co_return error(400, "body: expected {\"ids\": [job ids]}");
  const json& ids = (*body)["ids"];
  if (ids.size() > kMaxCancelIds)
    co_return error(400, "ids: at most " + std::to_string(kMaxCancelIds) + " per call, got " +
                             std::to_string(ids.size()));
  for (const json& id : ids)
    if (!id.is_number_integer() || id.get<std::int64_t>() <= 0)
      co_return error(400, "ids: each must be a positive integer, got " + id.dump());
  json results = json::array();
  for (const json& item : ids) {
    const JobId id = item.get<JobId>();
    auto state = co_await api->center->cancel(ctx, id);
    if (state) {
      results.push_back(json{{"id", id}, {"state", std::string(to_string(*state))}});
    } else if (state.error() == errc::not_found) {
      results.push_back(json{{"id", id}, {"error", "not found"}});
    } else if (state.error() == errc::invalid_state) {
      auto job = co_await api->broker().get(ctx, id);
      std::string why = job ? "job is " + std::string(to_string(job->state)) : "not cancellable";
      results.push_back(json{{"id", id}, {"error", why}});
    } else {
      co_return from_error(state.error(), id);  // the store failed: the rest would too
    }
  }
  co_return ok(200, json{{"results", std::move(results)}});
}

// The caller, as the audit trail names it: the token's name, or "anonymous" when the
// policy authenticates nobody.
Context with_caller(Context ctx) {
  const http::Principal* who = http::principal_of(ctx);
  return with_actor(ctx, who != nullptr ? who->name : std::string("anonymous"));
}

}  // namespace

http::Router make_api_router(Center& center, ApiOptions options) {
  http::AccessOptions access = std::move(options.access);
  auto api = std::make_shared<const Api>(Api{&center, options});
  http::Router router;
  // Each handler is a plain lambda that calls a coroutine taking everything by value:
  // no coroutine frame refers to the lambda object, wherever the router keeps it.
  router.post("/api/jobs", [api](Context c, http::Request r) {
    return submit(api, with_caller(c), std::move(r));
  });
  router.get("/api/jobs",
             [api](Context c, http::Request r) { return list(api, c, std::move(r), false); });
  router.get("/api/dead",
             [api](Context c, http::Request r) { return list(api, c, std::move(r), true); });
  router.get("/api/jobs/{id}",
             [api](Context c, http::Request r) { return get_job(api, c, std::move(r)); });
  router.get("/api/jobs/{id}/audit",
             [api](Context c, http::Request r) { return audit(api, c, std::move(r)); });
  router.post("/api/jobs/{id}/cancel", [api](Context c, http::Request r) {
    return cancel(api, with_caller(c), std::move(r));
  });
  router.del("/api/jobs/{id}", [api](Context c, http::Request r) {
    return cancel(api, with_caller(c), std::move(r));
  });
  router.post("/api/jobs/{id}/requeue", [api](Context c, http::Request r) {
    return requeue(api, with_caller(c), std::move(r));
  });
  router.get("/api/nodes",
             [api](Context c, http::Request r) { return nodes(api, c, std::move(r)); });
  // Queue administration and bulk actions (admin: every POST).
  router.post("/api/queues/{queue}/pause", [api](Context c, http::Request r) {
    return pause(api, with_caller(c), std::move(r), true);
  });
  router.post("/api/queues/{queue}/resume", [api](Context c, http::Request r) {
    return pause(api, with_caller(c), std::move(r), false);
  });
  router.post("/api/queues/{queue}/requeue-dead", [api](Context c, http::Request r) {
    return requeue_dead(api, with_caller(c), std::move(r));
  });
  router.post("/api/queues/{queue}/delete-finished", [api](Context c, http::Request r) {
    return delete_finished(api, with_caller(c), std::move(r));
  });
  router.post("/api/jobs/{id}/delete", [api](Context c, http::Request r) {
    return remove(api, with_caller(c), std::move(r));
  });
  router.post("/api/jobs/cancel", [api](Context c, http::Request r) {
    return cancel_many(api, with_caller(c), std::move(r));
  });
  router.get("/api/queues",
             [api](Context c, http::Request r) { return queues(api, c, std::move(r)); });
  detail::add_live_routes(router, center, options.live, options.metrics);  // live_api.hpp
  if (options.metrics != nullptr) http::add_metrics_route(router, *options.metrics);
  // Innermost first: shedding around the routes, then the per-token limit, the access
  // policy, and outermost the limits every request passes (see http_api.hpp).
  if (options.load_shedding) router = http::shed_load(std::move(router), *options.load_shedding);
  router = http::rate_limit(std::move(router), options.token_rate_limit);
  router = http::protect(std::move(router), std::move(access));
  return http::rate_limit(std::move(router), options.rate_limit);
}

}  // namespace orca::jobs
