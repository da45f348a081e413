#include "orca/sync/err_group.hpp"

#include <stdexcept>

namespace orca {

std::pair<ErrGroup, Context> ErrGroup::with_context(const Context& parent) {
  auto [ctx, cancel] = with_cancel(parent);
  ErrGroup group;
  group.state_->cancel = std::move(cancel);
  return {std::move(group), std::move(ctx)};
}

void ErrGroup::set_limit(int n) {
  State& s = *state_;
  s.lock.lock();
  const int active = s.active;
  if (active == 0) s.limit = n;
  s.lock.unlock();
  if (active != 0)
    throw std::logic_error("orca::ErrGroup::set_limit: called while tasks are active");
}

bool ErrGroup::try_acquire(State& s) noexcept {
  s.lock.lock();
  const bool ok = s.limit <= 0 || s.active < s.limit;
  if (ok) ++s.active;
  s.lock.unlock();
  return ok;
}

void ErrGroup::release_slot(State& s) noexcept {
  detail::TaskHeader* next = nullptr;
  s.lock.lock();
  while (detail::WaitNode* n = s.slot_waiters.pop_front()) {
    if (n->claim->try_claim(0)) {
      next = n->claim->task;  // the slot passes to it; `active` stays
      break;
    }
  }
  if (next == nullptr) --s.active;
  s.lock.unlock();
  if (next != nullptr) detail::wake(next, detail::WakeOrder::kBack);
}

bool ErrGroup::SlotAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  detail::TaskHeader* me = detail::current_task();
  s.lock.lock();
  if (s.limit <= 0 || s.active < s.limit) {
    ++s.active;
    s.lock.unlock();
    return false;
  }
  claim.task = me;
  node.claim = &claim;
  node.index = 0;
  detail::prepare_park(me, self, "ErrGroup slot");
  s.slot_waiters.push_back(&node);
  s.lock.unlock();
  return true;
}

void ErrGroup::fail(State& s, std::error_code err, std::exception_ptr exc) noexcept {
  s.lock.lock();
  const bool first = !s.failed;
  if (first) {
    s.failed = true;
    s.first_error = err;
    s.first_exception = std::move(exc);
  }
  s.lock.unlock();
  if (first) s.cancel();
}

Task<std::error_code> ErrGroup::wait() {
  State& s = *state_;
  co_await s.running.wait();
  s.cancel();
  if (s.first_exception) std::rethrow_exception(s.first_exception);
  co_return s.first_error;
}

}  // namespace orca
