/* test_resample.c — the AVX2 resampling passes must give exactly the bytes of the portable
 * passes (which the Pillow parity test checks against Pillow itself), for 1..4 channels,
 * shrinking strongly (long kernels: the AVX2 horizontal pass) and mildly, growing, one-pixel
 * sides and odd widths; plus properties of the filter that hold for any correct
 * implementation: a constant image stays constant, a no-op size is the identity. */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "testutil.h"

static uint32_t rng = 12345;
static uint8_t rnd8(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

int main(void)
{
    jaclip_err err = {0};
    static const int sizes[][4] = {
        /* w, h, ow, oh */
        {2000, 37, 80, 5},  {900, 600, 100, 67}, {1024, 717, 224, 157}, {641, 427, 224, 149},
        {50, 30, 224, 134}, {1, 300, 1, 224},    {225, 1, 224, 1},      {3375, 50, 224, 3},
        {97, 2100, 10, 224}, {17, 13, 17, 5},    {13, 17, 5, 17},
    };
    int simd_available = __builtin_cpu_supports("avx2");
    if (!simd_available) printf("note: this CPU has no AVX2; only the portable passes are exercised\n");
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++)
        for (int ch = 1; ch <= 4; ch++) {
            int w = sizes[t][0], h = sizes[t][1], ow = sizes[t][2], oh = sizes[t][3];
            size_t n = (size_t)w * h * ch, on = (size_t)ow * oh * ch;
            uint8_t *src = malloc(n), *a = malloc(on), *b = malloc(on);
            for (size_t i = 0; i < n; i++) src[i] = (i % 7 == 0) ? 255 : (i % 11 == 0) ? 0 : rnd8();
            jc_resample_set_simd(0);
            CHECK(jc_resample_bicubic_u8(src, w, h, ch, a, ow, oh, &err) == JACLIP_OK, "%s", err.msg);
            jc_resample_set_simd(1);
            CHECK(jc_resample_bicubic_u8(src, w, h, ch, b, ow, oh, &err) == JACLIP_OK, "%s", err.msg);
            size_t diff = 0;
            for (size_t i = 0; i < on; i++) diff += a[i] != b[i];
            CHECK(diff == 0, "%dx%d -> %dx%d ch %d: %zu bytes differ between AVX2 and portable", w, h, ow, oh, ch,
                  diff);
            /* a constant image stays constant (weights sum to one in fixed point) */
            for (int simd = 0; simd <= 1; simd++) {
                jc_resample_set_simd(simd);
                memset(src, 173, n);
                jc_resample_bicubic_u8(src, w, h, ch, a, ow, oh, &err);
                size_t off = 0;
                for (size_t i = 0; i < on; i++) off += a[i] != 173;
                CHECK(off == 0, "constant %dx%d -> %dx%d ch %d simd %d: %zu bytes changed", w, h, ow, oh, ch, simd, off);
            }
            free(src);
            free(a);
            free(b);
        }
    /* same size: identity */
    {
        uint8_t src[30 * 20 * 3], out[30 * 20 * 3];
        for (size_t i = 0; i < sizeof src; i++) src[i] = rnd8();
        CHECK(jc_resample_bicubic_u8(src, 30, 20, 3, out, 30, 20, &err) == JACLIP_OK &&
                  memcmp(src, out, sizeof src) == 0,
              "identity");
        int32_t si[30 * 20], oi[30 * 20];
        for (int i = 0; i < 600; i++) si[i] = (int32_t)(rnd8() * 257);
        CHECK(jc_resample_bicubic_i32(si, 30, 20, oi, 30, 20, &err) == JACLIP_OK && memcmp(si, oi, sizeof si) == 0,
              "identity I");
    }
    /* nearest: 4x4 -> 2x2 picks source centres (1, 1), (3, 1), ... as Pillow does */
    {
        uint8_t src[16], out[4];
        for (int i = 0; i < 16; i++) src[i] = (uint8_t)i;
        CHECK(jc_resample_nearest(src, 4, 4, 1, out, 2, 2, &err) == JACLIP_OK, "nearest");
        CHECK(out[0] == 5 && out[1] == 7 && out[2] == 13 && out[3] == 15, "nearest picks %d %d %d %d", out[0], out[1],
              out[2], out[3]);
    }
    jc_resample_set_simd(-1);
    return test_done();
}
