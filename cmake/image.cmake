# image.cmake — the libFuzzer target for the decode + letterbox path (clang only).
#
#   CC=clang cmake -S . -B build-fuzz -DJACLIP_SANITIZE=ON && cmake --build build-fuzz --target fuzz_image
#   build-fuzz/fuzz_image -max_len=200000 -rss_limit_mb=2048 CORPUS_DIR ../shared/images/formats
#
# The image and base sources are compiled a second time with coverage instrumentation
# (-fsanitize=fuzzer-no-link) into their own static library, so the ordinary library and the
# jaclip binary stay uninstrumented. Crashers (and small inputs reaching new error paths) go to
# tests/image/fuzz-corpus/, which tests/image/test_image.c replays on every test run.
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  file(GLOB JACLIP_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/image/*.c ${CMAKE_SOURCE_DIR}/src/base/*.c)
  add_library(jaclip_image_fuzzlib STATIC EXCLUDE_FROM_ALL ${JACLIP_FUZZ_SOURCES})
  target_include_directories(jaclip_image_fuzzlib PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(jaclip_image_fuzzlib PRIVATE -fsanitize=fuzzer-no-link)
  target_link_libraries(jaclip_image_fuzzlib PUBLIC PkgConfig::DEPS Threads::Threads m)
  add_executable(fuzz_image EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/tests/image/fuzz_image.c)
  target_compile_options(fuzz_image PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_image PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_image PRIVATE jaclip_image_fuzzlib)
endif()

# bench/bench_image: decode + preprocess throughput (bench/bench_image.sh compares it with Pillow).
add_executable(bench_image ${CMAKE_SOURCE_DIR}/bench/bench_image.c)
target_include_directories(bench_image PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_image PRIVATE jaclip_lib)
