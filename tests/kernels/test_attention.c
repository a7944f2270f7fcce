/*
 * test_attention.c — attention_forward (the full self-attention of both towers) at every
 * dispatch level (without JACLIP_GEMM it reruns itself per level, like test_gemm):
 *   - against a double-precision reference on the image tower's shape (197 tokens, 12 heads
 *     of 64) and text-like segment lengths (1, 2, 5, 6, 7, 12, 13, 16, 17, 77: every
 *     remainder of the 6-row register blocks, the 12-row blocks and the 8/16-column
 *     panels), head sizes with 16-column panels only (64, 16), a 16 + 8 mix (40), an
 *     8-column panel only (8) and one off the vector path (12), peaky softmaxes, and
 *     scores shifted far below and far above 0 (the row maximum must be subtracted);
 *   - batch independence: each segment computed alone gives bit for bit the rows it gets
 *     packed with the others, with and without a pool, whatever the scratch's alignment;
 *   - every output row written (the output starts as NaN), an empty segment harmless.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "testutil.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { return test_frand(&rng); }

/* out rows of segment [t0, t0+L) in double: softmax(scale · q kᵀ) v per head */
static int check_ref(const float *o, const float *q, const float *k, const float *v, int t0, int L, int H, int hd,
                     float scale, double tol, double *worst)
{
    int C = H * hd, bad = 0;
    double *p = malloc(sizeof(double) * (L > 0 ? L : 1));
    for (int h = 0; h < H; h++)
        for (int i = t0; i < t0 + L; i++) {
            double mx = -1e300, sum = 0;
            for (int t = 0; t < L; t++) {
                double d = 0;
                for (int e = 0; e < hd; e++)
                    d += (double)q[(size_t)i * C + h * hd + e] * k[(size_t)(t0 + t) * C + h * hd + e];
                p[t] = d * scale;
                mx = fmax(mx, p[t]);
            }
            for (int t = 0; t < L; t++) sum += (p[t] = exp(p[t] - mx));
            for (int e = 0; e < hd; e++) {
                double r = 0;
                for (int t = 0; t < L; t++) r += p[t] / sum * v[(size_t)(t0 + t) * C + h * hd + e];
                double d = fabs(r - o[(size_t)i * C + h * hd + e]);
                if (!(d <= tol)) { /* NaN counts */
                    if (bad < 3)
                        fprintf(stderr, "  head %d row %d e %d: %.9g, reference %.9g\n", h, i - t0, e,
                                (double)o[(size_t)i * C + h * hd + e], r);
                    bad++;
                } else if (d > *worst)
                    *worst = d;
            }
        }
    free(p);
    return bad;
}

/* mode 0: uniform q, k in [-1, 1] times qscale; 1: scores shifted by about -shift
 * (k = u + noise, q = -c·u + noise); 2: shifted by about +shift */
static void make_qkv(float *q, float *k, float *v, int T, int C, int hd, float qscale, int mode, float shift)
{
    for (size_t i = 0; i < (size_t)T * C; i++) q[i] = frand() * qscale, k[i] = frand(), v[i] = frand();
    if (mode == 0) return;
    /* per head: u with |u|² = hd/3 on average; q·k ≈ ∓c·|u|² = ∓shift/scale */
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < C / hd; h++) {
        float u[256], uu = 0;
        for (int e = 0; e < hd; e++) u[e] = frand(), uu += u[e] * u[e];
        float c = shift / scale / uu * (mode == 1 ? -1.0f : 1.0f);
        for (int t = 0; t < T; t++)
            for (int e = 0; e < hd; e++) {
                k[(size_t)t * C + h * hd + e] = u[e] + 0.3f * frand();
                q[(size_t)t * C + h * hd + e] = c * u[e] + 0.5f * frand();
            }
    }
}

static void test_case(jaclip_pool *pool, const int *lens, int ns, int H, int hd, float qscale, int mode, float shift,
                      const char *what)
{
    int C = H * hd, seg[40] = {0}, maxl = 1;
    for (int s = 0; s < ns; s++) seg[s + 1] = seg[s] + lens[s], maxl = lens[s] > maxl ? lens[s] : maxl;
    int T = seg[ns], nthr = pool ? jaclip_pool_size(pool) : 1;
    size_t n = (size_t)T * C, per = attention_scratch_floats(maxl, hd);
    float *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    float *o = malloc(sizeof(float) * n), *o1 = malloc(sizeof(float) * (n ? n : 1));
    float *sbuf = malloc(sizeof(float) * (nthr * per + 15));
    make_qkv(q, k, v, T, C, hd, qscale, mode, shift);
    float scale = 1.0f / sqrtf((float)hd);

    /* all segments together; the scratch deliberately misaligned */
    memset(o, 0xff, sizeof(float) * n);
    attention_forward(pool, o, q, k, v, seg, ns, H, hd, scale, sbuf + 1, maxl);
    /* within a few float ulps of the scores: measured at most 2.9e-7 for ordinary scores and
     * 9e-5 for scores near ±300 (their float rounding, as in any fp32 implementation); a
     * coarser exp (e.g. ln 2 to 5 digits, or its degree-6 term dropped) exceeds these, and
     * forgetting the row maximum gives 0/0 */
    int bad = 0;
    double worst = 0, tol = mode ? 3e-4 : 1e-6;
    for (int s = 0; s < ns; s++) bad += check_ref(o, q, k, v, seg[s], lens[s], H, hd, scale, tol, &worst);
    CHECK(bad == 0, "attention %s (H=%d hd=%d, %s, %s): %d outputs off the double reference", what, H, hd,
          pool ? "pool" : "serial", gemm_kernel_name(), bad);

    /* each segment alone, at the start of its own buffers, with the scratch at another
     * alignment and sized for this segment only: the same bits */
    int diff = 0;
    for (int s = 0; s < ns; s++) {
        int L = lens[s], one[2] = {0, L};
        if (L == 0) continue;
        size_t m = (size_t)L * C, off = (size_t)seg[s] * C;
        float *qs = malloc(sizeof(float) * m), *ks = malloc(sizeof(float) * m), *vs = malloc(sizeof(float) * m);
        float *ss = malloc(sizeof(float) * (nthr * attention_scratch_floats(L, hd) + 15));
        memcpy(qs, q + off, sizeof(float) * m), memcpy(ks, k + off, sizeof(float) * m);
        memcpy(vs, v + off, sizeof(float) * m);
        memset(o1, 0xff, sizeof(float) * m);
        attention_forward(pool, o1, qs, ks, vs, one, 1, H, hd, scale, ss + (s * 5) % 16, L);
        if (memcmp(o1, o + off, sizeof(float) * m) != 0) {
            if (diff < 3) fprintf(stderr, "  segment %d (%d tokens) differs when alone\n", s, L);
            diff++;
        }
        free(qs), free(ks), free(vs), free(ss);
    }
    CHECK(diff == 0, "attention %s (H=%d hd=%d, %s, %s): %d segments depend on the batch", what, H, hd,
          pool ? "pool" : "serial", gemm_kernel_name(), diff);
    if (bad == 0 && diff == 0)
        printf("attention %-22s H=%2d hd=%2d %-6s: max |err| %.3g\n", what, H, hd, pool ? "pool" : "serial", worst);
    free(q), free(k), free(v), free(o), free(o1), free(sbuf);
}

/* the pool's result equals the serial one bit for bit (rows never depend on the thread) */
static void test_threads(jaclip_pool *pool)
{
    static const int lens[] = {197, 197, 77, 5};
    int H = 12, hd = 64, C = H * hd, seg[5] = {0};
    for (int s = 0; s < 4; s++) seg[s + 1] = seg[s] + lens[s];
    size_t n = (size_t)seg[4] * C;
    float *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    float *sc = malloc(sizeof(float) * 2 * attention_scratch_floats(197, hd));
    make_qkv(q, k, v, seg[4], C, hd, 2.0f, 0, 0);
    attention_forward(NULL, a, q, k, v, seg, 4, H, hd, 0.125f, sc, 197);
    attention_forward(pool, b, q, k, v, seg, 4, H, hd, 0.125f, sc, 197);
    CHECK(memcmp(a, b, sizeof(float) * n) == 0, "attention: pool and serial results differ (%s)", gemm_kernel_name());
    free(q), free(k), free(v), free(a), free(b), free(sc);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (test_levels_parent(argv[0])) return test_done();
    test_levels_child();
    jaclip_pool *pool;
    jaclip_err err;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "pool");
    static const int image[] = {197, 197};
    static const int text[] = {1, 2, 5, 6, 7, 12, 13, 16, 17, 77, 0, 3};
    static const int mixed[] = {197, 1, 7, 16, 50};
    const int nt = (int)(sizeof text / sizeof text[0]);
    test_case(pool, image, 2, 12, 64, 1.0f, 0, 0, "image");
    test_case(NULL, image, 1, 12, 64, 3.0f, 0, 0, "image, peaky");
    test_case(pool, text, nt, 12, 64, 2.0f, 0, 0, "text lengths");
    test_case(pool, mixed, 5, 12, 64, 1.0f, 1, 300.0f, "scores near -300");
    test_case(pool, mixed, 5, 12, 64, 1.0f, 2, 300.0f, "scores near +300");
    test_case(pool, text, nt, 2, 16, 3.0f, 0, 0, "hd 16");
    test_case(pool, mixed, 5, 3, 40, 2.0f, 0, 0, "hd 40 (16+16+8)");
    test_case(NULL, text, nt, 3, 40, 2.0f, 0, 0, "hd 40, text");
    test_case(pool, text, nt, 2, 8, 2.0f, 0, 0, "hd 8");
    test_case(pool, mixed, 5, 4, 12, 2.0f, 0, 0, "hd 12 (portable)");
    test_threads(pool);
    jaclip_pool_free(pool);
    return test_done();
}
