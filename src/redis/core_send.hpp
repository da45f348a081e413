// CoreSend: one command on a client's pool, holding the pool itself rather than the
// Client object, private to orca_redis. A task that may outlive the Client object
// (FleetRateLimiter's batches, whose callers may all have left) sends through one:
// once the client is closed or destroyed, its calls fail with errc::closed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/reply.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis::detail {

class ClientCore;
class ClusterCore;

// Sends `args`; on a cluster, to the master owning `route`'s slot (on one server
// `route` is ignored).
using CoreSend =
    std::function<Task<Result<Reply>>(Context ctx, std::string route, std::vector<std::string>)>;

// A null core gives a sender whose calls fail with errc::closed.
CoreSend core_send(std::shared_ptr<ClientCore> core);   // client.cpp
CoreSend core_send(std::shared_ptr<ClusterCore> core);  // cluster.cpp

}  // namespace orca::redis::detail
