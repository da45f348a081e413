// orca::redis: a Redis client on orca's netpoller. One include for all of it.
#pragma once

#include "orca/redis/client.hpp"
#include "orca/redis/cluster.hpp"
#include "orca/redis/connection.hpp"
#include "orca/redis/error.hpp"
#include "orca/redis/rate_limiter.hpp"
#include "orca/redis/reply.hpp"
#include "orca/redis/script.hpp"
#include "orca/redis/subscriber.hpp"
#include "orca/redis/url.hpp"
