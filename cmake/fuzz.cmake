# SPDX-License-Identifier: Apache-2.0
# libFuzzer harnesses (tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/corpus/<name>/).
#
# Used as a project include so that the top-level CMakeLists.txt stays untouched:
#   CC=clang-14 cmake -S . -B build-fuzz -DDF_FUZZ=ON \
#       -DCMAKE_PROJECT_INCLUDE=$PWD/cmake/fuzz.cmake
#   cmake --build build-fuzz --target fuzz_all
# (`make fuzz` / `make fuzz-smoke` do exactly this; see docs/fuzzing.md.)
#
# Runs right after project(): every project library (dfcommon, snlib, dfgetlib, dfdlib) is
# compiled with -fsanitize=fuzzer-no-link,address,undefined (coverage instrumentation without
# libFuzzer's main), and each harness is linked with -fsanitize=fuzzer,address,undefined.
# Any UBSan report aborts (-fno-sanitize-recover=all) so libFuzzer records it as a crash.
option(DF_FUZZ "Build the libFuzzer harnesses (needs clang)" OFF)
if(NOT DF_FUZZ)
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "DF_FUZZ=ON needs clang (CC=clang-14), not ${CMAKE_C_COMPILER_ID}")
endif()
if(DF_SANITIZE)
  message(FATAL_ERROR "DF_FUZZ=ON already enables ASan+UBSan; leave DF_SANITIZE off")
endif()

set(DF_FUZZ_SAN address,undefined)
# -O1 and line tables only: quicker to build than RelWithDebInfo (make fuzz-smoke builds from
# scratch) and still symbolised stacks.
add_compile_options(-O1 -fsanitize=fuzzer-no-link,${DF_FUZZ_SAN} -fno-sanitize-recover=all
                    -fno-omit-frame-pointer -gline-tables-only)
add_link_options(-fsanitize=${DF_FUZZ_SAN} -fno-sanitize-recover=all)
# Harness executables land in <build>/fuzz.
set(DF_FUZZ_OUT ${CMAKE_BINARY_DIR}/fuzz)

# The harnesses are created after every library exists (end of the top-level configure).
function(df_fuzz_add_harnesses)
  file(GLOB _harnesses CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  set(_all)
  foreach(_src ${_harnesses})
    get_filename_component(_name ${_src} NAME_WE)
    add_executable(${_name} ${_src})
    target_link_libraries(${_name} PRIVATE dfdlib snlib dfgetlib dfcommon)
    target_link_options(${_name} PRIVATE -fsanitize=fuzzer)
    set_target_properties(${_name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${DF_FUZZ_OUT}
                                              EXCLUDE_FROM_ALL ON)
    list(APPEND _all ${_name})
  endforeach()
  add_custom_target(fuzz_all DEPENDS ${_all})
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL df_fuzz_add_harnesses)
