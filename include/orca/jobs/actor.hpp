// The actor of a producer call: who submits, cancels or requeues, carried by the
// Context so that no Broker signature has to name it. The brokers write it into the
// audit rows those calls append (AuditEntry::actor); the HTTP API sets it to the
// caller's token name ("anonymous" without authentication).
//
//   auto r = co_await center.cancel(with_actor(ctx, "ops"), id);  // the trail says "ops"
//
// Calls made by the center and nodes themselves (assign, claim, complete, reclaim,
// promote) record no actor: the node column names who acted.
//
// Thread safety: a Context value, immutable once set.
#pragma once

#include <string>
#include <string_view>

#include "orca/context/context.hpp"

namespace orca::jobs {

// Longer names are cut to this many bytes when written (audit rows stay small).
inline constexpr std::size_t kMaxActorBytes = 128;

Context with_actor(const Context& parent, std::string actor);
// The nearest actor set on ctx's path, or "" if none.
std::string_view actor_of(const Context& ctx) noexcept;

}  // namespace orca::jobs
