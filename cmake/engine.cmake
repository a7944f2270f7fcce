# engine.cmake — benchmark executables of the inference engine (never run by ctest).
add_executable(bench_gemm ${CMAKE_SOURCE_DIR}/bench/bench_gemm.c)
target_include_directories(bench_gemm PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_gemm PRIVATE jaclip_lib)

# The golden model test again with the portable GEMM forced (the SIMD kernel the CPU picks is
# covered by model/test_golden itself), so both paths are checked against the reference.
add_test(NAME model/test_golden_portable_gemm COMMAND model_test_golden WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(model/test_golden_portable_gemm PROPERTIES ENVIRONMENT "JACLIP_GEMM=portable")
