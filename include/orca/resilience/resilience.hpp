// orca/resilience: one include for the resilience layer — circuit breakers, retries
// with budgets, rate limiters (local, keyed, and the interface fleet-wide ones
// implement), bulkheads, adaptive concurrency limits and fallbacks.
#pragma once

#include "orca/resilience/adaptive_limiter.hpp"
#include "orca/resilience/bulkhead.hpp"
#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/resilience/fallback.hpp"
#include "orca/resilience/hedge.hpp"
#include "orca/resilience/keyed_breakers.hpp"
#include "orca/resilience/keyed_rate_limiter.hpp"
#include "orca/resilience/limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"
#include "orca/resilience/retry.hpp"
#include "orca/resilience/retry_budget.hpp"
#include "orca/resilience/time_source.hpp"
