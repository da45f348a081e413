// Context nodes: creation, cancellation, release, and the awaiters.
//
// Cancelling a subtree (cancel()):
//   1. Lock the node; if already done, stop. Set err/cause, then done (release).
//   2. Still under the lock: claim every waiter (the task goes onto one wake batch),
//      detach the child list (pinning each child), detach after-funcs to start.
//   3. Unlock; stop the node's timer; start after-funcs; push children on a work
//      stack and repeat from 1 for each with the same err and cause.
//   4. Unlink the top node from its parent; wake the whole batch at once.
// Iterative, so a chain of any depth cannot overflow the stack.
#include "orca/context/context.hpp"

#include "orca/runtime/detail/perturb.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace orca::detail {
namespace {

ContextNode g_background(ContextKind::kRoot);
ContextNode g_todo(ContextKind::kRoot);

template <class Node>
Node* new_node() {
  return new (allocate_frame(sizeof(Node))) Node();
}

// Links `child` under the canceller of `parent`, or makes it born-cancelled.
// Returns false if the parent was already done.
bool attach(CancelNode* child, ContextNode* parent) noexcept {
  child->parent = parent;
  parent->ref();
  child->canceller = child;
  child->deadline = parent->deadline;
  CancelNode* pc = parent->canceller;
  if (pc == nullptr) return true;
  ORCA_PERTURB("context.attach");
  pc->lock.lock();
  if (pc->done.load(std::memory_order_relaxed)) {
    const std::error_code err = pc->err;
    const std::error_code cause = pc->cause;
    pc->lock.unlock();
    child->err = err;
    child->cause = cause;
    child->done.store(true, std::memory_order_release);
    return false;
  }
  child->prev_sibling = nullptr;
  child->next_sibling = pc->first_child;
  if (pc->first_child != nullptr) pc->first_child->prev_sibling = child;
  pc->first_child = child;
  child->linked = true;
  child->registered_with = pc;
  pc->lock.unlock();
  return true;
}

// Under pc's lock.
void unlink_child(CancelNode* pc, CancelNode* child) noexcept {
  if (child->prev_sibling != nullptr) {
    child->prev_sibling->next_sibling = child->next_sibling;
  } else {
    pc->first_child = child->next_sibling;
  }
  if (child->next_sibling != nullptr) child->next_sibling->prev_sibling = child->prev_sibling;
  child->prev_sibling = child->next_sibling = nullptr;
  child->linked = false;
}

void detach_from_parent(CancelNode* node) noexcept {
  CancelNode* pc = node->registered_with;
  if (pc == nullptr) return;
  pc->lock.lock();
  if (node->linked) unlink_child(pc, node);
  pc->lock.unlock();
}

void destroy_node(ContextNode* n) noexcept {
  switch (n->kind) {
    case ContextKind::kRoot:
      return;
    case ContextKind::kCancel: {
      auto* c = static_cast<CancelNode*>(n);
      detach_from_parent(c);
      c->~CancelNode();
      deallocate_frame(c, sizeof(CancelNode));
      return;
    }
    case ContextKind::kTimer: {
      auto* c = static_cast<TimerCancelNode*>(n);
      detach_from_parent(c);
      c->~TimerCancelNode();  // the timer held a reference, so it is not armed
      deallocate_frame(c, sizeof(TimerCancelNode));
      return;
    }
    case ContextKind::kValue: {
      auto* v = static_cast<ValueNode*>(n);
      v->destroy_value(v);
      return;
    }
    case ContextKind::kWithoutCancel:
      n->~ContextNode();
      deallocate_frame(n, sizeof(ContextNode));
      return;
  }
}

void start_after_func(AfterFuncNode* n) noexcept {
  try {
    n->invoke(n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orca: after_func could not start its task: %s\n", e.what());
  }
  release(n);  // the registration's reference
}

// Steps 1-3 for one node. Appends claimed tasks to `batch` and pinned children
// to `work`. Returns false if the node was already done.
bool cancel_one(CancelNode* node, std::error_code err, std::error_code cause, TaskHeader*& batch,
                std::vector<CancelNode*>& work) noexcept {
  node->lock.lock();
  if (node->done.load(std::memory_order_relaxed)) {
    node->lock.unlock();
    return false;
  }
  node->err = err;
  node->cause = cause;
  node->done.store(true, std::memory_order_release);
  ORCA_PERTURB("context.marked_done");
  // Claims happen under the lock: a node whose claim we lose may be freed by its
  // task as soon as we let go.
  for (WaitNode* w = node->waiters.take_all(); w != nullptr; w = w->next) {
    if (w->claim->try_claim(w->index)) {
      TaskHeader* t = w->claim->task;
      t->next = batch;
      batch = t;
    }
  }
  for (CancelNode* c = node->first_child; c != nullptr;) {
    CancelNode* next = c->next_sibling;
    c->linked = false;
    c->prev_sibling = c->next_sibling = nullptr;
    std::uint32_t r = c->refs.load(std::memory_order_relaxed);
    while (r != 0 && !c->refs.compare_exchange_weak(r, r + 1, std::memory_order_relaxed)) {
    }
    if (r != 0) work.push_back(c);  // else being destroyed: leave it be
    c = next;
  }
  node->first_child = nullptr;
  AfterFuncNode* to_start = nullptr;
  for (AfterFuncNode* a = node->after_funcs; a != nullptr;) {
    AfterFuncNode* next = a->next;
    a->linked = false;
    std::uint8_t pending = AfterFuncNode::kPending;
    if (a->state.compare_exchange_strong(pending, AfterFuncNode::kStarted,
                                         std::memory_order_acq_rel)) {
      a->next = to_start;
      to_start = a;
    } else {
      release(a);  // stopped: drop the registration's reference
    }
    a = next;
  }
  node->after_funcs = nullptr;
  node->lock.unlock();
  ORCA_PERTURB("context.before_children");

  if (node->kind == ContextKind::kTimer) {
    if (static_cast<TimerCancelNode*>(node)->timer.cancel()) release(node);  // timer's reference
  }
  while (to_start != nullptr) {
    AfterFuncNode* next = to_start->next;
    ORCA_PERTURB("context.after_func");
    start_after_func(to_start);
    to_start = next;
  }
  return true;
}

void on_deadline_expired(void* arg) {
  auto* node = static_cast<TimerCancelNode*>(arg);
  cancel(node, make_error_code(errc::deadline_exceeded), node->deadline_cause);
  release(node);  // the timer's reference
}

void on_deadline_timer(TimerEntry* entry) noexcept {
  // Runs with the wheel locked; cancelling may touch other timers, so defer.
  defer_after_timers(&on_deadline_expired, entry->arg);
}

}  // namespace

ContextNode* background_node() noexcept {
  return &g_background;
}
ContextNode* todo_node() noexcept {
  return &g_todo;
}

void release(ContextNode* node) noexcept {
  // Iterative up the parent chain: dropping a deep chain must not recurse.
  while (node != nullptr && node->kind != ContextKind::kRoot &&
         node->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    ContextNode* parent = node->parent;
    destroy_node(node);
    node = parent;
  }
}

void release(AfterFuncNode* node) noexcept {
  if (node->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (node->owner != nullptr) release(node->owner);
  node->destroy(node);
}

void cancel(CancelNode* top, std::error_code err, std::error_code cause) noexcept {
  if (top->done.load(std::memory_order_acquire)) return;
  TaskHeader* batch = nullptr;
  std::vector<CancelNode*> work;
  if (!cancel_one(top, err, cause, batch, work)) return;
  detach_from_parent(top);
  while (!work.empty()) {
    CancelNode* c = work.back();
    work.pop_back();
    cancel_one(c, err, cause, batch, work);
    release(c);
  }
  ORCA_PERTURB("context.before_wake");
  wake_list(batch);
}

ValueNode* link_value(ValueNode* node, const Context& parent, const void* key, const char* key_name,
                      std::uint32_t size) noexcept {
  ContextNode* p = parent.node();
  p->ref();
  node->parent = p;
  node->canceller = p->canceller;
  node->deadline = p->deadline;
  node->key = key;
  node->key_name = key_name;
  node->size = size;
  return node;
}

AfterFuncNode* register_after_func(const Context& ctx, AfterFuncNode* node) {
  CancelNode* c = ctx.node()->canceller;
  if (c == nullptr) {
    release(node);  // never done: nothing will start it
    return node;
  }
  c->ref();
  node->owner = c;
  ORCA_PERTURB("context.after_func_register");
  c->lock.lock();
  if (c->done.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    node->state.store(AfterFuncNode::kStarted, std::memory_order_release);
    start_after_func(node);
    return node;
  }
  node->prev = nullptr;
  node->next = c->after_funcs;
  if (c->after_funcs != nullptr) c->after_funcs->prev = node;
  c->after_funcs = node;
  node->linked = true;
  c->lock.unlock();
  return node;
}

// ---------------------------------------------------------------- awaiters

DoneAwaiter::~DoneAwaiter() {
  // Only when the frame is destroyed while parked (runtime shutdown).
  if (node_ != nullptr && wait_.linked) {
    node_->lock.lock();
    node_->waiters.remove(&wait_);
    node_->lock.unlock();
  }
}

bool DoneAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  if (node_ != nullptr && node_->done.load(std::memory_order_acquire)) {
    yield_current(self);  // done, but await_ready found the budget spent
    return true;
  }
  TaskHeader* me = current_task();
  claim_.task = me;
  wait_.claim = &claim_;
  wait_.index = 0;
  prepare_park(me, self, node_ != nullptr ? "context done" : "context done (never cancelled)");
  if (node_ == nullptr) return true;
  CancelNode* node = node_;
  node->lock.lock();
  if (node->done.load(std::memory_order_relaxed)) {
    node->lock.unlock();
    cancel_park(me);
    return false;
  }
  node->waiters.push_back(&wait_);
  node->lock.unlock();  // a canceller may resume us from here on
  ORCA_PERTURB("park.published");
  return true;
}

std::error_code DoneAwaiter::await_resume() const noexcept {
  if (node_ == nullptr || !node_->done.load(std::memory_order_acquire)) return {};
  return node_->err;
}

ContextSleepAwaiter::~ContextSleepAwaiter() {
  if (node_ != nullptr && wait_.linked) {
    node_->lock.lock();
    node_->waiters.remove(&wait_);
    node_->lock.unlock();
  }
}

bool ContextSleepAwaiter::await_ready() noexcept {
  if (node_ != nullptr && node_->done.load(std::memory_order_acquire)) {
    early_ = node_->err;
    return consume_budget();
  }
  return deadline_ <= Clock::now() && consume_budget();
}

bool ContextSleepAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  TaskHeader* me = current_task();
  if (early_ || deadline_ <= Clock::now()) {
    yield_current(self);  // ready, but the budget is spent
    return true;
  }
  claim_.task = me;
  timer_.fire = &ContextSleepAwaiter::on_timer;
  timer_.arg = &claim_;
  prepare_park(me, self, "sleep (with context)");
  if (node_ == nullptr) {
    if (deadline_ == Clock::time_point::max() || timer_.arm(deadline_)) return true;
    cancel_park(me);
    return false;
  }
  // Arm and enqueue under the context's lock: whoever wakes us (timer or cancel)
  // finds both registrations complete before the task can resume and undo them.
  CancelNode* node = node_;
  node->lock.lock();
  if (node->done.load(std::memory_order_relaxed)) {
    early_ = node->err;
    node->lock.unlock();
    cancel_park(me);
    return false;
  }
  if (deadline_ != Clock::time_point::max() && !timer_.arm(deadline_)) {
    node->lock.unlock();
    cancel_park(me);
    return false;
  }
  wait_.claim = &claim_;
  wait_.index = 0;
  node->waiters.push_back(&wait_);
  node->lock.unlock();
  return true;
}

Result<void> ContextSleepAwaiter::await_resume() noexcept {
  if (early_) return early_;
  const int winner = claim_.winner.load(std::memory_order_acquire);
  if (winner == 0) {
    timer_.cancel();  // waits out a timer callback in flight
    return node_->err;
  }
  if (winner == 1 && node_ != nullptr) {
    node_->lock.lock();
    node_->waiters.remove(&wait_);
    node_->lock.unlock();
  }
  return {};
}

void ContextSleepAwaiter::on_timer(TimerEntry* entry) noexcept {
  auto* claim = static_cast<WaitClaim*>(entry->arg);
  if (claim->try_claim(1)) wake(claim->task, WakeOrder::kBack);
}

}  // namespace orca::detail

namespace orca {

using detail::CancelNode;
using detail::TimerCancelNode;

Context background() noexcept {
  return Context();
}
Context todo() noexcept {
  return Context::adopt(detail::todo_node());
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
  auto* node = detail::new_node<CancelNode>();
  node->refs.store(2, std::memory_order_relaxed);  // the context and its cancel function
  detail::attach(node, parent.node());
  return {Context::adopt(node), CancelFunc(node)};
}

std::pair<Context, CancelCauseFunc> with_cancel_cause(const Context& parent) {
  auto* node = detail::new_node<CancelNode>();
  node->refs.store(2, std::memory_order_relaxed);
  detail::attach(node, parent.node());
  return {Context::adopt(node), CancelCauseFunc(node)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point deadline,
                                             std::error_code cause) {
  // A parent that ends no later needs no timer of our own (Go does the same).
  if (parent.node()->deadline <= deadline) return with_cancel(parent);
  auto* node = detail::new_node<TimerCancelNode>();
  node->refs.store(2, std::memory_order_relaxed);
  node->deadline_cause = cause;
  const bool parent_live = detail::attach(node, parent.node());
  node->deadline = deadline;
  std::pair<Context, CancelFunc> result{Context::adopt(node), CancelFunc(node)};
  if (!parent_live) return result;
  if (deadline <= Clock::now()) {
    detail::cancel(node, make_error_code(errc::deadline_exceeded), cause);
    return result;
  }
  node->ref();  // the timer's reference, dropped when it fires or is cancelled
  node->timer.fire = &detail::on_deadline_timer;
  node->timer.arg = node;
  node->lock.lock();
  if (node->done.load(std::memory_order_relaxed)) {
    node->lock.unlock();
    detail::release(node);
    return result;
  }
  const bool armed = node->timer.arm(deadline);
  node->lock.unlock();
  if (!armed) {
    detail::release(node);
    if (deadline <= Clock::now()) {
      detail::cancel(node, make_error_code(errc::deadline_exceeded), cause);
    } else {
      throw std::logic_error("orca::with_deadline: deadlines need a running orca runtime");
    }
  }
  return result;
}

std::pair<Context, CancelFunc> with_timeout(const Context& parent, Clock::duration timeout,
                                            std::error_code cause) {
  const auto now = Clock::now();
  const auto deadline =
      timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
  return with_deadline(parent, deadline, cause);
}

Context without_cancel(const Context& parent) {
  auto* node = new (detail::allocate_frame(sizeof(detail::ContextNode)))
      detail::ContextNode(detail::ContextKind::kWithoutCancel);
  node->parent = parent.node();
  parent.node()->ref();
  return Context::adopt(node);
}

bool AfterFuncStop::operator()() const noexcept {
  if (node_ == nullptr) return false;
  CancelNode* owner = node_->owner;  // kept alive by our reference to node_
  std::uint8_t pending = detail::AfterFuncNode::kPending;
  if (owner == nullptr) {
    return node_->state.compare_exchange_strong(pending, detail::AfterFuncNode::kStopped,
                                                std::memory_order_acq_rel);
  }
  ORCA_PERTURB("context.after_func_stop");
  owner->lock.lock();
  const bool stopped = node_->state.compare_exchange_strong(
      pending, detail::AfterFuncNode::kStopped, std::memory_order_acq_rel);
  bool unlinked = false;
  if (stopped && node_->linked) {
    if (node_->prev != nullptr) {
      node_->prev->next = node_->next;
    } else {
      owner->after_funcs = node_->next;
    }
    if (node_->next != nullptr) node_->next->prev = node_->prev;
    node_->linked = false;
    unlinked = true;
  }
  owner->lock.unlock();
  if (unlinked) detail::release(node_);  // the registration's reference
  return stopped;
}

}  // namespace orca

// ---------------------------------------------------------------- to_string

namespace orca {
namespace {

// "2026-12-06T21:30:00.250Z": a steady-clock instant shown on the wall clock.
std::string utc_of(Clock::time_point at) {
  const auto wall =
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(at - Clock::now());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch());
  const std::time_t secs =
      static_cast<std::time_t>(std::chrono::floor<std::chrono::seconds>(ms).count());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int in each field: -Wformat-truncation stays quiet
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(((ms.count() % 1000) + 1000) % 1000));
  return buf;
}

// "1.500s", "-0.020s".
std::string seconds_of(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(d).count());
  return buf;
}

std::string describe(const detail::ContextNode* n) {
  switch (n->kind) {
    case detail::ContextKind::kRoot:
      return n == detail::todo_node() ? "todo" : "background";
    case detail::ContextKind::kCancel:
      return "with_cancel";
    case detail::ContextKind::kTimer:
      return "with_deadline(" + utc_of(n->deadline) + ", remaining " +
             seconds_of(n->deadline - Clock::now()) + ")";
    case detail::ContextKind::kValue: {
      const char* name = static_cast<const detail::ValueNode*>(n)->key_name;
      return std::string("with_value(") + (name != nullptr ? name : "?") + ")";
    }
    case detail::ContextKind::kWithoutCancel:
      return "without_cancel";
  }
  return "?";
}

}  // namespace

std::string to_string(const Context& ctx) {
  std::vector<const detail::ContextNode*> chain;
  for (const detail::ContextNode* n = ctx.node(); n != nullptr; n = n->parent)
    chain.push_back(n);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out.empty()) out += '.';
    out += describe(*it);
  }
  if (const std::error_code err = ctx.err()) {
    out += " [done: " + err.message();
    const std::error_code cause = ctx.cause();
    if (cause != err) out += ", cause: " + cause.message();
    out += ']';
  }
  return out;
}

}  // namespace orca
