# speed.cmake — benchmark executables of issue 5 (never run by ctest).
# bench_blas measures OpenBLAS / BLIS / oneDNN (dlopen'ed, so none is a build dependency)
# against jaclip's GEMM on the model's shapes; bench/blas.sh runs it.
add_executable(bench_blas ${CMAKE_SOURCE_DIR}/bench/bench_blas.c)
target_include_directories(bench_blas PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_blas PRIVATE jaclip_lib ${CMAKE_DL_LIBS})
# bench_attention times attention_forward on the image and text towers' shapes.
add_executable(bench_attention ${CMAKE_SOURCE_DIR}/bench/bench_attention.c)
target_include_directories(bench_attention PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_attention PRIVATE jaclip_lib)
# bench_q8_parts: int8 fused products (q/k/v, fc1 gate + value) against the same parts as
# separate products, timed alternately.
add_executable(bench_q8_parts ${CMAKE_SOURCE_DIR}/bench/bench_q8_parts.c)
target_include_directories(bench_q8_parts PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_q8_parts PRIVATE jaclip_lib)
