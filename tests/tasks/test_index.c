/*
 * test_index.c — the search index (src/tasks/index.c): SIMD kernels against a double
 * reference at every level this CPU has (odd dims included), exact top-k against brute
 * force across several appended segments, single- and multi-threaded, tie order, int8
 * recall, failed appends leaving the index unchanged, and clear errors on damaged files.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks/index.h"
#include "testutil.h"

static unsigned seed = 12345;
static float frand(void)
{
    seed = seed * 1103515245u + 12345u;
    return (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void kernels(void)
{
    int dims[] = {1, 7, 13, 16, 37, 64, 256, 259};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int d = dims[di], n = 9;
        float *q = malloc(sizeof(float) * d), *r = malloc(sizeof(float) * d * n), *o = malloc(sizeof(float) * n);
        int8_t *r8 = malloc((size_t)d * n);
        float *sc = malloc(sizeof(float) * n), *o1 = malloc(sizeof(float) * n);
        for (int i = 0; i < d; i++) q[i] = frand();
        for (int i = 0; i < d * n; i++) r[i] = frand();
        for (int i = 0; i < n; i++) jc_quantize_row_i8(r + i * d, d, r8 + i * d, &sc[i]);
        for (int lvl = 0; lvl <= 2; lvl++) {
            if (!jc_simd_supported((jc_simd)lvl)) continue;
            jc_dot_rows_f32((jc_simd)lvl, q, r, n, d, o);
            for (int i = 0; i < n; i++) {
                double ref = 0, ref8 = 0;
                for (int k = 0; k < d; k++) {
                    ref += (double)q[k] * r[i * d + k];
                    ref8 += (double)q[k] * r8[i * d + k];
                }
                ref8 *= sc[i];
                CHECK(fabs(o[i] - ref) < 1e-4 * (1 + sqrt(d)), "%s f32 dim %d row %d: %g vs %g", jc_simd_name((jc_simd)lvl), d, i, o[i], ref);
                jc_dot_rows_f32((jc_simd)lvl, q, r + i * d, 1, d, o1);
                CHECK(o1[0] == o[i], "%s: a row alone must give the bit-identical score", jc_simd_name((jc_simd)lvl));
                /* int8 rows approximate the float rows within half a quantisation step per element */
                double bound = 0;
                for (int k = 0; k < d; k++) bound += fabs(q[k]) * sc[i] * 0.5;
                CHECK(fabs(ref8 - ref) <= bound + 1e-5, "quantisation error %g > %g", fabs(ref8 - ref), bound);
            }
            uint16_t *h = malloc(sizeof(uint16_t) * d * n);
            for (int i = 0; i < d * n; i++) h[i] = jc_f32_to_f16(r[i]);
            jc_dot_rows_f16((jc_simd)lvl, q, h, n, d, o);
            for (int i = 0; i < n; i++) {
                double ref16 = 0;
                for (int k = 0; k < d; k++) ref16 += (double)q[k] * jc_f16_to_f32(h[i * d + k]);
                CHECK(fabs(o[i] - ref16) < 1e-4 * (1 + sqrt(d)), "%s f16 dim %d row %d: %g vs %g", jc_simd_name((jc_simd)lvl), d, i, o[i], ref16);
            }
            jc_dot_rows_f16((jc_simd)lvl, q, h + d, 1, d, o1);
            jc_dot_rows_f16((jc_simd)lvl, q, h, n, d, o);
            CHECK(o1[0] == o[1], "%s f16: a row alone gives the bit-identical score", jc_simd_name((jc_simd)lvl));
            free(h);
            jc_dot_rows_i8((jc_simd)lvl, q, r8, sc, n, d, o);
            for (int i = 0; i < n; i++) {
                double ref8 = 0;
                for (int k = 0; k < d; k++) ref8 += (double)q[k] * r8[i * d + k];
                ref8 *= sc[i];
                CHECK(fabs(o[i] - ref8) < 1e-4 * (1 + sqrt(d)), "%s i8 dim %d row %d: %g vs %g", jc_simd_name((jc_simd)lvl), d, i, o[i], ref8);
            }
        }
        free(q), free(r), free(o), free(r8), free(sc), free(o1);
    }
    printf("kernels checked at: scalar%s%s\n", jc_simd_supported(JC_SIMD_AVX2) ? " avx2" : "",
           jc_simd_supported(JC_SIMD_AVX512) ? " avx512" : " (no avx512 on this CPU)");
}

static char **make_keys(int n, int base)
{
    char **k = malloc(sizeof(char *) * n);
    for (int i = 0; i < n; i++) {
        k[i] = malloc(32);
        snprintf(k[i], 32, "img/%06d.jpg", base + i);
    }
    return k;
}

static void free_keys(char **k, int n)
{
    for (int i = 0; i < n; i++) free(k[i]);
    free(k);
}

/* brute-force top-k in double over normalised rows; returns the k-th score */
static void brute_topk(const float *all, int n, int d, const float *q, int k, int64_t *rows, double *scores)
{
    double qn = 0;
    for (int j = 0; j < d; j++) qn += (double)q[j] * q[j];
    qn = sqrt(qn);
    double *s = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        double dot = 0, rn = 0;
        for (int j = 0; j < d; j++) {
            dot += (double)q[j] * all[i * d + j];
            rn += (double)all[i * d + j] * all[i * d + j];
        }
        s[i] = dot / (qn * sqrt(rn));
    }
    for (int t = 0; t < k; t++) {
        int b = -1;
        for (int i = 0; i < n; i++) {
            bool used = false;
            for (int u = 0; u < t; u++) used |= rows[u] == i;
            if (!used && (b < 0 || s[i] > s[b])) b = i;
        }
        rows[t] = b;
        scores[t] = s[b];
    }
    free(s);
}

static int search_exact(void)
{
    const char *tmp = test_tmpdir();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/f32.idx", tmp);
    enum { D = 48, N1 = 5000, N2 = 3, N3 = 4200, N = N1 + N2 + N3, K = 10 };
    float *all = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) all[i] = frand();
    jaclip_err err = {0};
    REQUIRE(jc_index_create(dir, D, JC_INDEX_F32, "model-x", &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_create(dir, D, JC_INDEX_F32, "model-x", &err) == JACLIP_ERR_ARG && strstr(err.msg, "already"), "recreate: %s", err.msg);
    char **k1 = make_keys(N1, 0), **k2 = make_keys(N2, N1), **k3 = make_keys(N3, N1 + N2);
    CHECK(jc_index_append(dir, all, N1, D, (const char *const *)k1, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_append(dir, all + N1 * D, N2, D, (const char *const *)k2, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_append(dir, all + (N1 + N2) * D, N3, D, (const char *const *)k3, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_append(dir, all, 1, D + 1, (const char *const *)k1, &err) == JACLIP_ERR_MISMATCH, "dim mismatch: %s", err.msg);

    jc_index *ix;
    REQUIRE(jc_index_open(dir, &ix, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_count(ix) == N && jc_index_dim(ix) == D && !strcmp(jc_index_model(ix), "model-x"), "meta");
    size_t len;
    const char *key = jc_index_key(ix, N1 + 1, &len);
    CHECK(len == 14 && !memcmp(key, "img/005001.jpg", 14), "key lookup across segments: %.*s", (int)len, key);
    jaclip_pool *pool;
    REQUIRE(jaclip_pool_create(3, &pool, &err) == JACLIP_OK, "%s", err.msg);
    int mismatches = 0;
    for (int qi = 0; qi < 12; qi++) {
        float q[D];
        for (int j = 0; j < D; j++) q[j] = frand() * 5; /* any norm */
        int64_t rows[K];
        double sc[K];
        brute_topk(all, N, D, q, K, rows, sc);
        for (int th = 0; th < 2; th++) {
            jc_hit hits[K];
            int nh;
            CHECK(jc_index_search(ix, q, K, th ? pool : NULL, hits, &nh, &err) == JACLIP_OK, "%s", err.msg);
            CHECK(nh == K, "n hits %d", nh);
            for (int t = 0; t < nh; t++) {
                CHECK(fabs(hits[t].score - sc[t]) < 1e-5, "q%d rank %d score %g vs brute %g", qi, t, hits[t].score, sc[t]);
                if (hits[t].row != rows[t] && fabs(sc[t] - (t + 1 < K ? sc[t + 1] : -2)) > 1e-5 && (t == 0 || fabs(sc[t] - sc[t - 1]) > 1e-5))
                    mismatches++;
                if (t) CHECK(hits[t].score <= hits[t - 1].score, "ordered");
            }
        }
    }
    CHECK(mismatches == 0, "%d result rows differ from brute force", mismatches);
    /* a query equal to a stored row finds it first with score ~1 */
    jc_hit h[3];
    int nh;
    CHECK(jc_index_search(ix, all + 6000 * D, 3, pool, h, &nh, &err) == JACLIP_OK && h[0].row == 6000 && fabs(h[0].score - 1) < 1e-5,
          "self query: row %lld score %g", (long long)h[0].row, h[0].score);
    /* k larger than the index */
    jc_hit *big = malloc(sizeof(jc_hit) * (N + 5));
    CHECK(jc_index_search(ix, all, N + 5, pool, big, &nh, &err) == JACLIP_OK && nh == N, "k > count gives count (%d)", nh);
    free(big);
    float nanq[D] = {0};
    nanq[3] = NAN;
    CHECK(jc_index_search(ix, nanq, 3, pool, h, &nh, &err) == JACLIP_ERR_NUMERIC, "NaN query: %s", err.msg);
    CHECK(jc_index_search(ix, all, 0, pool, h, &nh, &err) == JACLIP_ERR_ARG, "k=0: %s", err.msg);

    /* key sets */
    jc_keyset *ks;
    CHECK(jc_index_keyset(ix, &ks, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_keyset_has(ks, "img/009202.jpg", 14) && jc_keyset_has(ks, "img/000000.jpg", 14) && !jc_keyset_has(ks, "img/009203.jpg", 14),
          "keyset membership");
    jc_keyset_free(ks);
    jc_index_close(ix);

    /* a failed append (a key with a line break) leaves the index as it was, with no stray files */
    char *bad[2] = {"ok.jpg", "bad\nkey.jpg"};
    CHECK(jc_index_append(dir, all, 2, D, (const char *const *)bad, &err) == JACLIP_ERR_ARG && strstr(err.msg, "line break"), "bad key: %s", err.msg);
    float nanrow[2 * D];
    memcpy(nanrow, all, sizeof nanrow);
    nanrow[D + 5] = INFINITY;
    char *good[2] = {"a.jpg", "b.jpg"};
    CHECK(jc_index_append(dir, nanrow, 2, D, (const char *const *)good, &err) == JACLIP_ERR_NUMERIC && strstr(err.msg, "b.jpg"), "inf row: %s", err.msg);
    REQUIRE(jc_index_open(dir, &ix, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_count(ix) == N, "count unchanged after failed appends");
    jc_index_close(ix);
    int files = 0;
    DIR *dd = opendir(dir);
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (e->d_name[0] != '.') files++;
    if (dd) closedir(dd);
    CHECK(files == 1 + 3 * 3, "files in index dir: %d (expected index.json + 3 segments x 3 files)", files);

    /* damaged files: named in the error */
    char p[600], cmd[2048];
    snprintf(p, sizeof p, "%s/seg-000001.npy", dir);
    snprintf(cmd, sizeof cmd, "cp %s %s.bak && truncate -s 100 %s", p, p, p);
    REQUIRE(test_system("%s", cmd) == 0, "truncate");
    CHECK(jc_index_open(dir, &ix, &err) != JACLIP_OK && strstr(err.msg, "seg-000001.npy"), "truncated segment: %s", err.msg);
    test_system("mv %s.bak %s", p, p);
    snprintf(p, sizeof p, "%s/seg-000002.keys", dir);
    test_system("cp %s %s.bak && printf 'x' >> %s", p, p, p);
    CHECK(jc_index_open(dir, &ix, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "seg-000002.keys"), "keys damaged: %s", err.msg);
    test_system("mv %s.bak %s", p, p);
    snprintf(p, sizeof p, "%s/index.json", dir);
    test_system("cp %s %s.bak && echo '{\"format\":\"other\"}' > %s", p, p, p);
    CHECK(jc_index_open(dir, &ix, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "index.json"), "bad meta: %s", err.msg);
    test_system("mv %s.bak %s", p, p);
    snprintf(p, sizeof p, "%s/nothing-here", tmp);
    CHECK(jc_index_open(p, &ix, &err) == JACLIP_ERR_IO && strstr(err.msg, "index.json missing"), "no index: %s", err.msg);
    REQUIRE(jc_index_open(dir, &ix, &err) == JACLIP_OK, "restored: %s", err.msg);
    jc_index_close(ix);

    jaclip_pool_free(pool);
    free_keys(k1, N1), free_keys(k2, N2), free_keys(k3, N3);
    free(all);
    return 0;
}

static int ties_and_int8(void)
{
    const char *tmp = test_tmpdir();
    char dir[512];
    jaclip_err err = {0};
    /* ties: identical rows come back in row order */
    snprintf(dir, sizeof dir, "%s/ties.idx", tmp);
    REQUIRE(jc_index_create(dir, 4, JC_INDEX_F32, NULL, &err) == JACLIP_OK, "%s", err.msg);
    float rows[6 * 4] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0};
    char **keys = make_keys(6, 0);
    REQUIRE(jc_index_append(dir, rows, 6, 4, (const char *const *)keys, &err) == JACLIP_OK, "%s", err.msg);
    jc_index *ix;
    REQUIRE(jc_index_open(dir, &ix, &err) == JACLIP_OK, "%s", err.msg);
    float q[4] = {2, 0, 0, 0};
    jc_hit h[4];
    int nh;
    CHECK(jc_index_search(ix, q, 4, NULL, h, &nh, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(nh == 4 && h[0].row == 1 && h[1].row == 3 && h[2].row == 5 && h[3].row == 0 && h[0].score == 1.0f,
          "tie order %lld %lld %lld %lld", (long long)h[0].row, (long long)h[1].row, (long long)h[2].row, (long long)h[3].row);
    jc_index_close(ix);
    free_keys(keys, 6);

    /* int8: 4x smaller rows, recall@10 against exact float search */
    enum { D = 64, N = 6000, K = 10, Q = 40 };
    float *all = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) all[i] = frand();
    char f32dir[512];
    snprintf(f32dir, sizeof f32dir, "%s/r32.idx", tmp);
    snprintf(dir, sizeof dir, "%s/r8.idx", tmp);
    keys = make_keys(N, 0);
    REQUIRE(jc_index_create(f32dir, D, JC_INDEX_F32, NULL, &err) == JACLIP_OK && jc_index_create(dir, D, JC_INDEX_I8, NULL, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jc_index_append(f32dir, all, N, D, (const char *const *)keys, &err) == JACLIP_OK &&
                jc_index_append(dir, all, N, D, (const char *const *)keys, &err) == JACLIP_OK, "%s", err.msg);
    jc_index *a, *b;
    REQUIRE(jc_index_open(f32dir, &a, &err) == JACLIP_OK && jc_index_open(dir, &b, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_get_dtype(b) == JC_INDEX_I8, "dtype");
    char p[600];
    snprintf(p, sizeof p, "%s/seg-000000.npy", f32dir);
    long s32 = 0, s8 = 0;
    FILE *f = fopen(p, "rb");
    if (f) { fseek(f, 0, SEEK_END); s32 = ftell(f); fclose(f); }
    snprintf(p, sizeof p, "%s/seg-000000.npy", dir);
    f = fopen(p, "rb");
    if (f) { fseek(f, 0, SEEK_END); s8 = ftell(f); fclose(f); }
    CHECK(s8 * 4 - s32 < 400 && s8 * 4 - s32 > -400, "int8 rows are 4x smaller: %ld vs %ld", s8, s32);
    int found = 0;
    double maxerr = 0;
    for (int qi = 0; qi < Q; qi++) {
        float qq[D];
        for (int j = 0; j < D; j++) qq[j] = all[(qi * 37) * D + j] * 0.5f + frand() * 0.5f;
        jc_hit ha[K], hb[K];
        int na, nb;
        CHECK(jc_index_search(a, qq, K, NULL, ha, &na, &err) == JACLIP_OK && jc_index_search(b, qq, K, NULL, hb, &nb, &err) == JACLIP_OK, "%s", err.msg);
        for (int i = 0; i < K; i++) {
            for (int j = 0; j < K; j++) found += ha[i].row == hb[j].row;
            maxerr = fmax(maxerr, fabs(ha[i].score - hb[i].score));
        }
    }
    double recall = (double)found / (Q * K);
    printf("int8 recall@%d vs float32 (dim %d, %d rows): %.3f, max score diff %.4f\n", K, D, N, recall, maxerr);
    CHECK(recall >= 0.9, "int8 recall@10 %.3f", recall);
    CHECK(maxerr < 0.02, "int8 score error %g", maxerr);
    /* float16 rows: half the bytes, ranks almost unchanged */
    char h16dir[512];
    snprintf(h16dir, sizeof h16dir, "%s/r16.idx", tmp);
    REQUIRE(jc_index_create(h16dir, D, JC_INDEX_F16, NULL, &err) == JACLIP_OK &&
                jc_index_append(h16dir, all, N, D, (const char *const *)keys, &err) == JACLIP_OK, "%s", err.msg);
    jc_index *c16;
    REQUIRE(jc_index_open(h16dir, &c16, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_index_get_dtype(c16) == JC_INDEX_F16, "f16 dtype");
    found = 0;
    maxerr = 0;
    for (int qi = 0; qi < Q; qi++) {
        float qq[D];
        for (int j = 0; j < D; j++) qq[j] = all[(qi * 41) * D + j] * 0.5f + frand() * 0.5f;
        jc_hit ha[K], hb[K];
        int na, nb;
        CHECK(jc_index_search(a, qq, K, NULL, ha, &na, &err) == JACLIP_OK && jc_index_search(c16, qq, K, NULL, hb, &nb, &err) == JACLIP_OK, "%s", err.msg);
        for (int i = 0; i < K; i++) {
            for (int j = 0; j < K; j++) found += ha[i].row == hb[j].row;
            maxerr = fmax(maxerr, fabs(ha[i].score - hb[i].score));
        }
    }
    printf("f16 recall@%d vs float32: %.3f, max score diff %.5f\n", K, (double)found / (Q * K), maxerr);
    CHECK(found >= Q * K * 0.99, "f16 recall@10 %.3f", (double)found / (Q * K));
    CHECK(maxerr < 2e-3, "f16 score error %g", maxerr);
    jc_index_close(c16);
    jc_index_close(a);
    jc_index_close(b);
    free_keys(keys, N);
    free(all);
    return 0;
}

/* the public API of include/jaclip.h, as a library user calls it */
static int public_api(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/pub.idx", test_tmpdir());
    jaclip_err err = {0};
    float rows[3 * 2] = {1, 0, 0, 1, 0.6f, 0.8f};
    const char *keys[3] = {"x.jpg", "y.jpg", "z.jpg"};
    REQUIRE(jaclip_index_create(dir, 2, 0, NULL, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jaclip_index_append(dir, rows, 3, 2, keys, &err) == JACLIP_OK, "%s", err.msg);
    jaclip_index *ix;
    REQUIRE(jaclip_index_open(dir, &ix, &err) == JACLIP_OK, "%s", err.msg);
    float q[2] = {0, 3};
    jaclip_search_hit h[3];
    int n;
    CHECK(jaclip_index_search(ix, q, 3, NULL, h, &n, &err) == JACLIP_OK && n == 3, "%s", err.msg);
    size_t len;
    const char *k = jaclip_index_key(ix, h[0].row, &len);
    CHECK(h[0].row == 1 && len == 5 && !memcmp(k, "y.jpg", 5) && fabsf(h[1].score - 0.8f) < 1e-6 && h[2].row == 0,
          "public search order");
    CHECK(jaclip_index_count(ix) == 3 && jaclip_index_dim(ix) == 2, "count/dim");
    jaclip_index_close(ix);
    return 0;
}

int main(void)
{
    if (public_api()) return 1;
    kernels();
    if (search_exact()) return 1;
    if (ties_and_int8()) return 1;
    return test_done();
}
