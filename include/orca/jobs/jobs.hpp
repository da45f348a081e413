// The jobs layer in one include: model, broker interface, SQLite broker, center,
// nodes, schedules, JSON forms.
#pragma once

#include "orca/jobs/actor.hpp"
#include "orca/jobs/broker.hpp"
#include "orca/jobs/center.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/jobs/forwarding_broker.hpp"
#include "orca/jobs/job.hpp"
#include "orca/jobs/json.hpp"
#include "orca/jobs/node.hpp"
#include "orca/jobs/queue_status.hpp"
#include "orca/jobs/schedule.hpp"
#include "orca/jobs/sqlite_broker.hpp"
#include "orca/jobs/state_machine.hpp"
