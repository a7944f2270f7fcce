/*
 * test_score.c — negCLIPLoss, CLIP score, NormSim and the selection against closed forms
 * (reference/algorithms.md §1.5) and against brute-force float64 implementations written
 * here independently of the tiled kernel (full similarity matrix, plain log-sum-exp).
 * Every SIMD path the CPU has (scalar, avx2, avx512) is run and checked.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tasks/filter.h"
#include "tasks/score.h"
#include "testutil.h"

static uint64_t rng = 0x1234567887654321ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

static jaclip_emb_view view(const float *x, int64_t n, int d, const char *name)
{
    jaclip_emb_view v = {x, n, d, JACLIP_F32, name};
    return v;
}

/* Brute force in double: R averaged over the repetitions of jaclip_negclip_assignment. */
static void negclip_brute(const float *I, const float *T, int64_t n, int d, int64_t B, int K, double tau,
                          uint64_t seed, double *out)
{
    double *In = malloc(sizeof(double) * n * d), *Tn = malloc(sizeof(double) * n * d);
    for (int64_t i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int k = 0; k < d; k++) {
            a += (double)I[i * d + k] * I[i * d + k];
            b += (double)T[i * d + k] * T[i * d + k];
        }
        for (int k = 0; k < d; k++) {
            In[i * d + k] = I[i * d + k] / sqrt(a);
            Tn[i * d + k] = T[i * d + k] / sqrt(b);
        }
    }
    int64_t nb = (n + B - 1) / B;
    int reps = nb == 1 ? 1 : K;
    int32_t *bid = malloc(sizeof(int32_t) * n);
    int64_t *mem = malloc(sizeof(int64_t) * n);
    double *R = calloc(n, sizeof(double));
    for (int r = 0; r < reps; r++) {
        jaclip_negclip_assignment(n, B, seed, r, bid, NULL);
        for (int64_t k = 0; k < nb; k++) {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (bid[i] == k) mem[m++] = i;
            for (int64_t x = 0; x < m; x++) {
                double mr = -INFINITY, mc = -INFINITY, sr = 0, sc = 0;
                for (int dir = 0; dir < 2; dir++)
                    for (int64_t y = 0; y < m; y++) {
                        const double *a = dir ? Tn + mem[x] * d : In + mem[x] * d;
                        const double *b = dir ? In + mem[y] * d : Tn + mem[y] * d;
                        double s = 0;
                        for (int k = 0; k < d; k++) s += a[k] * b[k];
                        if (dir == 0 && s > mr) mr = s;
                        if (dir == 1 && s > mc) mc = s;
                    }
                for (int dir = 0; dir < 2; dir++)
                    for (int64_t y = 0; y < m; y++) {
                        const double *a = dir ? Tn + mem[x] * d : In + mem[x] * d;
                        const double *b = dir ? In + mem[y] * d : Tn + mem[y] * d;
                        double s = 0;
                        for (int k = 0; k < d; k++) s += a[k] * b[k];
                        if (dir == 0) sr += exp((s - mr) / tau);
                        else sc += exp((s - mc) / tau);
                    }
                R[mem[x]] += 0.5 * (mr + tau * log(sr)) + 0.5 * (mc + tau * log(sc));
            }
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double c = 0;
        for (int k = 0; k < d; k++) c += In[i * d + k] * Tn[i * d + k];
        out[i] = c - R[i] / reps;
    }
    free(In);
    free(Tn);
    free(bid);
    free(mem);
    free(R);
}

static const char *paths[3] = {"scalar", "avx2", "avx512"};

/* Sets JACLIP_SIMD; returns 0 when the CPU lacks that path (the dispatcher falls back). */
static int use_path(const char *p)
{
    setenv("JACLIP_SIMD", p, 1);
    return strcmp(jc_score_kernel_name(), p) == 0;
}

static void test_closed_forms(jaclip_pool *pool)
{
    /* orthonormal, I = T, B = 4 <= D = 8 */
    float E[4 * 8] = {0};
    for (int i = 0; i < 4; i++) E[i * 8 + i] = 1;
    jaclip_emb_view vi = view(E, 4, 8, "I"), vt = view(E, 4, 8, "T");
    for (int pi = 0; pi < 3; pi++) {
        if (!use_path(paths[pi])) continue;
        jaclip_negclip_params p = jaclip_negclip_default_params();
        p.batch = 4;
        p.temperature = 1.0f;
        p.pool = pool;
        float out[4];
        jaclip_err err = {0};
        CHECK(jaclip_score_negclip(&vi, &vt, &p, out, &err) == JACLIP_OK, "%s", err.msg);
        double want = 1 - log(exp(1.0) + 3);
        for (int i = 0; i < 4; i++) CHECK(fabs(out[i] - want) < 1e-6, "%s: tau=1: %g vs %g", paths[pi], out[i], want);
        CHECK(fabs(want - -0.7437) < 1e-4, "closed form itself");
        p.temperature = 0.01f; /* e^(1/tau) = e^100 overflows fp32: must stay finite, ~ -1e-45 */
        CHECK(jaclip_score_negclip(&vi, &vt, &p, out, &err) == JACLIP_OK, "%s", err.msg);
        for (int i = 0; i < 4; i++) CHECK(isfinite(out[i]) && fabs(out[i]) < 1e-6, "%s: tau=0.01: %g", paths[pi], out[i]);
    }
    /* all similarities equal c: score = -tau log B, for B = 4096 (D = 2) */
    int n = 4096;
    double c = 0.3;
    float *I = malloc(sizeof(float) * n * 2), *T = malloc(sizeof(float) * n * 2);
    for (int i = 0; i < n; i++) {
        I[2 * i] = 1;
        I[2 * i + 1] = 0;
        T[2 * i] = (float)c;
        T[2 * i + 1] = (float)sqrt(1 - c * c);
    }
    vi = view(I, n, 2, "I");
    vt = view(T, n, 2, "T");
    float *out = malloc(sizeof(float) * n);
    for (int pi = 0; pi < 3; pi++) {
        if (!use_path(paths[pi])) continue;
        jaclip_negclip_params p = jaclip_negclip_default_params();
        p.batch = n;
        p.temperature = 0.01f;
        p.pool = pool;
        jaclip_err err = {0};
        CHECK(jaclip_score_negclip(&vi, &vt, &p, out, &err) == JACLIP_OK, "%s", err.msg);
        double want = -0.01 * log((double)n), worst = 0;
        for (int i = 0; i < n; i++) worst = fmax(worst, fabs(out[i] - want));
        CHECK(worst < 2e-6, "%s: equal similarities: max |score - (-tau log B)| = %g", paths[pi], worst);
    }
    free(I);
    free(T);
    free(out);
}

static void test_against_brute(jaclip_pool *pool)
{
    /* 3 batches (near-equal: 334/333/333), D = 24, a third of the pairs near-duplicates so that
     * at tau = 0.01 tiles mix cosines ~1 and ~0 and the per-row/column fallback runs */
    int n = 1000, d = 24;
    float *I = malloc(sizeof(float) * n * d), *T = malloc(sizeof(float) * n * d), *out = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (int i = 0; i < n * d; i++) {
        I[i] = nrand();
        T[i] = nrand();
    }
    for (int i = 0; i < n; i += 3)
        for (int k = 0; k < d; k++) T[i * d + k] = I[i * d + k] + 0.02f * T[i * d + k];
    jaclip_emb_view vi = view(I, n, d, "I"), vt = view(T, n, d, "T");
    const double taus[2] = {0.01, 0.07};
    for (int ti = 0; ti < 2; ti++) {
        negclip_brute(I, T, n, d, 400, 3, taus[ti], 42, ref);
        for (int pi = 0; pi < 3; pi++) {
            if (!use_path(paths[pi])) continue;
            jaclip_negclip_params p = jaclip_negclip_default_params();
            p.batch = 400;
            p.repeats = 3;
            p.seed = 42;
            p.temperature = (float)taus[ti];
            p.pool = pool;
            jaclip_err err = {0};
            CHECK(jaclip_score_negclip(&vi, &vt, &p, out, &err) == JACLIP_OK, "%s", err.msg);
            double worst = 0;
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
            CHECK(worst < 1e-5, "%s tau=%g: max |C - float64 brute force| = %g", paths[pi], taus[ti], worst);
        }
    }
    unsetenv("JACLIP_SIMD");

    /* determinism: same seed -> identical bits, any thread count; other seed -> different */
    jaclip_negclip_params p = jaclip_negclip_default_params();
    p.batch = 300;
    p.repeats = 2;
    p.seed = 5;
    p.pool = pool;
    float *o2 = malloc(sizeof(float) * n);
    CHECK(jaclip_score_negclip(&vi, &vt, &p, out, NULL) == JACLIP_OK, "run");
    p.pool = NULL;
    CHECK(jaclip_score_negclip(&vi, &vt, &p, o2, NULL) == JACLIP_OK, "run");
    CHECK(memcmp(out, o2, sizeof(float) * n) == 0, "2 threads and 1 thread give different bits");
    p.seed = 6;
    CHECK(jaclip_score_negclip(&vi, &vt, &p, o2, NULL) == JACLIP_OK, "run");
    CHECK(memcmp(out, o2, sizeof(float) * n) != 0, "the seed does not change the batching");

    /* n <= B: one batch, so seed, K and B (>= n) cannot matter */
    p.batch = n;
    p.seed = 1;
    p.repeats = 1;
    p.pool = pool;
    CHECK(jaclip_score_negclip(&vi, &vt, &p, out, NULL) == JACLIP_OK, "run");
    p.batch = 32768;
    p.seed = 99;
    p.repeats = 10;
    CHECK(jaclip_score_negclip(&vi, &vt, &p, o2, NULL) == JACLIP_OK, "run");
    CHECK(memcmp(out, o2, sizeof(float) * n) == 0, "with n <= B the result depends on the batching");
    negclip_brute(I, T, n, d, 32768, 10, 0.01, 12345, ref);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(o2[i] - ref[i]));
    CHECK(worst < 1e-5, "n <= B: max diff to brute force %g", worst);

    /* fp16 input == fp32 input holding the same (rounded) values */
    uint16_t *Ih = malloc(2 * n * d), *Th = malloc(2 * n * d);
    for (int i = 0; i < n * d; i++) {
        Ih[i] = jc_f32_to_f16(I[i]);
        Th[i] = jc_f32_to_f16(T[i]);
        I[i] = jc_f16_to_f32(Ih[i]);
        T[i] = jc_f16_to_f32(Th[i]);
    }
    jaclip_emb_view hi = {Ih, n, d, JACLIP_F16, "Ih"}, ht = {Th, n, d, JACLIP_F16, "Th"};
    p.batch = 300;
    p.repeats = 2;
    CHECK(jaclip_score_negclip(&hi, &ht, &p, out, NULL) == JACLIP_OK, "fp16 run");
    CHECK(jaclip_score_negclip(&vi, &vt, &p, o2, NULL) == JACLIP_OK, "fp32 run");
    CHECK(memcmp(out, o2, sizeof(float) * n) == 0, "fp16 and fp32 inputs of the same values differ");

    /* CLIP score and NormSim against brute force */
    CHECK(jaclip_score_clip(&vi, &vt, out, NULL) == JACLIP_OK, "clipscore");
    worst = 0;
    for (int i = 0; i < n; i++) {
        double a = 0, b = 0, ab = 0;
        for (int k = 0; k < d; k++) {
            a += (double)I[i * d + k] * I[i * d + k];
            b += (double)T[i * d + k] * T[i * d + k];
            ab += (double)I[i * d + k] * T[i * d + k];
        }
        worst = fmax(worst, fabs(out[i] - ab / sqrt(a * b)));
    }
    CHECK(worst < 1e-6, "clipscore max diff %g", worst);
    int m = 300; /* targets: the first m texts */
    jaclip_emb_view vg = view(T, m, d, "G");
    for (int pinf = 0; pinf < 2; pinf++)
        for (int pi = 0; pi < 3; pi++) {
            if (!use_path(paths[pi])) continue;
            CHECK(jaclip_score_normsim(&vi, &vg, pinf ? INFINITY : 2.0, pool, out, NULL) == JACLIP_OK, "normsim");
            worst = 0;
            for (int i = 0; i < n; i++) {
                double mx = 0, ss = 0, a = 0;
                for (int k = 0; k < d; k++) a += (double)I[i * d + k] * I[i * d + k];
                for (int t = 0; t < m; t++) {
                    double g = 0, s = 0;
                    for (int k = 0; k < d; k++) g += (double)T[t * d + k] * T[t * d + k];
                    for (int k = 0; k < d; k++) s += (double)I[i * d + k] * T[t * d + k];
                    s = fabs(s / sqrt(a * g));
                    mx = fmax(mx, s);
                    ss += s * s;
                }
                worst = fmax(worst, fabs(out[i] - (pinf ? mx : sqrt(ss))));
            }
            CHECK(worst < 2e-5, "%s normsim p=%s: max diff %g", paths[pi], pinf ? "inf" : "2", worst);
        }
    unsetenv("JACLIP_SIMD");
    free(Ih);
    free(Th);
    free(I);
    free(T);
    free(out);
    free(o2);
    free(ref);
}

/* tau = 0.01 and perfectly matched pairs (I = T): cos = 1 on the diagonal, e^100 per term */
static void test_matched(jaclip_pool *pool)
{
    int n = 500, d = 16;
    float *I = malloc(sizeof(float) * n * d), *out = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (int i = 0; i < n * d; i++) I[i] = nrand();
    jaclip_emb_view v = view(I, n, d, "I");
    negclip_brute(I, I, n, d, 200, 2, 0.01, 9, ref);
    for (int pi = 0; pi < 3; pi++) {
        if (!use_path(paths[pi])) continue;
        jaclip_negclip_params p = jaclip_negclip_default_params();
        p.batch = 200;
        p.repeats = 2;
        p.seed = 9;
        p.pool = pool;
        CHECK(jaclip_score_negclip(&v, &v, &p, out, NULL) == JACLIP_OK, "run");
        int finite = 1;
        double worst = 0;
        for (int i = 0; i < n; i++) {
            finite &= isfinite(out[i]);
            worst = fmax(worst, fabs(out[i] - ref[i]));
        }
        CHECK(finite && worst < 1e-5, "%s: matched pairs at tau=0.01: finite %d, max diff %g", paths[pi], finite, worst);
    }
    unsetenv("JACLIP_SIMD");
    free(I);
    free(out);
    free(ref);
}

static void test_batching(void)
{
    const int64_t ns[4] = {5, 1000, 4099, 100003};
    for (int t = 0; t < 4; t++) {
        int64_t n = ns[t];
        for (int rep = 0; rep < 2; rep++) {
            jc_perm pm;
            jc_perm_init(&pm, (uint64_t)n, 7, rep);
            uint8_t *seen = calloc((size_t)n, 1);
            int ok = 1;
            for (int64_t q = 0; q < n; q++) {
                uint64_t v = jc_perm_apply(&pm, (uint64_t)q);
                if (v >= (uint64_t)n || seen[v]) ok = 0;
                else seen[v] = 1;
            }
            CHECK(ok, "permutation of %lld is not a bijection", (long long)n);
            free(seen);
        }
        int64_t B = 4096, nb = (n + B - 1) / B, mn = INT64_MAX, mx = 0;
        for (int64_t k = 0; k < nb; k++) {
            int64_t sz = jc_batch_start(n, nb, k + 1) - jc_batch_start(n, nb, k);
            mn = sz < mn ? sz : mn;
            mx = sz > mx ? sz : mx;
        }
        CHECK(mx - mn <= 1 && mx <= B, "n=%lld: batch sizes %lld..%lld", (long long)n, (long long)mn, (long long)mx);
    }
    /* different repetitions give different batchings */
    int32_t a[1000], b[1000];
    jaclip_negclip_assignment(1000, 100, 3, 0, a, NULL);
    jaclip_negclip_assignment(1000, 100, 3, 1, b, NULL);
    CHECK(memcmp(a, b, sizeof a) != 0, "repetitions share a batching");
}

static void test_errors(void)
{
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, y[12];
    memcpy(y, x, sizeof y);
    jaclip_err err = {0};
    float out[6];
    jaclip_emb_view a = view(x, 4, 3, "img.npy"), b = view(y, 3, 3, "txt.npy");
    CHECK(jaclip_score_negclip(&a, &b, NULL, out, &err) == JACLIP_ERR_MISMATCH && strstr(err.msg, "txt.npy"),
          "different N: %s", err.msg);
    a = view(x, 3, 4, "img.npy"); /* 3 rows of 4 against 3 rows of 3 */
    b = view(y, 3, 3, "txt.npy");
    CHECK(jaclip_score_negclip(&a, &b, NULL, out, &err) == JACLIP_ERR_MISMATCH && strstr(err.msg, "size"),
          "different D: %s", err.msg);
    a = view(x, 4, 3, "img.npy");
    b = view(y, 4, 3, "txt.npy");
    y[7] = NAN;
    CHECK(jaclip_score_negclip(&a, &b, NULL, out, &err) == JACLIP_ERR_NUMERIC && strstr(err.msg, "txt.npy") &&
              strstr(err.msg, "row 2"),
          "NaN: %s", err.msg);
    y[7] = 8;
    x[3] = x[4] = x[5] = 0;
    CHECK(jaclip_score_clip(&a, &b, out, &err) == JACLIP_ERR_NUMERIC && strstr(err.msg, "row 1"), "zero row: %s",
          err.msg);
    x[3] = 1;
    jaclip_negclip_params p = jaclip_negclip_default_params();
    p.temperature = 0;
    CHECK(jaclip_score_negclip(&a, &b, &p, out, &err) == JACLIP_ERR_ARG, "tau 0: %s", err.msg);
    CHECK(jaclip_score_normsim(&a, &b, 3.0, NULL, out, &err) == JACLIP_ERR_ARG, "p=3: %s", err.msg);
}

static int cmp_desc(const void *pa, const void *pb, void *s)
{
    const float *v = s;
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    if (v[a] != v[b]) return v[a] > v[b] ? -1 : 1;
    return (a > b) - (a < b);
}

static void test_filter(void)
{
    int64_t n = 20000;
    float *s = malloc(sizeof(float) * n), *s2 = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) {
        s[i] = (float)(floor(nrand() * 50) / 50); /* many ties */
        s2[i] = nrand();
    }
    s[3] = -0.0f;
    s[4] = 0.0f;
    CHECK(jc_score_key(-1.0f) < jc_score_key(-0.5f) && jc_score_key(-0.0f) < jc_score_key(0.0f) &&
              jc_score_key(0.5f) < jc_score_key(2.0f),
          "key order");
    uint8_t *keep = malloc((size_t)n);
    int64_t *order = malloc(sizeof(int64_t) * n);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_desc, s);
    const double fr[4] = {0.3, 0.0, 1.0, 0.123};
    for (int t = 0; t < 4; t++) {
        jaclip_filter_params p = jaclip_filter_default_params();
        p.keep_fraction = fr[t];
        int64_t kept;
        CHECK(jaclip_filter_select(s, n, &p, keep, &kept, NULL) == JACLIP_OK, "select");
        int64_t k = (int64_t)((double)n * fr[t]);
        int ok = kept == k;
        for (int64_t r = 0; r < n; r++) ok &= keep[order[r]] == (r < k);
        CHECK(ok, "top %g differs from a stable sort (kept %lld, want %lld)", fr[t], (long long)kept, (long long)k);
    }
    jaclip_filter_params p = jaclip_filter_default_params();
    p.threshold = 0.5;
    int64_t kept, want = 0;
    CHECK(jaclip_filter_select(s, n, &p, keep, &kept, NULL) == JACLIP_OK, "threshold");
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        ok &= keep[i] == (s[i] >= 0.5f);
        want += s[i] >= 0.5f;
    }
    CHECK(ok && kept == want, "threshold selection");
    /* two stages: top 30% by s, then of those the top int(0.2 n) by s2 */
    p = jaclip_filter_default_params();
    p.keep_fraction = 0.3;
    p.second = s2;
    p.second_fraction = 0.2;
    CHECK(jaclip_filter_select(s, n, &p, keep, &kept, NULL) == JACLIP_OK, "two-stage");
    int64_t k1 = (int64_t)(n * 0.3), k2 = (int64_t)(n * 0.2), m = 0;
    int64_t *surv = malloc(sizeof(int64_t) * k1);
    for (int64_t r = 0; r < k1; r++) surv[m++] = order[r];
    qsort_r(surv, (size_t)m, sizeof *surv, cmp_desc, s2);
    uint8_t *want_keep = calloc((size_t)n, 1);
    for (int64_t r = 0; r < k2; r++) want_keep[surv[r]] = 1;
    CHECK(kept == k2 && memcmp(keep, want_keep, (size_t)n) == 0, "two-stage selection differs (kept %lld)",
          (long long)kept);
    /* second fraction >= first: the NormSim stage is skipped */
    p.second_fraction = 0.3;
    CHECK(jaclip_filter_select(s, n, &p, keep, &kept, NULL) == JACLIP_OK && kept == k1, "f2 == f skips stage 2");
    s[17] = NAN;
    jaclip_err err = {0};
    CHECK(jaclip_filter_select(s, n, &p, keep, &kept, &err) == JACLIP_ERR_NUMERIC && strstr(err.msg, "17"),
          "NaN score: %s", err.msg);
    free(s);
    free(s2);
    free(keep);
    free(order);
    free(surv);
    free(want_keep);
}

int main(void)
{
    jaclip_pool *pool = NULL;
    REQUIRE(jaclip_pool_create(2, &pool, NULL) == JACLIP_OK, "pool");
    test_closed_forms(pool);
    test_against_brute(pool);
    test_matched(pool);
    test_batching();
    test_errors();
    test_filter();
    jaclip_pool_free(pool);
    return test_done();
}
