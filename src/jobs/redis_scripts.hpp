// The Redis broker's Lua scripts: each constant is the text of lua/<name>.lua (its
// leading comment, which says what KEYS and ARGV it takes and what it returns, left
// out), embedded at build time by embed_lua.cmake. lua/README.md has the conventions
// every script keeps; redis_broker.hpp the key layout.
#pragma once

namespace orca::jobs::detail {

// Prepended to every script: the helpers they share.
extern const char* const kPrelude;  // lua/prelude.lua

extern const char* const kEnqueue;       // lua/enqueue.lua
extern const char* const kCancel;        // lua/cancel.lua
extern const char* const kRequeue;       // lua/requeue.lua
extern const char* const kAssign;        // lua/assign.lua
extern const char* const kClaim;         // lua/claim.lua
extern const char* const kComplete;      // lua/complete.lua
extern const char* const kPromote;       // lua/promote.lua
extern const char* const kReclaim;       // lua/reclaim.lua
extern const char* const kExtend;        // lua/extend.lua
extern const char* const kTrim;          // lua/trim.lua
extern const char* const kTrimAudit;     // lua/trim_audit.lua
extern const char* const kQueueNumber;   // lua/queue_number.lua
extern const char* const kRegister;      // lua/register.lua
extern const char* const kBeat;          // lua/beat.lua
extern const char* const kNodeState;     // lua/node_state.lua
extern const char* const kReapNodes;     // lua/reap_nodes.lua
extern const char* const kFirePeriodic;  // lua/fire_periodic.lua
extern const char* const kAcquireLease;  // lua/acquire_lease.lua
extern const char* const kReleaseLease;  // lua/release_lease.lua
extern const char* const kDeleteJobs;    // lua/delete_jobs.lua

}  // namespace orca::jobs::detail
