// Hash -> Job for the Redis broker: a job's hash (its short fields, as HGETALL returns
// them; redis_broker.hpp has the layout) and its spec's JSON, read into a Job.
// Invariant: a stored number is read whole or not at all: a field that is not a
// decimal integer is a broker_failure naming the field and the job, never a silent 0.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "orca/jobs/job.hpp"
#include "orca/redis/reply.hpp"
#include "orca/runtime/result.hpp"

namespace orca::jobs::detail::redis_store {

// `text` as a decimal integer (all of it), or a broker_failure saying that `what` is
// not one.
Result<std::int64_t> parse_i64(std::string_view text, std::string_view what);

struct HashedJob {
  Job job;
  // The parser's message when the spec does not parse (written by another program:
  // enqueue writes only specs that do); the job then has only the type and queue its
  // hash has. One such job must not make a whole listing fail.
  std::string bad_spec;
};

// The job of `queue` whose hash is `hash` and whose spec is `spec`. Errors:
// broker_failure for a hash field that should be an integer and is not.
Result<HashedJob> job_from_hash(const redis::Reply& hash, const std::string& spec,
                                const std::string& queue);

}  // namespace orca::jobs::detail::redis_store
