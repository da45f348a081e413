// LockGuard: the RAII owner of a held lock — Mutex's guard, and RWMutex's write
// and read guards. At most one guard owns a given acquisition; moving it moves the
// ownership, and the owner releases it (unlock(), or runlock() when kShared) when
// destroyed, when assigned over, or on unlock().
#pragma once

#include <utility>

namespace orca::detail {

template <class Lock, bool kShared = false>
class [[nodiscard]] LockGuard {
 public:
  LockGuard() noexcept = default;
  // Adopts an acquisition the caller holds.
  explicit LockGuard(Lock& lock) noexcept : lock_(&lock) {}
  LockGuard(LockGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
  LockGuard& operator=(LockGuard&& other) noexcept {
    if (this != &other) {
      unlock();
      lock_ = std::exchange(other.lock_, nullptr);
    }
    return *this;
  }
  ~LockGuard() { unlock(); }

  bool owns_lock() const noexcept { return lock_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  void unlock() noexcept {
    if (lock_ == nullptr) return;
    Lock* lock = std::exchange(lock_, nullptr);
    if constexpr (kShared) {
      lock->runlock();
    } else {
      lock->unlock();
    }
  }
  // Gives up ownership without unlocking: the lock (still held) or null.
  [[nodiscard]] Lock* release() noexcept { return std::exchange(lock_, nullptr); }

 private:
  Lock* lock_ = nullptr;
};

}  // namespace orca::detail
