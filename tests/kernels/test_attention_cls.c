/*
 * test_attention_cls.c — the kernels the class-token-only last layers rely on, at every
 * dispatch level (without JACLIP_GEMM it reruns itself per level, like test_gemm):
 * attention_cls_forward against row 0 of each segment of attention_forward (tight: the
 * two differ in the order of the score sums and, at the AVX2 level, in their exp and where
 * 1/sum is applied; measured at most 3e-7) and against a double-precision
 * reference, over segments of 1..197 tokens, head sizes that take the vector path (64, 16,
 * 40) and one that does not (12), with and without a pool, queries packed compactly; and
 * gelu / swiglu giving every element the same result wherever it sits in the array (the
 * gathered class rows of the last layer put row tails where full batches have none).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "testutil.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { return test_frand(&rng); }
static void fill(float *x, size_t n) { test_fill(&rng, x, n); }

static void test_cls(jaclip_pool *pool, int H, int hd, float qscale)
{
    static const int lens[] = {197, 1, 7, 16, 2, 50, 3};
    enum { NS = 7, MAXL = 197 };
    int C = H * hd, seg[NS + 1] = {0};
    for (int s = 0; s < NS; s++) seg[s + 1] = seg[s] + lens[s];
    int T = seg[NS];
    float *q = malloc(sizeof(float) * T * C), *k = malloc(sizeof(float) * T * C), *v = malloc(sizeof(float) * T * C);
    float *o = malloc(sizeof(float) * T * C), *qc = malloc(sizeof(float) * NS * C);
    float *oc = malloc(sizeof(float) * NS * C);
    float *scratch = malloc(sizeof(float) * 2 * attention_scratch_floats(MAXL, hd));
    fill(q, (size_t)T * C), fill(k, (size_t)T * C), fill(v, (size_t)T * C);
    for (int i = 0; i < T * C; i++) q[i] *= qscale;
    for (int s = 0; s < NS; s++) memcpy(qc + (size_t)s * C, q + (size_t)seg[s] * C, sizeof(float) * C);
    memset(oc, 0xff, sizeof(float) * NS * C); /* NaN: every output must be written */
    float scale = 1.0f / sqrtf((float)hd);
    attention_forward(pool, o, q, k, v, seg, NS, H, hd, scale, scratch, MAXL);
    attention_cls_forward(pool, oc, qc, k, v, seg, NS, H, hd, scale, scratch, MAXL);
    int bad_full = 0, bad_ref = 0;
    double worst = 0, p[MAXL];
    for (int s = 0; s < NS; s++)
        for (int h = 0; h < H; h++) {
            const float *qr = qc + (size_t)s * C + h * hd;
            double mx = -1e300, sum = 0;
            for (int t = 0; t < lens[s]; t++) {
                double d = 0;
                for (int e = 0; e < hd; e++) d += (double)qr[e] * k[(size_t)(seg[s] + t) * C + h * hd + e];
                p[t] = d * scale;
                mx = fmax(mx, p[t]);
            }
            for (int t = 0; t < lens[s]; t++) sum += (p[t] = exp(p[t] - mx));
            for (int e = 0; e < hd; e++) {
                double r = 0;
                for (int t = 0; t < lens[s]; t++) r += p[t] / sum * v[(size_t)(seg[s] + t) * C + h * hd + e];
                float got = oc[(size_t)s * C + h * hd + e], full = o[(size_t)seg[s] * C + h * hd + e];
                double d = fabs((double)got - full);
                worst = fmax(worst, d);
                if (!(d <= 2e-6)) {
                    if (bad_full < 3)
                        fprintf(stderr, "cls vs full: seg %d head %d e %d: %.9g vs %.9g\n", s, h, e, got, full);
                    bad_full++;
                }
                if (!(fabs(r - got) <= 2e-5)) bad_ref++;
            }
        }
    CHECK(bad_full == 0, "attention_cls vs attention_forward row 0 (H=%d hd=%d, %s, %s): %d differ by > 2e-6", H, hd,
          pool ? "pool" : "serial", gemm_kernel_name(), bad_full);
    CHECK(bad_ref == 0, "attention_cls vs double reference (H=%d hd=%d, %s): %d wrong", H, hd, gemm_kernel_name(),
          bad_ref);
    if (bad_full == 0 && bad_ref == 0)
        printf("attention_cls H=%d hd=%d %s: max |cls - full| %.3g\n", H, hd, pool ? "pool" : "serial", worst);
    free(q), free(k), free(v), free(o), free(qc), free(oc), free(scratch);
}

/* gelu and swiglu over n elements vs the same values each computed alone at offset 0: the
 * results must be bit-identical whatever the element's position (vector body or tail). */
static void test_position_independence(jaclip_pool *pool)
{
    size_t n = 8 * 5 + 5;
    float g[45], u[45], y[45], one[1];
    for (size_t i = 0; i < n; i++) g[i] = frand() * 6, u[i] = frand();
    int bad = 0;
    memcpy(y, g, sizeof y);
    gelu_forward(pool, y, n);
    for (size_t i = 0; i < n; i++) {
        one[0] = g[i];
        gelu_forward(pool, one, 1);
        bad += memcmp(one, y + i, sizeof(float)) != 0;
    }
    CHECK(bad == 0, "gelu: %d elements depend on their position (%s)", bad, gemm_kernel_name());
    bad = 0;
    swiglu_forward(pool, y, g, u, n);
    for (size_t i = 0; i < n; i++) {
        swiglu_forward(pool, one, g + i, u + i, 1);
        bad += memcmp(one, y + i, sizeof(float)) != 0;
    }
    CHECK(bad == 0, "swiglu: %d elements depend on their position (%s)", bad, gemm_kernel_name());
}

int main(int argc, char **argv)
{
    (void)argc;
    if (test_levels_parent(argv[0])) return test_done();
    test_levels_child();
    jaclip_pool *pool;
    jaclip_err err;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "pool");
    test_cls(NULL, 12, 64, 3.0f); /* EVA02 / BERT base shape, peaky softmax */
    test_cls(pool, 12, 64, 1.0f);
    test_cls(pool, 2, 16, 3.0f);  /* the small golden model's vision heads */
    test_cls(pool, 3, 40, 2.0f);  /* 32-column block + an 8-column block */
    test_cls(pool, 4, 12, 2.0f);  /* hd % 8 != 0: the portable path at every level */
    test_position_independence(pool);
    jaclip_pool_free(pool);
    return test_done();
}
