// JSON (de)serialisation of the job model (see json.hpp).
#include "orca/jobs/json.hpp"

#include <array>
#include <set>
#include <system_error>
#include <vector>

#include "orca/jobs/errors.hpp"

namespace orca::jobs {

namespace {

using nlohmann::json;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80)
      n = 0;
    else if ((c & 0xE0) == 0xC0 && c >= 0xC2)
      n = 1;
    else if ((c & 0xF0) == 0xE0)
      n = 2;
    else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
      n = 3;
    else
      return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

json time_or_null(const std::optional<WallClock::time_point>& t) {
  return t ? json(to_unix_ms(*t)) : json(nullptr);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (int i = 0; i < 64; ++i)
    value[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (text.size() % 4 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad != 0) return false;
        v[k] = value[static_cast<unsigned char>(c)];
        if (v[k] < 0) return false;
      }
    }
    const std::uint32_t bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((bits >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((bits >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(bits & 0xFF);
  }
  return true;
}

json to_json(const JobSpec& s) {
  json j;
  j["type"] = s.type;
  if (valid_utf8(s.payload))
    j["payload"] = s.payload;
  else
    j["payload_base64"] = base64_encode(s.payload);
  j["queue"] = s.queue;
  j["priority"] = s.priority;
  j["max_attempts"] = s.retry.max_attempts;
  j["backoff_base_ms"] = s.retry.base_delay.count();
  j["backoff_multiplier"] = s.retry.multiplier;
  j["backoff_max_ms"] = s.retry.max_delay.count();
  j["backoff_jitter"] = s.retry.jitter;
  j["timeout_ms"] = s.timeout.count();
  j["deadline_ms"] = time_or_null(s.deadline);
  j["unique_key"] = s.unique_key;
  j["run_at_ms"] = time_or_null(s.run_at);
  j["trace_id"] = s.trace_id;
  j["headers"] = s.headers;
  return j;
}

json to_json(const Job& job) {
  json j = to_json(job.spec);
  j["id"] = job.id;
  j["state"] = std::string(to_string(job.state));
  j["attempt"] = job.attempt;
  j["node"] = job.node;
  j["cancel_requested"] = job.cancel_requested;
  j["last_error"] = job.last_error;
  j["created_ms"] = to_unix_ms(job.created_at);
  j["updated_ms"] = to_unix_ms(job.updated_at);
  j["ready_ms"] = to_unix_ms(job.ready_at);
  j["lease_until_ms"] = to_unix_ms(job.lease_until);
  j["finished_ms"] = time_or_null(job.finished_at);
  return j;
}

json to_json(const NodeInfo& n) {
  return json{{"id", n.id},
              {"types", n.types},
              {"tags", n.tags},
              {"capacity", n.capacity},
              {"load", n.load},
              {"active", n.active},
              {"state", std::string(to_string(n.state))},
              {"pid", n.pid},
              {"started_ms", to_unix_ms(n.started_at)},
              {"heartbeat_ms", to_unix_ms(n.heartbeat_at)}};
}

json to_json(const AuditEntry& e) {
  return json{{"seq", e.seq},
              {"job", e.job},
              {"from", e.from ? json(std::string(to_string(*e.from))) : json(nullptr)},
              {"to", std::string(to_string(e.to))},
              {"node", e.node},
              {"attempt", e.attempt},
              {"at_ms", to_unix_ms(e.at)},
              {"error", e.error},
              {"actor", e.actor}};
}

json to_json(const QueueStats& q) {
  json counts = json::object();
  for (const auto& [state, n] : q.counts)
    counts[std::string(to_string(state))] = n;
  return json{{"queue", q.queue},
              {"counts", counts},
              {"oldest_pending_due_ms",
               q.oldest_pending_due ? json(to_unix_ms(*q.oldest_pending_due)) : json(nullptr)},
              {"paused", q.paused},
              {"paused_by", q.paused ? json(q.paused_by) : json(nullptr)},
              {"paused_at_ms", q.paused_at ? json(to_unix_ms(*q.paused_at)) : json(nullptr)}};
}

json to_json(const QueueStatus& s) {
  json out = to_json(s.stats);
  if (s.rates.empty()) {
    out["rate_limit"] = nullptr;
  } else {
    out["rate_limit"] = json{
        {"rates", s.rates}, {"scope", s.fleet ? "fleet" : "node"}, {"nodes", s.limiting_nodes}};
  }
  out["throttled"] = s.throttled();
  out["throttled_nodes"] = s.throttled_nodes;
  out["breaker_held_types"] = s.breaker_held_types;
  return out;
}

Result<json> parse_json_strict(std::string_view text) {
  // Each open object's keys so far; the parser reports keys in order, depth first.
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  auto track = [&](int, json::parse_event_t event, json& parsed) {
    if (!duplicate.empty()) return true;
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty()) {
      std::string key = parsed.get<std::string>();
      if (!keys.back().insert(key).second) duplicate = std::move(key);
    }
    return true;
  };
  json out = json::parse(text, track, /*allow_exceptions=*/false);
  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  if (out.is_discarded()) return Error(invalid, "malformed JSON");
  if (!duplicate.empty()) {
    std::string why("duplicate key \"");
    why.append(duplicate.substr(0, 200)).push_back('"');
    return Error(invalid, std::move(why));
  }
  return out;
}

Result<JobSpec> job_spec_from_json(const json& in) {
  auto invalid = [](std::string why) {
    return Error(make_error_code(errc::invalid_job), std::move(why));
  };
  if (!in.is_object()) return invalid("expected a JSON object");
  JobSpec s;
  for (const auto& item : in.items()) {
    // Named locals, not a structured binding: Clang 14 cannot capture bindings.
    const std::string& key = item.key();
    const json& v = item.value();
    auto expected = [&](const char* what) { return invalid(key + ": expected " + what); };
    if (key == "type") {
      if (!v.is_string()) return expected("a string");
      s.type = v.get<std::string>();
    } else if (key == "payload" || key == "payload_base64") {
      if (in.contains("payload") && in.contains("payload_base64"))
        return invalid("payload and payload_base64 are exclusive: give one of them");
      if (!v.is_string()) return expected("a string");
      if (key == "payload")
        s.payload = v.get<std::string>();
      else if (!base64_decode(v.get<std::string>(), s.payload))
        return expected("base64");
    } else if (key == "queue") {
      if (!v.is_string()) return expected("a string");
      s.queue = v.get<std::string>();
    } else if (key == "priority") {
      if (!v.is_number_integer()) return expected("an integer");
      const auto p = v.get<std::int64_t>();
      if (p < -1000000 || p > 1000000) return expected("an integer in -1000000..1000000");
      s.priority = static_cast<int>(p);
    } else if (key == "max_attempts") {
      if (!v.is_number_integer()) return expected("an integer");
      const auto a = v.get<std::int64_t>();
      const int most = JobLimits{}.max_attempts;
      if (a < 1 || a > most) {
        std::string why("max_attempts must be 1..");
        why.append(std::to_string(most)).append(", got ").append(std::to_string(a));
        return invalid(std::move(why));
      }
      s.retry.max_attempts = static_cast<int>(a);
    } else if (key == "backoff_base_ms" || key == "backoff_max_ms" || key == "timeout_ms") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
          v.get<std::int64_t>() > kMaxDurationMs)
        return expected("an integer in 0..315360000000 (milliseconds)");
      const std::chrono::milliseconds ms(v.get<std::int64_t>());
      (key == "backoff_base_ms"  ? s.retry.base_delay
       : key == "backoff_max_ms" ? s.retry.max_delay
                                 : s.timeout) = ms;
    } else if (key == "backoff_multiplier" || key == "backoff_jitter") {
      if (!v.is_number()) return expected("a number");
      (key == "backoff_multiplier" ? s.retry.multiplier : s.retry.jitter) = v.get<double>();
    } else if (key == "deadline_ms" || key == "run_at_ms") {
      if (v.is_null()) continue;
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMaxUnixMs)
        return expected("Unix milliseconds in 0..7258118399999, or null");
      (key == "deadline_ms" ? s.deadline : s.run_at) = from_unix_ms(v.get<std::int64_t>());
    } else if (key == "unique_key" || key == "trace_id") {
      if (!v.is_string()) return expected("a string");
      (key == "unique_key" ? s.unique_key : s.trace_id) = v.get<std::string>();
    } else if (key == "headers") {
      if (!v.is_object()) return expected("an object of strings");
      for (const auto& [hk, hv] : v.items()) {
        if (!hv.is_string()) return invalid("headers." + hk + ": expected a string");
        s.headers[hk] = hv.get<std::string>();
      }
    } else {
      std::string why("unknown field \"");
      why.append(key).push_back('"');
      return invalid(std::move(why));
    }
  }
  if (std::string problem = check_job_spec(s); !problem.empty()) return invalid(std::move(problem));
  return s;
}

}  // namespace orca::jobs
