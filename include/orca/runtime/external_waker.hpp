// ExternalWaker: tells the deadlock detector that a thread outside the runtime may
// still wake a task (cancel a context from a foreign thread, deliver a signal...).
// While one is alive, "every task parked" is a wait, not a deadlock. Go keeps the
// equivalent for os/signal. Cheap to create; safe from any thread.
#pragma once

#include <cstdint>

namespace orca {

class ExternalWaker {
 public:
  // Does nothing (and stays inert) when no runtime is running.
  ExternalWaker() noexcept;
  ~ExternalWaker();
  ExternalWaker(const ExternalWaker&) = delete;
  ExternalWaker& operator=(const ExternalWaker&) = delete;

 private:
  std::uint64_t generation_ = 0;  // the run() counted in, if any (0: none)
};

}  // namespace orca
