# Filtering area (issue 8): benchmark executables, never run as tests.
add_executable(bench_fma_peak ${CMAKE_SOURCE_DIR}/bench/fma_peak.c)
target_link_libraries(bench_fma_peak PRIVATE Threads::Threads)
target_compile_options(bench_fma_peak PRIVATE -O2)
add_executable(bench_negclip ${CMAKE_SOURCE_DIR}/bench/negclip_bench.c)
target_include_directories(bench_negclip PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_negclip PRIVATE jaclip_lib)
