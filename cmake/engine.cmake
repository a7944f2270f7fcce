# engine.cmake — benchmark executables of the inference engine (never run by ctest).
add_executable(bench_gemm ${CMAKE_SOURCE_DIR}/bench/bench_gemm.c)
target_include_directories(bench_gemm PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_gemm PRIVATE jaclip_lib)
