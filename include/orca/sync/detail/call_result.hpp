// What OnceValue and SingleFlight make of a wrapped function's return: the function
// returns X or Task<X>, X being a value V or a Result<V>; its callers receive
// Result<V> either way, so an error the function returns reaches them as a value.
#pragma once

#include <type_traits>
#include <utility>

#include "orca/runtime/result.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/task.hpp"

namespace orca::detail {

// X for Task<X>, else the type itself: what awaiting the call's return produces.
template <class R>
struct AwaitedOutput {
  using type = R;
};
template <class X>
struct AwaitedOutput<Task<X>> {
  using type = X;
};

// V for Result<V>, else the type itself.
template <class X>
struct ResultValue {
  using type = X;
};
template <class V>
struct ResultValue<Result<V>> {
  using type = V;
};

// What calling an F with Args produces once awaited: X.
template <class F, class... Args>
using CallOutput = typename AwaitedOutput<std::invoke_result_t<F&, Args...>>::type;
// The value its callers receive, inside a Result: V.
template <class F, class... Args>
using CallValue = typename ResultValue<CallOutput<F, Args...>>::type;

}  // namespace orca::detail
