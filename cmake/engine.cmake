# engine.cmake — benchmark executables of the inference engine (never run by ctest).
add_executable(bench_gemm ${CMAKE_SOURCE_DIR}/bench/bench_gemm.c)
target_include_directories(bench_gemm PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_gemm PRIVATE jaclip_lib)

# The golden model test again with the portable GEMM forced (the SIMD kernel the CPU picks is
# covered by model/test_golden itself), so both paths are checked against the reference.
add_test(NAME model/test_golden_portable_gemm COMMAND model_test_golden WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(model/test_golden_portable_gemm PROPERTIES ENVIRONMENT "JACLIP_GEMM=portable")

# libFuzzer targets for the safetensors reader and the config parser, built with clang (on by
# default there, like cmake/text.cmake's; -DJACLIP_FUZZ=OFF turns them off):
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz && cmake --build build-fuzz --target fuzz_safetensors fuzz_config
#   build-fuzz/fuzz_safetensors -max_total_time=60 -max_len=4096 CORPUS tests/golden/model/small
# They compile io/ and base/ themselves.
if(CMAKE_C_COMPILER_ID MATCHES "Clang" AND (JACLIP_FUZZ OR NOT DEFINED JACLIP_FUZZ))
  file(GLOB JACLIP_FUZZ_ENGINE_SRC ${CMAKE_SOURCE_DIR}/src/io/*.c ${CMAKE_SOURCE_DIR}/src/base/*.c)
  foreach(name fuzz_safetensors fuzz_config)
    add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c ${JACLIP_FUZZ_ENGINE_SRC})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE PkgConfig::DEPS Threads::Threads m)
  endforeach()
endif()
