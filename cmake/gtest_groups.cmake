# CTest tests that each run a group of a GoogleTest program's tests in one process.
#
# gtest_discover_tests starts one process per test. In the sanitizer trees a test
# program takes 0.1-0.2 s to start (the dynamic loader relocates hundreds of
# thousands of sanitizer pointers; ASan and TSan set up their shadow memory), more
# than most tests run: the 120 channel and select tests take 11 s one per process
# and 0.7 s in one. Here a suite's tests run in groups of up to
# ORCA_TEST_GROUP_SIZE per process, named "Suite.*" (or "Suite.*(2/3)"), so that
# CTest's -R and -L still select by suite and by program. Suites that match the
# regular expression ORCA_TEST_ALONE (tests that start processes and servers and run for seconds) keep
# one process per test, so a group is never a long pole and such a test can still
# be left out by name with ctest -E.
#
# Tests are left out of a group by the ORCA_TEST_EXCLUDE environment variable
# (GoogleTest filter patterns, read by tests/support/test_main.cpp).
#
#   orca_gtest_groups(TARGET [TIMEOUT s] [LABELS ...])

if(NOT CMAKE_SCRIPT_MODE_FILE)
  set(ORCA_GTEST_GROUPS_SCRIPT ${CMAKE_CURRENT_LIST_FILE})

  function(orca_gtest_groups target)
    cmake_parse_arguments(arg "" "TIMEOUT" "LABELS" ${ARGN})
    set(ctest_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_groups.cmake)
    add_custom_command(
      TARGET ${target} POST_BUILD BYPRODUCTS ${ctest_file}
      COMMAND
        ${CMAKE_COMMAND} -D TEST_EXECUTABLE=$<TARGET_FILE:${target}> -D CTEST_FILE=${ctest_file}
        -D "LABELS=${arg_LABELS}" -D TIMEOUT=${arg_TIMEOUT} -D GROUP_SIZE=${ORCA_TEST_GROUP_SIZE}
        -D "ALONE=${ORCA_TEST_ALONE}" -D WORKING_DIRECTORY=${CMAKE_CURRENT_BINARY_DIR} -P
        ${ORCA_GTEST_GROUPS_SCRIPT}
      VERBATIM)
    # CTest reads the file the build wrote; before the first build there is none.
    set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_groups_include.cmake)
    file(WRITE ${include_file} "if(EXISTS \"${ctest_file}\")\n  include(\"${ctest_file}\")\n"
                               "else()\n  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\nendif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
  endfunction()
  return()
endif()

# Script mode, after each build of the program: list its tests and write the groups.
execute_process(
  COMMAND ${TEST_EXECUTABLE} --gtest_list_tests
  WORKING_DIRECTORY ${WORKING_DIRECTORY}
  OUTPUT_VARIABLE listing
  ERROR_VARIABLE listing_errors
  RESULT_VARIABLE listed
  TIMEOUT 60)
if(NOT listed EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --gtest_list_tests failed (${listed}):\n"
                      "${listing}${listing_errors}")
endif()

string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(suites "")
set(suite "")
foreach(line IN LISTS lines)
  # "Suite.  # TypeParam = ..." or "  Test  # GetParam() = ...": the comment goes.
  string(REGEX REPLACE " +#.*" "" line "${line}")
  if(line MATCHES "^  ([^ ]+)$")
    set(test "${CMAKE_MATCH_1}")
    if(NOT suite OR test MATCHES "^DISABLED_" OR suite MATCHES "^DISABLED_|/DISABLED_")
      continue()
    endif()
    list(APPEND "tests_${suite_index}" "${test}")
  elseif(line MATCHES "^([^ ]+)\\.$")
    set(suite "${CMAKE_MATCH_1}")
    list(LENGTH suites suite_index)
    list(APPEND suites "${suite}")
    set("tests_${suite_index}" "")
  endif()
endforeach()

set(properties "TIMEOUT ${TIMEOUT} WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==]")
if(LABELS)
  string(APPEND properties " LABELS [==[${LABELS}]==]")
endif()

set(out "# Written by cmake/gtest_groups.cmake from ${TEST_EXECUTABLE} --gtest_list_tests.\n")
set(suite_index 0)
foreach(suite IN LISTS suites)
  set(tests ${tests_${suite_index}})
  math(EXPR suite_index "${suite_index} + 1")
  list(LENGTH tests count)
  if(count EQUAL 0)
    continue()
  endif()
  if(ALONE AND suite MATCHES "^(${ALONE})$")
    foreach(test IN LISTS tests)
      string(APPEND out "add_test([==[${suite}.${test}]==] [==[${TEST_EXECUTABLE}]==] "
                        "[==[--gtest_filter=${suite}.${test}]==])\n"
                        "set_tests_properties([==[${suite}.${test}]==] PROPERTIES ${properties}"
                        " SKIP_REGULAR_EXPRESSION [==[\\[  SKIPPED \\]]==])\n")
    endforeach()
    continue()
  endif()
  math(EXPR groups "(${count} + ${GROUP_SIZE} - 1) / ${GROUP_SIZE}")
  math(EXPR last_group "${groups} - 1")
  foreach(group RANGE ${last_group})
    math(EXPR first "${group} * ${GROUP_SIZE}")
    math(EXPR last "${first} + ${GROUP_SIZE} - 1")
    if(last GREATER_EQUAL count)
      math(EXPR last "${count} - 1")
    endif()
    set(filter "")
    foreach(i RANGE ${first} ${last})
      list(GET tests ${i} test)
      list(APPEND filter "${suite}.${test}")
    endforeach()
    list(JOIN filter ":" filter)
    if(groups EQUAL 1)
      set(name "${suite}.*")
    else()
      math(EXPR number "${group} + 1")
      set(name "${suite}.*(${number}/${groups})")
    endif()
    string(APPEND out "add_test([==[${name}]==] [==[${TEST_EXECUTABLE}]==] "
                      "[==[--gtest_filter=${filter}]==])\n"
                      "set_tests_properties([==[${name}]==] PROPERTIES ${properties})\n")
  endforeach()
endforeach()
file(WRITE "${CTEST_FILE}" "${out}")
