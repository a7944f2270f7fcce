/*
 * test_gemm.c — the GEMM kernels against naive double-precision references (attention has its
 * own test, test_attention.c),
 * across odd shapes (K tails, edge blocks, M = 1), with and without a pool, at every
 * dispatch level: run without JACLIP_GEMM, it reruns itself once per level
 * (portable, avx2, avx512, avx512vnni) and says which levels this CPU could not run. Also checks that
 * a row's result never depends on the batch (bit-exact), and the int8 path: exact integer
 * result against a reference quantization done here, closeness to fp32, and fused int8
 * products (several weights as one) bit-identical to the separate ones. Once more with an
 * unusual JACLIP_GEMM_BLOCK (the blocking must not change any result).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { return test_frand(&rng); }
static void fill(float *x, size_t n) { test_fill(&rng, x, n); }

static void test_matmul(jaclip_pool *pool)
{
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 13, 49, 97};
    static const int Ks[] = {1, 3, 7, 8, 9, 16, 17, 33, 64, 100, 768};
    static const int Ns[] = {1, 2, 3, 5, 7, 12, 13, 25, 100, 130};
    int bad = 0, runs = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                int M = Ms[mi], K = Ks[ki], N = Ns[ni];
                float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
                float *b = malloc(sizeof(float) * N), *c = malloc(sizeof(float) * M * N);
                fill(a, (size_t)M * K), fill(w, (size_t)N * K), fill(b, N);
                bool use_bias = (M + K + N) % 2;
                matmul_forward(pool, c, a, w, use_bias ? b : NULL, M, K, N);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = use_bias ? b[j] : 0, mag = fabs(s);
                        for (int k = 0; k < K; k++) {
                            s += (double)a[i * K + k] * w[j * K + k];
                            mag += fabs((double)a[i * K + k] * w[j * K + k]);
                        }
                        if (fabs(c[i * N + j] - s) > 1e-5 * mag + 1e-6) {
                            if (bad < 5)
                                fprintf(stderr, "matmul M=%d K=%d N=%d [%d,%d]: %g vs %g\n", M, K, N, i, j,
                                        (double)c[i * N + j], s);
                            bad++;
                        }
                    }
                runs++;
                free(a), free(w), free(b), free(c);
            }
    CHECK(bad == 0, "%d wrong elements over %d shapes (%s, pool %s)", bad, runs, gemm_kernel_name(),
          pool ? "2 threads" : "none");
}

/* Row r computed inside batches of different sizes must be bit-identical. */
static void test_batch_invariance(jaclip_pool *pool)
{
    int K = 200, N = 77, M = 101;
    float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
    float *full = malloc(sizeof(float) * M * N), *part = malloc(sizeof(float) * M * N);
    fill(a, (size_t)M * K), fill(w, (size_t)N * K), fill(b, N);
    matmul_forward(pool, full, a, w, b, M, K, N);
    int diff = 0;
    for (int r = 0; r < M; r += 7) {
        for (int len = 1; len <= 5 && r + len <= M; len += 2) {
            matmul_forward(NULL, part, a + (size_t)r * K, w, b, len, K, N);
            diff += memcmp(part, full + (size_t)r * N, sizeof(float) * N * len) != 0;
        }
    }
    CHECK(diff == 0, "%d sub-batches differ from the full batch bit for bit (%s)", diff, gemm_kernel_name());
    gemm_q8 q;
    if (!gemm_q8_quantize(pool, &q, w, N, K)) {
        CHECK(0, "out of memory");
        return;
    }
    matmul_q8_forward(pool, full, a, &q, b, M);
    diff = 0;
    for (int r = 0; r < M; r += 5) {
        matmul_q8_forward(NULL, part, a + (size_t)r * K, &q, b, 1);
        diff += memcmp(part, full + (size_t)r * N, sizeof(float) * N) != 0;
    }
    CHECK(diff == 0, "int8: %d single rows differ from the batch (%s)", diff, gemm_kernel_name());
    gemm_q8_free(&q);
    free(a), free(w), free(b), free(full), free(part);
}

/* The contract of matmul_forward: every element is the sequential fused-multiply-add chain
 * over k, then + bias, bit for bit, at every level, with and without packing in advance,
 * across k slices (K > 256), edge rows and edge channels. */
static void test_fma_chain(jaclip_pool *pool)
{
    static const int shapes[][3] = {{1, 5, 1}, {7, 300, 17}, {13, 513, 40}, {100, 768, 97}, {6, 1030, 33}};
    int diff = 0, pdiff = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *c = malloc(sizeof(float) * M * N), *c2 = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K), fill(w, (size_t)N * K), fill(b, N);
        const float *bias = s % 2 ? b : NULL;
        matmul_forward(pool, c, a, w, bias, M, K, N);
        gemm_pw pw;
        if (!gemm_pack_w(pool, &pw, w, N, K)) {
            CHECK(0, "out of memory packing W");
            return;
        }
        matmul_packed_forward(pool, c2, a, &pw, bias, M);
        gemm_pw_free(&pw);
        pdiff += memcmp(c, c2, sizeof(float) * M * N) != 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float acc = 0;
                for (int k = 0; k < K; k++) acc = fmaf(a[(size_t)i * K + k], w[(size_t)j * K + k], acc);
                if (bias) acc += bias[j];
                diff += memcmp(&acc, &c[(size_t)i * N + j], sizeof acc) != 0;
            }
        free(a), free(w), free(b), free(c), free(c2);
    }
    CHECK(diff == 0, "%d elements differ from the sequential fma chain (%s)", diff, gemm_kernel_name());
    CHECK(pdiff == 0, "%d shapes: matmul_packed_forward differs from matmul_forward (%s)", pdiff, gemm_kernel_name());
}

/* Fused weights (q/k/v): one packed product, one output per part, each bit-identical to its
 * own matmul_forward. */
static void test_parts(jaclip_pool *pool)
{
    static const int shapes[][2] = {{1, 64}, {17, 96}, {100, 64}};
    int diff = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = 300;
        float *a = malloc(sizeof(float) * M * K), *w[3], *b[3], *o[3], *r = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K);
        for (int p = 0; p < 3; p++) {
            w[p] = malloc(sizeof(float) * N * K), b[p] = malloc(sizeof(float) * N), o[p] = malloc(sizeof(float) * M * N);
            fill(w[p], (size_t)N * K), fill(b[p], N);
        }
        const float *ws[3] = {w[0], w[1], w[2]}, *bs[3] = {b[0], NULL, b[2]};
        gemm_pw pw;
        if (!gemm_pack_w_parts(pool, &pw, ws, 3, N, K)) {
            CHECK(0, "gemm_pack_w_parts refused N=%d", N);
            return;
        }
        matmul_packed_forward_parts(pool, o, a, &pw, bs, M);
        for (int p = 0; p < 3; p++) {
            matmul_forward(pool, r, a, w[p], bs[p], M, K, N);
            diff += memcmp(r, o[p], sizeof(float) * M * N) != 0;
            free(w[p]), free(b[p]), free(o[p]);
        }
        gemm_pw_free(&pw);
        free(a), free(r);
    }
    CHECK(diff == 0, "%d fused parts differ from their own product (%s)", diff, gemm_kernel_name());
    gemm_pw bad;
    const float *one[2] = {NULL, NULL};
    CHECK(!gemm_pack_w_parts(pool, &bad, one, 2, 20, 8), "parts of 20 channels must be refused");
}

/* fp16-stored weights: each element is the fma chain over k of inp · fp16(w), bit for bit. */
static void test_f16(jaclip_pool *pool)
{
    static const int shapes[][3] = {{1, 300, 17}, {17, 768, 64}, {50, 513, 40}};
    int diff = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *c = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K), fill(w, (size_t)N * K), fill(b, N);
        const float *ws[1] = {w};
        gemm_pw pw;
        if (!gemm_pack_w_parts_f16(pool, &pw, ws, 1, N, K)) {
            CHECK(0, "out of memory packing fp16 W");
            return;
        }
        matmul_packed_forward(pool, c, a, &pw, b, M);
        gemm_pw_free(&pw);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float acc = 0;
                for (int k = 0; k < K; k++)
                    acc = fmaf(a[(size_t)i * K + k], jc_f16_to_f32(jc_f32_to_f16(w[(size_t)j * K + k])), acc);
                acc += b[j];
                diff += memcmp(&acc, &c[(size_t)i * N + j], sizeof acc) != 0;
            }
        free(a), free(w), free(b), free(c);
    }
    CHECK(diff == 0, "fp16 weights: %d elements differ from the fma chain of fp16(w) (%s)", diff, gemm_kernel_name());
}

static void test_int8(jaclip_pool *pool)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {13, 100, 7}, {50, 768, 130}, {7, 2048, 12}, {130, 520, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
        float *c = malloc(sizeof(float) * M * N), *cf = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K), fill(w, (size_t)N * K), fill(b, N);
        gemm_q8 q;
        if (!gemm_q8_quantize(pool, &q, w, N, K)) {
            CHECK(0, "out of memory");
            return;
        }
        matmul_q8_forward(pool, c, a, &q, b, M);
        matmul_forward(pool, cf, a, w, b, M, K, N);
        /* reference: activations through gemm_q8_quantize_row (checked on its own below:
         * range, zero point, |dequantized - a| <= step/2), weights re-quantized here, then
         * the integer product in int64 */
        int bad = 0, Kp = q.Kp;
        uint8_t *xa = malloc((size_t)Kp);
        for (int i = 0; i < M; i++) {
            float sa;
            int32_t z;
            gemm_q8_quantize_row(a + (size_t)i * K, K, Kp, xa, &sa, &z);
            if (z < 0 || z > 127) bad++;
            for (int k = 0; k < Kp; k++) {
                if (xa[k] > 127) bad++;
                if (k < K && fabs(sa * ((int)xa[k] - z) - a[i * K + k]) > 0.5001 * sa) bad++;
                if (k >= K && xa[k] != 0) bad++;
            }
            for (int j = 0; j < N; j++) {
                float wmax = 0;
                for (int k = 0; k < K; k++) wmax = fmaxf(wmax, fabsf(w[j * K + k]));
                float sw = wmax > 0 ? wmax / 127.0f : 1.0f;
                CHECK(q.scale[j] == sw, "weight scale of channel %d", j);
                long long acc = 0, rs = 0;
                for (int k = 0; k < K; k++) {
                    long qw = lrintf(w[j * K + k] * (1.0f / sw));
                    if (labs(qw) > 127 || qw != q.q[(size_t)j * Kp + k]) bad++;
                    acc += (long long)xa[k] * qw;
                    rs += qw;
                }
                if (rs != q.rowsum[j]) bad++;
                float want = (float)(acc - z * rs) * (sa * sw) + b[j];
                if (c[i * N + j] != want) bad++;
            }
        }
        free(xa);
        CHECK(bad == 0, "int8 M=%d K=%d N=%d: %d results differ from the exact integer reference (%s)", M, K, N,
              bad, gemm_kernel_name());
        if (K >= 100) {
            double cs = test_cosine(c, cf, (size_t)M * N);
            CHECK(cs > 0.9999, "int8 vs fp32 cosine %.6f (M=%d K=%d N=%d)", cs, M, K, N);
        }
        gemm_q8_free(&q);
        free(a), free(w), free(b), free(c), free(cf);
    }
}

/* int8 fused weights: gemm_q8_quantize_parts gives each channel the int8 values, scale and row
 * sum of quantizing its part alone, and matmul_q8_forward_parts (activations quantized once,
 * one product) writes each part's output bit-identical to that part's own matmul_q8_forward;
 * the same for views of some of the parts (the k/v of q/k/v) and of one part alone. Shapes
 * cover odd M (the batch-1 path, edge row groups, several row tiles), parts whose column tiles
 * straddle two parts, and K over one k slice. */
static void test_q8_parts(jaclip_pool *pool)
{
    static const int shapes[][4] = {/* M, N per part, K, parts */
                                    {1, 32, 300, 3},  {7, 96, 768, 3},  {50, 64, 100, 2},
                                    {130, 32, 1100, 3}, {7, 160, 64, 2}, {130, 96, 768, 4}};
    int diff = 0, qdiff = 0, vdiff = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], P = shapes[s][3];
        float *a = malloc(sizeof(float) * M * K), *r = malloc(sizeof(float) * M * N);
        float *w[4] = {0}, *b[4] = {0}, *o[4] = {0}, *o2[4] = {0};
        fill(a, (size_t)M * K);
        for (int p = 0; p < P; p++) {
            w[p] = malloc(sizeof(float) * N * K), b[p] = malloc(sizeof(float) * N);
            o[p] = malloc(sizeof(float) * M * N), o2[p] = malloc(sizeof(float) * M * N);
            fill(w[p], (size_t)N * K), fill(b[p], N);
            for (size_t i = 0; i < (size_t)N * K; i += 97) w[p][i] *= 3.0f; /* uneven channel ranges */
        }
        const float *ws[4] = {w[0], w[1], w[2], w[3]}, *bs[4] = {b[0], NULL, b[2], b[3]};
        gemm_q8 fq;
        if (!gemm_q8_quantize_parts(pool, &fq, ws, P, N, K)) {
            CHECK(0, "gemm_q8_quantize_parts refused N=%d parts=%d", N, P);
            return;
        }
        CHECK(fq.N == P * N && fq.parts == P && fq.K == K, "fused q8 shape N=%d parts=%d", fq.N, fq.parts);
        matmul_q8_forward_parts(pool, o, a, &fq, bs, M);
        gemm_q8 kv = gemm_q8_parts_view(&fq, 1, P - 1);
        matmul_q8_forward_parts(pool, o2 + 1, a, &kv, bs + 1, M);
        for (int p = 0; p < P; p++) {
            gemm_q8 q;
            if (!gemm_q8_quantize(pool, &q, w[p], N, K)) {
                CHECK(0, "out of memory");
                return;
            }
            qdiff += memcmp(q.q, fq.q + (size_t)p * N * q.Kp, (size_t)N * q.Kp) != 0 ||
                     memcmp(q.scale, fq.scale + (size_t)p * N, sizeof(float) * N) != 0 ||
                     memcmp(q.rowsum, fq.rowsum + (size_t)p * N, sizeof(int32_t) * N) != 0 ||
                     (q.pk && memcmp(q.pk, fq.pk + (size_t)p * N * q.Kp, (size_t)N * q.Kp) != 0);
            matmul_q8_forward(pool, r, a, &q, bs[p], M);
            diff += memcmp(r, o[p], sizeof(float) * M * N) != 0;
            if (p > 0) vdiff += memcmp(r, o2[p], sizeof(float) * M * N) != 0;
            gemm_q8 one = gemm_q8_parts_view(&fq, p, 1);
            matmul_q8_forward(NULL, o2[0], a, &one, bs[p], M);
            vdiff += memcmp(r, o2[0], sizeof(float) * M * N) != 0;
            gemm_q8_free(&q);
        }
        for (int p = 0; p < P; p++) free(w[p]), free(b[p]), free(o[p]), free(o2[p]);
        gemm_q8_free(&fq);
        free(a), free(r);
    }
    CHECK(qdiff == 0, "int8: %d fused parts quantized differently from alone (%s)", qdiff, gemm_kernel_name());
    CHECK(diff == 0, "int8: %d fused parts differ from their own product (%s, pool %s)", diff, gemm_kernel_name(),
          pool ? "2 threads" : "none");
    CHECK(vdiff == 0, "int8: %d views of fused parts differ from their own product (%s)", vdiff, gemm_kernel_name());
    gemm_q8 bad;
    const float *one[2] = {NULL, NULL};
    CHECK(!gemm_q8_quantize_parts(pool, &bad, one, 2, 20, 8), "int8 parts of 20 channels must be refused");
    CHECK(!gemm_q8_quantize_parts(pool, &bad, one, 5, 32, 8), "more than GEMM_MAX_PARTS parts must be refused");
}

static void test_ops(jaclip_pool *pool)
{
    int T = 5, C = 203;
    float *x = malloc(sizeof(float) * T * C), *o = malloc(sizeof(float) * T * C), *w = malloc(sizeof(float) * C),
          *b = malloc(sizeof(float) * C);
    fill(x, (size_t)T * C), fill(w, C), fill(b, C);
    for (int i = 0; i < T * C; i++) x[i] = x[i] * 4 + 1;
    layernorm_forward(pool, o, x, w, b, T, C, 1e-6f);
    int bad = 0;
    for (int r = 0; r < T; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < C; i++) m += x[r * C + i];
        m /= C;
        for (int i = 0; i < C; i++) v += (x[r * C + i] - m) * (x[r * C + i] - m);
        v /= C;
        for (int i = 0; i < C; i++) {
            double want = (x[r * C + i] - m) / sqrt(v + 1e-6) * w[i] + b[i];
            bad += fabs(want - o[r * C + i]) > 2e-6 * (1 + fabs(want));
        }
    }
    CHECK(bad == 0, "layernorm: %d wrong (%s)", bad, gemm_kernel_name());
    size_t n = 4099;
    float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) g[i] = ((float)i - 2000.0f) / 200.0f, u[i] = frand();
    memcpy(y, g, sizeof(float) * n);
    gelu_forward(pool, y, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = 0.5 * g[i] * (1 + erf(g[i] / sqrt(2.0)));
        bad += fabs(want - y[i]) > 1e-6 * (1 + fabs(want));
    }
    CHECK(bad == 0, "gelu: %d wrong (%s)", bad, gemm_kernel_name());
    swiglu_forward(pool, y, g, u, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = g[i] / (1 + exp(-(double)g[i])) * u[i];
        bad += fabs(want - y[i]) > 2e-6 * (1 + fabs(want));
    }
    CHECK(bad == 0, "swiglu: %d wrong (%s)", bad, gemm_kernel_name());
    float row[37];
    for (int i = 0; i < 37; i++) row[i] = frand() * 30;
    double ref[37], mx = -1e300, s = 0;
    for (int i = 0; i < 37; i++) mx = fmax(mx, row[i]);
    for (int i = 0; i < 37; i++) s += (ref[i] = exp(row[i] - mx));
    softmax_row(row, 37);
    bad = 0;
    for (int i = 0; i < 37; i++) bad += fabs(ref[i] / s - row[i]) > 1e-6;
    CHECK(bad == 0, "softmax: %d wrong (%s)", bad, gemm_kernel_name());
    free(x), free(o), free(w), free(b), free(g), free(u), free(y);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (test_levels_parent(argv[0])) {
        /* blocking never changes a bit: the best level again with short k slices, narrow tasks
         * and (on AVX-512) the 12-row kernels everywhere; and a malformed setting is ignored */
        int rc = test_system("JACLIP_GEMM=avx512vnni JACLIP_GEMM_BLOCK=48,42,32,12 '%s'", argv[0]);
        CHECK(rc == 0, "JACLIP_GEMM_BLOCK=48,42,32,12 failed (exit %d)", rc);
        rc = test_system("JACLIP_GEMM=avx512vnni JACLIP_GEMM_BLOCK=7,1,1 '%s' 2>&1 | grep -q 'JACLIP_GEMM_BLOCK=.7,1,1. ignored'",
                         argv[0]);
        CHECK(rc == 0, "a malformed JACLIP_GEMM_BLOCK is not reported (exit %d)", rc);
        return test_done();
    }
    test_levels_child();
    jaclip_pool *pool;
    jaclip_err err;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "pool");
    test_matmul(NULL);
    test_matmul(pool);
    test_batch_invariance(pool);
    test_fma_chain(pool);
    test_fma_chain(NULL);
    test_parts(pool);
    test_parts(NULL);
    test_f16(pool);
    test_f16(NULL);
    test_int8(pool);
    test_q8_parts(pool);
    test_q8_parts(NULL);
    test_ops(pool);
    jaclip_pool_free(pool);
    return test_done();
}
