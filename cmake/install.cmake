# Installation: headers, the static libraries with a CMake package (orca::*), a
# pkg-config file, the orca command, and Debian packages through CPack:
#   orca         /usr/bin/orca, and the Prometheus rules and Grafana dashboard under
#                /usr/share/orca; depends on the shared libraries it links (dpkg-shlibdeps)
#   liborca-dev  headers, static libraries, CMake and pkg-config files; depends on the
#                Debian -dev packages a program linking them needs
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ORCA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/orca)
set(orca_libraries orca orca_metrics orca_trace orca_resilience orca_net orca_http orca_redis orca_jobs orca_jobs_http orca_jobs_redis)

# Exported as orca::<name>: orca::orca, orca::net, orca::http, ...
foreach(lib IN LISTS orca_libraries)
  string(REGEX REPLACE "^orca_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

install(TARGETS ${orca_libraries} EXPORT orcaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/orca
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT orcaTargets NAMESPACE orca:: DESTINATION ${ORCA_CMAKE_DIR} COMPONENT dev)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/orcaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/orcaConfig.cmake INSTALL_DESTINATION ${ORCA_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/orcaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/orcaConfig.cmake ${PROJECT_BINARY_DIR}/orcaConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/Findhttp_parser.cmake
  DESTINATION ${ORCA_CMAKE_DIR} COMPONENT dev)

# orca.pc finds its prefix from its own place (${pcfiledir}), so it is right under any
# prefix, the .deb's /usr included: one ".." per component of <libdir>/pkgconfig.
string(REGEX REPLACE "[^/]+" ".." ORCA_PC_TO_PREFIX "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
configure_file(${CMAKE_CURRENT_LIST_DIR}/orca.pc.in ${PROJECT_BINARY_DIR}/orca.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/orca.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(TARGETS orca_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT bin)
# The alert rules, the Alertmanager route and the Grafana dashboard, beside the command
# that serves the metrics they read (docs/OPERATIONS.md): <datadir>/orca/prometheus,
# <datadir>/orca/grafana.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/ DESTINATION ${CMAKE_INSTALL_DATADIR}/orca
  COMPONENT bin)

# cpack -G DEB (from the build directory).
set(CPACK_PACKAGE_NAME orca)
set(CPACK_PACKAGE_VENDOR "orca")
set(CPACK_PACKAGE_CONTACT "orca maintainers <orca@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Go-style tasks, channels and contexts for C++20, and a job framework on them")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL bin dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_BIN_PACKAGE_NAME orca)
set(CPACK_DEBIAN_BIN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_BIN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME liborca-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libsqlite3-dev, libhiredis-dev, libhttp-parser-dev, libssl-dev, nlohmann-json3-dev, pkg-config")
set(CPACK_COMPONENT_BIN_DESCRIPTION "orca: the command (demo, serve, worker, submit, status, ...)")
set(CPACK_COMPONENT_DEV_DESCRIPTION "orca: headers, static libraries, CMake and pkg-config files")
include(CPack)
