# text.cmake — extra targets of the tokenizer area (src/text):
#  - libFuzzer targets (tests/fuzz/fuzz_*.c), only when building with clang and -DJACLIP_FUZZ=ON:
#      CC=clang CXX=clang++ cmake -S . -B build-fuzz -DJACLIP_FUZZ=ON && cmake --build build-fuzz
#    They compile the text and base layers themselves with -fsanitize=fuzzer,address,undefined.
#  - bench_tokenizer (bench/bench_tokenizer.cpp): jaclip vs the C++ sentencepiece library on the
#    same sentences, built only when libsentencepiece-dev is installed (pkg-config sentencepiece).
option(JACLIP_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(JACLIP_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "JACLIP_FUZZ needs clang: CC=clang CXX=clang++ cmake -DJACLIP_FUZZ=ON ...")
  endif()
  file(GLOB JACLIP_FUZZ_LIB_SRC ${CMAKE_SOURCE_DIR}/src/text/*.c ${CMAKE_SOURCE_DIR}/src/base/*.c)
  foreach(name fuzz_tokenizer_load fuzz_tokenize)
    add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c ${JACLIP_FUZZ_LIB_SRC})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE PkgConfig::DEPS Threads::Threads m)
  endforeach()
endif()

pkg_check_modules(SENTENCEPIECE QUIET IMPORTED_TARGET sentencepiece)
if(SENTENCEPIECE_FOUND)
  add_executable(bench_tokenizer ${CMAKE_SOURCE_DIR}/bench/bench_tokenizer.cpp)
  target_include_directories(bench_tokenizer PRIVATE ${CMAKE_SOURCE_DIR}/src)
  set_target_properties(bench_tokenizer PROPERTIES CXX_STANDARD 17)
  target_link_libraries(bench_tokenizer PRIVATE jaclip_lib PkgConfig::SENTENCEPIECE)
endif()
