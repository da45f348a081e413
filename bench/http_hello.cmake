# The http_hello workload: orca's hello-world HTTP server, loaded by wrk through
# bench/wrk_client (the same client for every implementation's server).
add_executable(orca_http_hello http_hello.cpp)
target_link_libraries(orca_http_hello PRIVATE orca::http)
