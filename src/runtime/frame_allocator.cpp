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
#include <unordered_set>
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
  struct Batch {
    FreeBlock* head;
    std::uint32_t count;  // kept, so taking a batch never walks its (cold) blocks
  };
  std::vector<Batch> batches;
  std::byte* carve = nullptr;
  std::byte* carve_end = nullptr;
  std::vector<std::byte*> slabs;  // kept for walking root blocks
};

class SizeClassPool {
 public:
  explicit SizeClassPool(std::size_t link_offset) : link_offset_(link_offset) {}

  // Returns a list of free blocks of class `c` and its length in `count`.
  FreeBlock* take_batch(std::size_t c, std::uint32_t& count) {
    SharedClass& sc = classes_[c];
    std::lock_guard lock(sc.mutex);
    if (!sc.batches.empty()) {
      const SharedClass::Batch b = sc.batches.back();
      sc.batches.pop_back();
      count = b.count;
      return b.head;
    }
    count = kBatch;
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

  void give_batch(std::size_t c, FreeBlock* head, std::uint32_t count) {
    SharedClass& sc = classes_[c];
    std::lock_guard lock(sc.mutex);
    sc.batches.push_back({head, count});
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
        // Hand back batches of up to kBatch; the last may be short.
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
        pool.give_batch(c, head, n);
      }
    }
  }
};

ThreadCaches& caches() {
  thread_local ThreadCaches tc;
  return tc;
}

void* pop(SizeClassPool& pool, ClassCache& cache, std::size_t c) {
  if (cache.head == nullptr) cache.head = pool.take_batch(c, cache.count);
  FreeBlock* fb = cache.head;
  cache.head = fb->next;
  --cache.count;
  // The next block was likely last written on another core: fetch it now, not
  // when the next allocation needs its link.
  if (cache.head != nullptr) __builtin_prefetch(cache.head, 1);
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
  pool.give_batch(c, batch, kBatch);
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

// Root blocks are whole multiples of the header's 64-byte alignment, so every block
// carved from a (page-aligned) slab starts on a cache line.
std::size_t root_block_bytes(std::size_t frame_size) {
  return (frame_size + sizeof(TaskHeader) + alignof(TaskHeader) - 1) & ~(alignof(TaskHeader) - 1);
}

// Root blocks too large for the pools (a task capturing a big array by value):
// plain aligned allocations, kept in a set so they can still be walked.
struct LargeRoots {
  std::mutex mutex;
  std::unordered_set<TaskHeader*> live;
};
LargeRoots& large_roots() {
  static auto* roots = new LargeRoots();  // never destroyed: threads may free late
  return *roots;
}

TaskHeader* allocate_root(std::size_t frame_size) {
  const std::size_t total = root_block_bytes(frame_size);
  if (total > kMaxPooled) {
    void* block = ::operator new (total, std::align_val_t{alignof(TaskHeader)});
    auto* header = new (block) TaskHeader();
    LargeRoots& large = large_roots();
    std::lock_guard lock(large.mutex);
    large.live.insert(header);
    return header;
  }
  const std::size_t c = class_of(total);
  void* block = pop(root_pool(), caches().roots[c], c);
  return new (block) TaskHeader();
}

void deallocate_root(TaskHeader* header, std::size_t frame_size) noexcept {
  const std::size_t total = root_block_bytes(frame_size);
  header->state.store(TaskState::kFree, std::memory_order_relaxed);
  if (total > kMaxPooled) {
    {
      LargeRoots& large = large_roots();
      std::lock_guard lock(large.mutex);
      large.live.erase(header);
    }
    ::operator delete (header, std::align_val_t{alignof(TaskHeader)});
    return;
  }
  const std::size_t c = class_of(total);
  push(root_pool(), caches().roots[c], c, reinterpret_cast<std::byte*>(header));
}

void for_each_live_root(const std::function<void(TaskHeader&)>& visit) {
  root_pool().walk([&](std::byte* block, std::size_t) {
    auto* header = reinterpret_cast<TaskHeader*>(block);
    if (header->state.load(std::memory_order_acquire) != TaskState::kFree) visit(*header);
  });
  std::vector<TaskHeader*> large;
  {
    LargeRoots& roots = large_roots();
    std::lock_guard lock(roots.mutex);
    large.assign(roots.live.begin(), roots.live.end());
  }
  for (TaskHeader* header : large)
    visit(*header);
}

std::size_t frame_pool_bytes() noexcept {
  return frame_pool().bytes() + root_pool().bytes();
}

}  // namespace orca::detail
