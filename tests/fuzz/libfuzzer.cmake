# The fuzz targets as libFuzzer binaries (-DKVSCOPE_LIBFUZZER=ON, clang): the same
# LLVMFuzzerTestOneInput files, linked with libFuzzer's main instead of fuzz_driver.cpp. The
# whole build already carries coverage, ASan and UBSan (top-level CMakeLists.txt).
# ctest runs each over its seed corpus plus a short coverage-guided run; new inputs go to
# <build>/tests/fuzz-work/<target>, never into the seed corpus (libFuzzer writes to its first
# corpus folder only). Longer runs: scripts/fuzz.sh, docs/RELIABILITY.md.
file(GLOB KVSCOPE_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/*_fuzz.cpp)
foreach(fuzz_src IN LISTS KVSCOPE_FUZZ_TARGETS)
    get_filename_component(fuzz_name ${fuzz_src} NAME_WE)
    string(REGEX REPLACE "_fuzz$" "" corpus ${fuzz_name})
    add_executable(fuzz_${fuzz_name} ${fuzz_src})
    target_link_libraries(fuzz_${fuzz_name} PRIVATE kvscope_engine kvscope_resources)
    target_include_directories(fuzz_${fuzz_name} PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_options(fuzz_${fuzz_name} PRIVATE -fsanitize=fuzzer)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work/${corpus})
    file(MAKE_DIRECTORY ${work})
    add_test(NAME fuzz_${fuzz_name} COMMAND fuzz_${fuzz_name} -seed=1 -runs=3000 -max_len=65536
             ${work} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${corpus})
    set_tests_properties(fuzz_${fuzz_name} PROPERTIES LABELS fuzz TIMEOUT 300)
endforeach()
target_link_libraries(fuzz_request_fuzz PRIVATE kvscope_server)
