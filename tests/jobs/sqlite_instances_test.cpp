// The broker tests on the embedded SQLite broker: each test on a fresh file in a
// temporary directory of its own.
#include "broker_fixture.hpp"

namespace orca::jobs::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Brokers, BrokerContract, ::testing::Values(sqlite_kind()),
                         BrokerKindName());
INSTANTIATE_TEST_SUITE_P(Brokers, CenterNode, ::testing::Values(sqlite_kind()), BrokerKindName());

}  // namespace
}  // namespace orca::jobs::testing
