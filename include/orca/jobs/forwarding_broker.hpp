// ForwardingBroker: a Broker that passes every call to another one. Derive from it
// to decorate a broker by overriding only the calls you watch or change (count
// acknowledgements, time calls, hold a call up in a test); the rest forward as they
// are, returning the inner call's task (no coroutine frame of their own).
//
// Thread safety and cancel safety: those of the inner broker; the inner broker must
// outlive the forwarding one.
#pragma once

#include "orca/jobs/broker.hpp"

namespace orca::jobs {

class ForwardingBroker : public Broker {
 public:
  explicit ForwardingBroker(Broker& inner) : inner_(inner) {}

  Task<Result<std::vector<EnqueueResult>>> enqueue(Context ctx,
                                                   std::vector<JobSpec> specs) override {
    return inner_.enqueue(std::move(ctx), std::move(specs));
  }
  Task<Result<JobState>> cancel(Context ctx, JobId id) override {
    return inner_.cancel(std::move(ctx), id);
  }
  Task<Result<void>> requeue(Context ctx, JobId id) override {
    return inner_.requeue(std::move(ctx), id);
  }
  Task<Result<void>> set_queue_paused(Context ctx, std::string queue, bool paused) override {
    return inner_.set_queue_paused(std::move(ctx), std::move(queue), paused);
  }
  Task<Result<void>> remove(Context ctx, JobId id) override {
    return inner_.remove(std::move(ctx), id);
  }
  Task<Result<std::int64_t>> requeue_dead(Context ctx, std::string queue) override {
    return inner_.requeue_dead(std::move(ctx), std::move(queue));
  }
  Task<Result<std::int64_t>> delete_finished(Context ctx, std::string queue,
                                             std::optional<JobState> state) override {
    return inner_.delete_finished(std::move(ctx), std::move(queue), state);
  }
  Task<Result<Job>> get(Context ctx, JobId id) override { return inner_.get(std::move(ctx), id); }
  Task<Result<std::vector<Job>>> list(Context ctx, JobFilter filter) override {
    return inner_.list(std::move(ctx), std::move(filter));
  }
  Task<Result<std::vector<AuditEntry>>> audit(Context ctx, JobId id) override {
    return inner_.audit(std::move(ctx), id);
  }
  Task<Result<std::vector<QueueStats>>> queues(Context ctx) override {
    return inner_.queues(std::move(ctx));
  }
  Task<Result<std::vector<NodeInfo>>> nodes(Context ctx) override {
    return inner_.nodes(std::move(ctx));
  }
  Task<Result<std::vector<Job>>> peek_pending(Context ctx, PeekRequest req) override {
    return inner_.peek_pending(std::move(ctx), std::move(req));
  }
  Task<Result<std::vector<JobId>>> assign(Context ctx, std::vector<Assignment> assignments,
                                          std::chrono::milliseconds lease) override {
    return inner_.assign(std::move(ctx), std::move(assignments), lease);
  }
  Task<Result<std::size_t>> promote_due(Context ctx) override {
    return inner_.promote_due(std::move(ctx));
  }
  Task<Result<std::size_t>> reap(Context ctx, std::chrono::milliseconds node_timeout) override {
    return inner_.reap(std::move(ctx), node_timeout);
  }
  Task<Result<TrimReport>> trim(Context ctx, Retention retention) override {
    return inner_.trim(std::move(ctx), retention);
  }
  Task<Result<void>> put_periodic(Context ctx, PeriodicEntry entry) override {
    return inner_.put_periodic(std::move(ctx), std::move(entry));
  }
  Task<Result<std::vector<PeriodicEntry>>> periodic(Context ctx) override {
    return inner_.periodic(std::move(ctx));
  }
  Task<Result<bool>> fire_periodic(Context ctx, std::string name, WallClock::time_point expected,
                                   WallClock::time_point next) override {
    return inner_.fire_periodic(std::move(ctx), std::move(name), expected, next);
  }
  Task<Result<std::optional<LeaseGrant>>> acquire_lease(Context ctx, std::string name,
                                                        std::string holder,
                                                        std::chrono::milliseconds ttl) override {
    return inner_.acquire_lease(std::move(ctx), std::move(name), std::move(holder), ttl);
  }
  Task<Result<bool>> release_lease(Context ctx, std::string name, std::string holder,
                                   std::int64_t token) override {
    return inner_.release_lease(std::move(ctx), std::move(name), std::move(holder), token);
  }
  Task<Result<void>> register_node(Context ctx, NodeInfo node) override {
    return inner_.register_node(std::move(ctx), std::move(node));
  }
  Task<Result<HeartbeatReply>> heartbeat(Context ctx, std::string node, int load, Leases lease,
                                         std::vector<JobId> held) override {
    return inner_.heartbeat(std::move(ctx), std::move(node), load, std::move(lease),
                            std::move(held));
  }
  Task<Result<void>> deregister_node(Context ctx, std::string node) override {
    return inner_.deregister_node(std::move(ctx), std::move(node));
  }
  Task<Result<std::vector<Job>>> claim(Context ctx, ClaimRequest req) override {
    return inner_.claim(std::move(ctx), std::move(req));
  }
  Task<Result<std::vector<Result<JobState>>>> complete(
      Context ctx, std::vector<Completion> completions) override {
    return inner_.complete(std::move(ctx), std::move(completions));
  }
  Task<Result<void>> watch(Context ctx, BrokerEvents events) override {
    return inner_.watch(std::move(ctx), std::move(events));
  }
  std::unique_ptr<resilience::Limiter> shared_rate_limiter(
      const resilience::RateLimiterOptions& options) override {
    return inner_.shared_rate_limiter(options);
  }

 protected:
  Broker& inner_;
};

}  // namespace orca::jobs
