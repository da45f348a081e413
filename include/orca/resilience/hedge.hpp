// hedge: send a second attempt of an idempotent call when the first has not answered
// after `delay` (e.g. the call's p95 latency), keep the first answer, cancel the rest.
// Tail latency drops to roughly that of the faster of two tries for a few percent of
// extra load (Dean and Barroso, "The Tail at Scale").
//
//   orca::resilience::HedgeOptions hedging{.delay = 20ms, .budget = &budget};
//   Result<Page> page = co_await orca::resilience::hedge(ctx, hedging, fetch_page);
//
// Each attempt runs in its own task with a child of ctx; the first success is returned
// and the other attempts' contexts are cancelled; hedge returns once they all ended
// (fn must honour its context to end promptly). If every attempt fails, the last
// failure is returned. With a budget, each extra attempt withdraws a retry from it;
// when the budget refuses, no more attempts are sent.
//
// Thread safety: a function; fn is copied into each attempt's task and must be
// callable from any worker. Cancel safety: cancelling ctx cancels every attempt.
// Errors: fn's; the context's if it ends first.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/resilience/retry_budget.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/select.hpp"

namespace orca::resilience {

struct HedgeOptions {
  std::chrono::nanoseconds delay = std::chrono::milliseconds(50);  // before each extra attempt
  int max_attempts = 2;           // in all, the first included (1: no hedging)
  RetryBudget* budget = nullptr;  // extra attempts withdraw from it
};

template <class F>
auto hedge(const Context& ctx, HedgeOptions options, F fn)
    -> Task<typename std::invoke_result_t<F&, const Context&>::value_type> {
  using R = typename std::invoke_result_t<F&, const Context&>::value_type;
  if (options.budget != nullptr) options.budget->deposit();
  // Not a structured binding: Clang 14 cannot capture one in the lambda below.
  std::pair<Context, CancelFunc> attempts = with_cancel(ctx);
  const Context& attempts_ctx = attempts.first;
  // Buffered for every attempt, so a late finisher never waits for a reader.
  auto answers =
      std::make_shared<Channel<R>>(static_cast<std::size_t>(std::max(1, options.max_attempts)));
  std::vector<JoinHandle<void>> running;
  auto launch = [&] {
    running.push_back(spawn([fn, answers, c = attempts_ctx]() mutable -> Task<void> {
      auto task = fn(c);  // a named local: GCC PR 101367
      R r = co_await std::move(task);
      (void)answers->try_send(std::move(r));
    }));
  };
  launch();
  std::optional<R> chosen;
  std::size_t answered = 0;
  while (answered < running.size()) {
    const bool may_hedge = static_cast<int>(running.size()) < options.max_attempts;
    if (may_hedge) {
      auto picked = co_await select(recv(*answers), after(options.delay));
      if (picked.index() == 1) {
        if (ctx.err() || (options.budget != nullptr && !options.budget->try_withdraw())) {
          options.max_attempts = static_cast<int>(running.size());  // no more hedges
        } else {
          launch();
        }
        continue;
      }
      Result<R> got = std::move(picked.template get<0>());
      ++answered;
      if (got) {
        const bool ok = static_cast<bool>(*got);
        chosen.emplace(std::move(*got));
        if (ok) break;
      }
    } else {
      Result<R> got = co_await answers->recv();
      ++answered;
      if (got) {
        const bool ok = static_cast<bool>(*got);
        chosen.emplace(std::move(*got));
        if (ok) break;
      }
    }
  }
  attempts.second();
  for (auto& attempt : running)
    co_await std::move(attempt);
  co_return std::move(*chosen);
}

}  // namespace orca::resilience
