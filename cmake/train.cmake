# train: the backward kernels are plain C loops written to vectorise (unit-stride axpys);
# -O3 lets GCC vectorise them, and their hot functions carry target_clones("avx2",
# "default") so an AVX2 version is picked at run time, as the GEMM's micro-kernels are.
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/backward.c PROPERTIES COMPILE_OPTIONS "-O3")
