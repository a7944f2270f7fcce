# q8parts.cmake — bench_q8_parts (issue 5): int8 fused products vs separate ones on the
# model's shapes (bench/README.md "Speed"); never run by ctest.
add_executable(bench_q8_parts ${CMAKE_SOURCE_DIR}/bench/bench_q8_parts.c)
target_include_directories(bench_q8_parts PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_q8_parts PRIVATE jaclip_lib)
