// signal_context: a context cancelled when the process receives one of the given
// signals (Go's signal.NotifyContext).
//
//   auto [ctx, stop] = orca::signal_context(orca::background(), {SIGINT, SIGTERM});
//   co_await ctx.done();       // Ctrl-C or SIGTERM arrived
//   stop();                    // a second Ctrl-C now kills the process as usual
//
// While registered, the signals are caught (not their default action); stop()
// (or destroying the returned SignalStop) unregisters, and when no registration
// for a signal remains its previous disposition is restored. ctx.cause() names the
// signal (category "signal", value = signal number).
//
// Thread safety: any thread. Signals are received by a process-wide watcher thread
// fed from an async-signal-safe handler through a pipe, so they work alongside the
// netpoller and any number of runtimes. A registration keeps the deadlock detector
// from treating "every task waits for the signal" as a deadlock.
#pragma once

#include <initializer_list>
#include <memory>
#include <system_error>
#include <utility>

#include "orca/context/context.hpp"

namespace orca {

const std::error_category& signal_category() noexcept;

class SignalStop {
 public:
  SignalStop() noexcept = default;
  SignalStop(SignalStop&& other) noexcept : id_(std::exchange(other.id_, 0)) {}
  SignalStop& operator=(SignalStop&& other) noexcept;
  ~SignalStop() { (*this)(); }
  // Unregisters; idempotent.
  void operator()() noexcept;

 private:
  friend std::pair<Context, SignalStop> signal_context(const Context&, std::initializer_list<int>);
  explicit SignalStop(std::uint64_t id) noexcept : id_(id) {}
  std::uint64_t id_ = 0;
};

// Throws std::system_error if a handler cannot be installed (e.g. SIGKILL).
std::pair<Context, SignalStop> signal_context(const Context& parent,
                                              std::initializer_list<int> signals);

}  // namespace orca
