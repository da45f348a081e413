// Allocation of coroutine frames from per-thread size-class free lists, so that
// starting a task costs no `malloc` on the hot path. Two pools share the scheme:
// plain frames (every `Task<T>`), and root blocks (a TaskHeader followed by the
// frame of a top-level task), whose slabs can be walked to list every live task.
#pragma once

#include <cstddef>
#include <functional>

namespace orca::detail {

struct TaskHeader;

// Any thread may allocate and free; a block freed on another thread joins that
// thread's cache and flows back through the shared pool in batches.
void* allocate_frame(std::size_t size);
void deallocate_frame(void* frame, std::size_t size) noexcept;

// Returns a block with a fresh TaskHeader in front of `frame_size` bytes.
TaskHeader* allocate_root(std::size_t frame_size);
void deallocate_root(TaskHeader* header, std::size_t frame_size) noexcept;

// Calls `visit` for every root block whose header is not free. Only meaningful when
// no task is running (deadlock report, shutdown); takes the pool's locks.
void for_each_live_root(const std::function<void(TaskHeader&)>& visit);

// Bytes currently held in slabs by both pools (for runtime stats).
std::size_t frame_pool_bytes() noexcept;

}  // namespace orca::detail
