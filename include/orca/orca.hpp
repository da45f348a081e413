// orca: Go's model of asynchronous work in C++20. One include for everything.
#pragma once

#include "orca/context/context.hpp"
#include "orca/runtime/blocking.hpp"
#include "orca/runtime/errors.hpp"
#include "orca/runtime/external_waker.hpp"
#include "orca/runtime/run.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/stats.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/wait_group.hpp"
