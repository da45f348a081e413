# The tcp_echo workload: orca's echo server and the load generator bench/run uses
# against every implementation's server (bench/tcp_echo.cpp).
add_executable(orca_tcp_echo tcp_echo.cpp)
target_link_libraries(orca_tcp_echo PRIVATE orca::net)
