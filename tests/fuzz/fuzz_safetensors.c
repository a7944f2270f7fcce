/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader: any byte string is
 * parsed as a .safetensors image; every tensor it accepts is then fetched as float32 with its
 * own shape (exercising the F16/BF16 conversion and the bounds that jc_st_parse promised).
 * Build: CC=clang CXX=clang++ cmake -S . -B build-fuzz && cmake --build build-fuzz --target fuzz_safetensors
 * Run:   build-fuzz/fuzz_safetensors -max_total_time=60 tests/golden/model/small/
 */
#include <stdlib.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jc_safetensors st;
    jaclip_err err;
    if (jc_st_parse("fuzz.safetensors", data, size, &st, &err) != JACLIP_OK) return 0;
    double sink = 0;
    for (int i = 0; i < st.n; i++) {
        const float *p;
        float *owned;
        const jc_st_tensor *t = &st.tensors[i];
        if (jc_st_get_f32(&st, t->name, t->ndim, t->shape, &p, &owned, &err) == JACLIP_OK) {
            size_t n = t->nbytes / (t->dtype == JC_ST_F32 ? 4 : 2);
            for (size_t k = 0; k < n; k++) sink += p[k];
            free(owned);
        }
    }
    jc_st_close(&st);
    return sink == 12345.678 ? 1 : 0;
}
