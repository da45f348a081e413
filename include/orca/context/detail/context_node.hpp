// The nodes behind orca::Context: an immutable tree, each node holding a strong
// reference to its parent. Cancellation state lives in CancelNodes; every node
// caches its nearest cancellable ancestor-or-self (`canceller`) and its effective
// deadline, so err(), done() and deadline() are O(1) at any depth; value lookup
// walks up to the nearest node with the key.
//
// Invariants:
//  - A CancelNode's `done` becomes true once, under its lock, after err/cause are
//    set; readers that see done (acquire) see them.
//  - A live, not-yet-cancelled CancelNode is linked in its parent canceller's child
//    list; it is unlinked when it is cancelled or destroyed, so a long-lived parent
//    holds only its live children.
//  - Lock order: a parent canceller's lock may be held while taking a child's, never
//    the reverse.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>

#include "orca/runtime/detail/timer.hpp"
#include "orca/runtime/detail/wait_node.hpp"

namespace orca::detail {

enum class ContextKind : std::uint8_t { kRoot, kCancel, kTimer, kValue, kWithoutCancel };

struct CancelNode;

struct ContextNode {
  std::atomic<std::uint32_t> refs{1};
  ContextKind kind;
  ContextNode* parent = nullptr;    // strong reference; null for roots
  CancelNode* canceller = nullptr;  // nearest cancellable ancestor-or-self, or null
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  explicit ContextNode(ContextKind k) noexcept : kind(k) {}
  // Roots (background, todo) are immortal and skip counting: every context in the
  // process descends from them, and one shared counter would be a hot cache line.
  void ref() noexcept {
    if (kind != ContextKind::kRoot) refs.fetch_add(1, std::memory_order_relaxed);
  }
};

struct ValueNode : ContextNode {
  const void* key = nullptr;
  const char* key_name = nullptr;  // the key's name(), for to_string
  void (*destroy_value)(ValueNode*) noexcept = nullptr;
  std::uint32_t size = 0;  // allocation size, for the frame pool
  ValueNode() noexcept : ContextNode(ContextKind::kValue) {}
};

template <class T>
struct TypedValueNode : ValueNode {
  T value;
  template <class U>
  explicit TypedValueNode(U&& v) : value(std::forward<U>(v)) {}
};

struct AfterFuncNode;

struct CancelNode : ContextNode {
  SpinLock lock;
  std::atomic<bool> done{false};
  bool linked = false;  // in registered_with's child list; guarded by its lock
  std::error_code err;
  std::error_code cause;
  WaitQueue waiters;
  CancelNode* registered_with = nullptr;  // the canceller whose child list holds us
  CancelNode* first_child = nullptr;
  CancelNode* prev_sibling = nullptr;
  CancelNode* next_sibling = nullptr;
  AfterFuncNode* after_funcs = nullptr;

  explicit CancelNode(ContextKind k = ContextKind::kCancel) noexcept : ContextNode(k) {}
};

// A CancelNode with its own deadline timer (with_deadline / with_timeout).
struct TimerCancelNode : CancelNode {
  TimerEntry timer;
  std::error_code deadline_cause;  // the cause reported when the deadline passes
  TimerCancelNode() noexcept : CancelNode(ContextKind::kTimer) {}
};

// A function registered by after_func; runs in its own task when the context is done.
struct AfterFuncNode {
  enum State : std::uint8_t { kPending, kStarted, kStopped };
  std::atomic<std::uint32_t> refs{2};  // the stop handle and the registration
  std::atomic<std::uint8_t> state{kPending};
  CancelNode* owner = nullptr;  // strong reference while registered
  AfterFuncNode* prev = nullptr;
  AfterFuncNode* next = nullptr;
  bool linked = false;
  void (*invoke)(AfterFuncNode*) = nullptr;  // starts the task running the function
  void (*destroy)(AfterFuncNode*) noexcept = nullptr;
};

// Reference counting and cancellation, in context.cpp.
void release(ContextNode* node) noexcept;
void release(AfterFuncNode* node) noexcept;
void cancel(CancelNode* node, std::error_code err, std::error_code cause) noexcept;
ContextNode* background_node() noexcept;
ContextNode* todo_node() noexcept;

}  // namespace orca::detail
