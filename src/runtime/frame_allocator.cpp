// Size-class pools for coroutine frames.
//
// Invariants:
//  - A block's size class never changes; slabs are carved into blocks of one class
//    and are never returned to the system (the pool's footprint is its high-water mark).
//  - A thread's cache holds at most 2 * kBatch blocks per class; beyond that a batch
//    of kBatch moves to the shared pool, so a thread that frees what another
//    allocates (the common spawn-here, finish-there pattern) does not hoard memory.
//  - Root blocks are zeroed when carved and marked kFree when released, so walking a
//    slab tells live tasks from free blocks by the header's state alone.
#include "orca/runtime/detail/frame_allocator.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "orca/runtime/detail/task_header.hpp"

namespace orca::detail {
namespace {

constexpr std::size_t kGranule = 32;      // frames are small; 32-byte steps waste little
constexpr std::size_t kMaxPooled = 4096;  // larger frames are rare: plain operator new
constexpr std::size_t kClasses = kMaxPooled / kGranule;
constexpr std::uint32_t kBatch = 64;          // blocks moved per shared-pool lock
constexpr std::size_t kSlabBytes = 1u << 20;  // 1 MiB: few mmaps even for 1M tasks

constexpr std::size_t class_of(std::size_t size) {
  return (size + kGranule - 1) / kGranule - 1;
}
constexpr std::size_t class_bytes(std::size_t c) {
  return (c + 1) * kGranule;
}

struct FreeBlock {
  FreeBlock* next;
};

// Shared state of one size class: whole batches of free blocks and the slab being carved.
struct SharedClass {
  std::mutex mutex;
  std::vector<FreeBlock*> batches;  // each a list of exactly kBatch blocks
  std::byte* carve = nullptr;
  std::byte* carve_end = nullptr;
  std::vector<std::byte*> slabs;  // kept for walking root blocks
};

class SizeClassPool {
 public:
  explicit SizeClassPool(std::size_t link_offset) : link_offset_(link_offset) {}

  // Fills `head` with kBatch blocks of class `c`.
  FreeBlock* take_batch(std::size_t c) {
    SharedClass& sc = classes_[c];
    std::lock_guard lock(sc.mutex);
    if (!sc.batches.empty()) {
      FreeBlock* head = sc.batches.back();
      sc.batches.pop_back();
      return head;
    }
    const std::size_t bytes = class_bytes(c);
    FreeBlock* head = nullptr;
    for (std::uint32_t i = 0; i < kBatch; ++i) {
      if (sc.carve + bytes > sc.carve_end) new_slab(sc);
      std::byte* block = sc.carve;
      sc.carve += bytes;
      auto* fb = link(block);
      fb->next = head;
      head = fb;
    }
    return head;
  }

  void give_batch(std::size_t c, FreeBlock* head) {
    SharedClass& sc = classes_[c];
    std::lock_guard lock(sc.mutex);
    sc.batches.push_back(head);
  }

  FreeBlock* link(std::byte* block) const {
    return reinterpret_cast<FreeBlock*>(block + link_offset_);
  }
  std::byte* block_of(FreeBlock* fb) const {
    return reinterpret_cast<std::byte*>(fb) - link_offset_;
  }

  void walk(const std::function<void(std::byte*, std::size_t)>& visit) {
    for (std::size_t c = 0; c < kClasses; ++c) {
      SharedClass& sc = classes_[c];
      std::lock_guard lock(sc.mutex);
      const std::size_t bytes = class_bytes(c);
      for (std::byte* slab : sc.slabs) {
        std::byte* end = slab + (kSlabBytes / bytes) * bytes;
        if (slab <= sc.carve && sc.carve <= slab + kSlabBytes) end = sc.carve;
        for (std::byte* b = slab; b < end; b += bytes)
          visit(b, bytes);
      }
    }
  }

  std::size_t bytes() const noexcept { return slab_bytes_.load(std::memory_order_relaxed); }

 private:
  void new_slab(SharedClass& sc) {
    void* mem =
        mmap(nullptr, kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) throw std::bad_alloc();
    sc.carve = static_cast<std::byte*>(mem);
    sc.carve_end = sc.carve + kSlabBytes;
    sc.slabs.push_back(sc.carve);
    slab_bytes_.fetch_add(kSlabBytes, std::memory_order_relaxed);
  }

  std::size_t link_offset_;
  std::array<SharedClass, kClasses> classes_;
  std::atomic<std::size_t> slab_bytes_{0};
};

// Plain frames keep the free link in the block's first word; root blocks keep it in
// TaskHeader::next (also the first word), leaving `state` intact for walking.
SizeClassPool& frame_pool() {
  static auto* pool = new SizeClassPool(0);  // never destroyed: threads may free late
  return *pool;
}
SizeClassPool& root_pool() {
  static auto* pool = new SizeClassPool(offsetof(TaskHeader, next));
  return *pool;
}

struct ClassCache {
  FreeBlock* head = nullptr;
  std::uint32_t count = 0;
};

// Per-thread caches. Returned to the shared pools when the thread exits.
struct ThreadCaches {
  std::array<ClassCache, kClasses> frames;
  std::array<ClassCache, kClasses> roots;

  ~ThreadCaches() {
    flush(frame_pool(), frames);
    flush(root_pool(), roots);
  }

  static void flush(SizeClassPool& pool, std::array<ClassCache, kClasses>& caches) {
    for (std::size_t c = 0; c < kClasses; ++c) {
      ClassCache& cache = caches[c];
      while (cache.count > 0) {
        // Hand back full batches; a partial remainder is padded by no one, so it
        // stays reachable as a short batch (take_batch tolerates any length).
        FreeBlock* head = cache.head;
        FreeBlock* tail = head;
        std::uint32_t n = 1;
        while (n < kBatch && tail->next != nullptr) {
          tail = tail->next;
          ++n;
        }
        cache.head = tail->next;
        tail->next = nullptr;
        cache.count -= n;
        pool.give_batch(c, head);
      }
    }
  }
};

ThreadCaches& caches() {
  thread_local ThreadCaches tc;
  return tc;
}

void* pop(SizeClassPool& pool, ClassCache& cache, std::size_t c) {
  if (cache.head == nullptr) {
    cache.head = pool.take_batch(c);
    std::uint32_t n = 0;
    for (FreeBlock* b = cache.head; b != nullptr; b = b->next)
      ++n;
    cache.count = n;
  }
  FreeBlock* fb = cache.head;
  cache.head = fb->next;
  --cache.count;
  return pool.block_of(fb);
}

void push(SizeClassPool& pool, ClassCache& cache, std::size_t c, std::byte* block) {
  FreeBlock* fb = pool.link(block);
  fb->next = cache.head;
  cache.head = fb;
  if (++cache.count < 2 * kBatch) return;
  // Detach the first kBatch blocks as one batch for the shared pool.
  FreeBlock* tail = cache.head;
  for (std::uint32_t i = 1; i < kBatch; ++i)
    tail = tail->next;
  FreeBlock* batch = cache.head;
  cache.head = tail->next;
  tail->next = nullptr;
  cache.count -= kBatch;
  pool.give_batch(c, batch);
}

}  // namespace

void* allocate_frame(std::size_t size) {
  if (size > kMaxPooled) return ::operator new(size);
  const std::size_t c = class_of(size);
  return pop(frame_pool(), caches().frames[c], c);
}

void deallocate_frame(void* frame, std::size_t size) noexcept {
  if (size > kMaxPooled) return ::operator delete(frame);
  const std::size_t c = class_of(size);
  push(frame_pool(), caches().frames[c], c, static_cast<std::byte*>(frame));
}

TaskHeader* allocate_root(std::size_t frame_size) {
  const std::size_t total = frame_size + sizeof(TaskHeader);
  if (total > kMaxPooled)
    throw std::length_error("orca: task frame larger than 4 KiB - sizeof(TaskHeader)");
  const std::size_t c = class_of(total);
  void* block = pop(root_pool(), caches().roots[c], c);
  return new (block) TaskHeader();
}

void deallocate_root(TaskHeader* header, std::size_t frame_size) noexcept {
  const std::size_t c = class_of(frame_size + sizeof(TaskHeader));
  header->state.store(TaskState::kFree, std::memory_order_relaxed);
  push(root_pool(), caches().roots[c], c, reinterpret_cast<std::byte*>(header));
}

void for_each_live_root(const std::function<void(TaskHeader&)>& visit) {
  root_pool().walk([&](std::byte* block, std::size_t) {
    auto* header = reinterpret_cast<TaskHeader*>(block);
    if (header->state.load(std::memory_order_acquire) != TaskState::kFree) visit(*header);
  });
}

std::size_t frame_pool_bytes() noexcept {
  return frame_pool().bytes() + root_pool().bytes();
}

}  // namespace orca::detail
