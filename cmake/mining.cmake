# mining.cmake — the WAT/WARC fuzz target (the benchmark uses the jaclip binary itself).
#
# fuzz_wat (libFuzzer) exists only when the compiler is clang: configure a separate tree with
#   CC=clang cmake -S . -B build-fuzz && cmake --build build-fuzz --target fuzz_wat
# The mining and io sources are compiled into it directly so that they carry the fuzzer's
# coverage instrumentation (the library itself is built without it).
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  file(GLOB JACLIP_FUZZ_MINING_SOURCES ${CMAKE_SOURCE_DIR}/src/mining/*.c)
  list(FILTER JACLIP_FUZZ_MINING_SOURCES EXCLUDE REGEX "downloader\\.c$")  # network side, not fuzzed
  add_executable(fuzz_wat EXCLUDE_FROM_ALL
    ${CMAKE_SOURCE_DIR}/tests/mining/fuzz/fuzz_wat.c
    ${JACLIP_FUZZ_MINING_SOURCES}
    ${CMAKE_SOURCE_DIR}/src/io/warc.c
    ${CMAKE_SOURCE_DIR}/src/base/base.c
    ${CMAKE_SOURCE_DIR}/src/base/threadpool.c)
  target_include_directories(fuzz_wat PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_wat PRIVATE -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -g -O1)
  target_link_options(fuzz_wat PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_wat PRIVATE PkgConfig::DEPS Threads::Threads m)
endif()
