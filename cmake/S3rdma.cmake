# Helpers shared by every layer's CMakeLists.txt.

# Warnings are errors for our own code only (third-party headers come in as system includes).
# -Wno-restrict: GCC 12 reports false positives in std::string concatenation at -O3
# (GCC bug 105329).
set(S3RDMA_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter -Wno-restrict)

# s3rdma_library(NAME SOURCES ... DEPS ...): one static library per layer.
function(s3rdma_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${S3RDMA_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# s3rdma_test(NAME SOURCES ... DEPS ...): a GoogleTest executable registered with CTest.
function(s3rdma_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${S3RDMA_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
