// after_func's template part: the node that owns the user's function.
#pragma once

#include "orca/runtime/spawn.hpp"

namespace orca {
namespace detail {

template <class F>
struct TypedAfterFuncNode : AfterFuncNode {
  F fn;
  explicit TypedAfterFuncNode(F f) : fn(std::move(f)) {
    invoke = [](AfterFuncNode* n) {
      auto* self = static_cast<TypedAfterFuncNode*>(n);
      // The task owns a moved-out copy; the node may be released before it runs.
      go(std::move(self->fn));
    };
    destroy = [](AfterFuncNode* n) noexcept { delete static_cast<TypedAfterFuncNode*>(n); };
  }
};

}  // namespace detail

template <class F>
AfterFuncStop after_func(const Context& ctx, F&& fn) {
  auto* node = new detail::TypedAfterFuncNode<std::decay_t<F>>(std::forward<F>(fn));
  return AfterFuncStop(detail::register_after_func(ctx, node));
}

}  // namespace orca
