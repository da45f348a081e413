// Hash -> Job for the Redis broker (redis_job_hash.hpp).
#include "redis_job_hash.hpp"

#include <charconv>

#include "orca/jobs/errors.hpp"
#include "orca/jobs/json.hpp"

namespace orca::jobs::detail::redis_store {

Result<std::int64_t> parse_i64(std::string_view text, std::string_view what) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    std::string why(what);
    why.append(" is not an integer: \"").append(text.substr(0, 40)).append("\"");
    return Error(make_error_code(errc::broker_failure), std::move(why));
  }
  return v;
}

Result<HashedJob> job_from_hash(const redis::Reply& r, const std::string& spec,
                                const std::string& queue) {
  HashedJob out;
  Job& j = out.job;
  // The id first, so that an error can name the job.
  std::string id = "?";
  for (std::size_t i = 0; i + 1 < r.size(); i += 2)
    if (r[i].str() == "id") id = r[i + 1].str();
  const auto number = [&](const std::string& field, const std::string& v) {
    std::string what = "job ";
    what.append(id).append(" of queue ").append(queue).append(": field ").append(field);
    return parse_i64(v, what);
  };
  std::int64_t fin = -1;
  std::string type;
  // Field by field, no map (get, list and the center's peek run it per job).
  for (std::size_t i = 0; i + 1 < r.size(); i += 2) {
    const std::string& name = r[i].str();
    const std::string& v = r[i + 1].str();
    if (name == "node") {
      j.node = v;
    } else if (name == "cr") {
      j.cancel_requested = v == "1";
    } else if (name == "err") {
      j.last_error = v;
    } else if (name == "type") {
      type = v;
    } else if (name == "id" || name == "state" || name == "att" || name == "created" ||
               name == "upd" || name == "ready" || name == "lease" ||
               (name == "fin" && !v.empty())) {
      auto n = number(name, v);
      if (!n) return n.error();
      if (name == "id")
        j.id = *n;
      else if (name == "state")
        j.state = static_cast<JobState>(*n);
      else if (name == "att")
        j.attempt = static_cast<int>(*n);
      else if (name == "created")
        j.created_at = from_unix_ms(*n);
      else if (name == "upd")
        j.updated_at = from_unix_ms(*n);
      else if (name == "ready")
        j.ready_at = from_unix_ms(*n);
      else if (name == "lease")
        j.lease_until = from_unix_ms(*n);
      else
        fin = *n;
    }
  }
  if (fin >= 0) j.finished_at = from_unix_ms(fin);
  Result<JobSpec> parsed = job_spec_from_json(nlohmann::json::parse(spec, nullptr, false));
  if (parsed) {
    j.spec = std::move(*parsed);
  } else {
    out.bad_spec = parsed.error().detail();
    j.spec.type = type;
    j.spec.queue = queue;
  }
  return out;
}

}  // namespace orca::jobs::detail::redis_store
