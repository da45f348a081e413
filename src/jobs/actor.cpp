// with_actor / actor_of (actor.hpp): one Context key, defined once here.
#include "orca/jobs/actor.hpp"

namespace orca::jobs {

namespace {
const ContextKey<std::string> kActor{"orca.jobs.actor"};
}  // namespace

Context with_actor(const Context& parent, std::string actor) {
  if (actor.size() > kMaxActorBytes) actor.resize(kMaxActorBytes);
  return with_value(parent, kActor, std::move(actor));
}

std::string_view actor_of(const Context& ctx) noexcept {
  const std::string* a = ctx.value(kActor);
  return a == nullptr ? std::string_view() : std::string_view(*a);
}

}  // namespace orca::jobs
