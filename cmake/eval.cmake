# eval.cmake — benchmark executable of the search index (never run by ctest): see
# bench/README.md "Search" and bench/search_bench.sh.
add_executable(bench_search ${CMAKE_SOURCE_DIR}/bench/bench_search.c)
target_include_directories(bench_search PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(bench_search PRIVATE jaclip_lib)
