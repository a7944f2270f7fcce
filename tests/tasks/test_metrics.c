/*
 * test_metrics.c — zero-shot and retrieval metrics (src/tasks/metrics.c).
 *
 * 1. Hand-built cases whose answers are worked out in the comments: several captions per
 *    image, ties under both tie rules, acc5 with < 5 classes, a class absent from targets.
 * 2. Random tie-free features against tools/ref/eval_metrics.py (torch.topk counting as in
 *    CLIP_benchmark), single- and multi-threaded, every SIMD level this CPU has.
 * 3. Bad input: out-of-range targets and image ids, an image without captions, NaN.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tasks/index.h"
#include "tasks/metrics.h"
#include "testutil.h"

static bool near(double a, double b) { return fabs(a - b) < 1e-9 || (isnan(a) && isnan(b)); }

static void hand_retrieval(void)
{
    /* Images: I0=(1,0,0) I1=(0,1,0) I2=(0,0,1). Captions (image):
     *   t0 (I0) = (1,0,0)     scores (1, 0, 0)      gold 1   ahead 0
     *   t1 (I0) = (0,1,0)     scores (0, 1, 0)      gold 0   ahead: I1 (1>0), I2 (0=0 tie) -> 2 gold-last, 1 gold-first
     *   t2 (I1) = (.6,.8,0)   scores (.6, .8, 0)    gold .8  ahead 0
     *   t3 (I2) = (.8,0,.6)   scores (.8, 0, .6)    gold .6  ahead 1 (I0)
     *   t4 (I2) = (0,.6,.8)   scores (0, .6, .8)    gold .8  ahead 0
     * text->image: R@1 = {t0,t2,t4} = 3/5; R@2 = 4/5 (gold-last; t1 misses), 5/5 (gold-first); R@3 = 1.
     * image->text (best own caption; other captions scoring >= it):
     *   I0 best 1 (t0); others t2 .6, t3 .8, t4 0 -> 0 ahead
     *   I1 best .8 (t2); others t0 0, t1 1, t3 0, t4 .6 -> 1 ahead
     *   I2 best .8 (t4); others t0 0, t1 0, t2 0 -> 0 ahead
     * R@1 = 2/3, R@2 = 1, R@3 = 1. */
    float img[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    float txt[15] = {1, 0, 0, 0, 1, 0, .6f, .8f, 0, .8f, 0, .6f, 0, .6f, .8f};
    int64_t ti[5] = {0, 0, 1, 2, 2};
    int ks[3] = {1, 2, 3};
    jc_retrieval_metrics m;
    jaclip_err err = {0};
    CHECK(jc_retrieval_metrics_compute(img, 3, txt, 5, 3, ti, ks, 3, JC_TIES_GOLD_LAST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 0.6) && near(m.t2i[1], 0.8) && near(m.t2i[2], 1.0), "t2i gold-last %g %g %g", m.t2i[0], m.t2i[1], m.t2i[2]);
    CHECK(near(m.i2t[0], 2.0 / 3) && near(m.i2t[1], 1.0) && near(m.i2t[2], 1.0), "i2t %g %g %g", m.i2t[0], m.i2t[1], m.i2t[2]);
    CHECK(m.n_images == 3 && m.n_texts == 5 && m.k[1] == 2, "counts");
    CHECK(jc_retrieval_metrics_compute(img, 3, txt, 5, 3, ti, ks, 3, JC_TIES_GOLD_FIRST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 0.6) && near(m.t2i[1], 1.0), "t2i gold-first %g %g", m.t2i[0], m.t2i[1]);
    CHECK(near(m.i2t[0], 2.0 / 3), "i2t gold-first %g", m.i2t[0]);

    /* Pure ties: two identical images, each with one identical caption. Every gold item ties
     * with one competitor: gold-last gives R@1 = 0 and R@2 = 1, gold-first R@1 = 1. */
    float img2[4] = {1, 0, 1, 0}, txt2[4] = {1, 0, 1, 0};
    int64_t ti2[2] = {0, 1};
    CHECK(jc_retrieval_metrics_compute(img2, 2, txt2, 2, 2, ti2, ks, 2, JC_TIES_GOLD_LAST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 0) && near(m.i2t[0], 0) && near(m.t2i[1], 1) && near(m.i2t[1], 1), "ties gold-last %g %g", m.t2i[0], m.i2t[0]);
    CHECK(jc_retrieval_metrics_compute(img2, 2, txt2, 2, 2, ti2, ks, 2, JC_TIES_GOLD_FIRST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 1) && near(m.i2t[0], 1), "ties gold-first %g %g", m.t2i[0], m.i2t[0]);

    /* Ties among an image's own captions do not matter: I0 has two identical captions that
     * both score 1; one other caption scores .5 -> I0 R@1 = 1. I1=(0,1) has caption (0.6,0.8):
     * I1 scores it .8 and the two I0 captions 0 -> R@1 hit. text->image: t0,t1 hit (1 vs 0);
     * t2: I1 .8 vs I0 .6 -> hit. All 1. */
    float img3[4] = {1, 0, 0, 1}, txt3[6] = {1, 0, 1, 0, .6f, .8f};
    int64_t ti3[3] = {0, 0, 1};
    CHECK(jc_retrieval_metrics_compute(img3, 2, txt3, 3, 2, ti3, ks, 1, JC_TIES_GOLD_LAST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 1) && near(m.i2t[0], 1), "own-caption ties %g %g", m.t2i[0], m.i2t[0]);

    /* K beyond the candidate count is capped (always a hit). */
    int bigk[1] = {10};
    CHECK(jc_retrieval_metrics_compute(img, 3, txt, 5, 3, ti, bigk, 1, JC_TIES_GOLD_LAST, NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(m.t2i[0], 1) && near(m.i2t[0], 1), "K capped");

    /* bad input */
    int64_t bad[5] = {0, 0, 1, 2, 3};
    CHECK(jc_retrieval_metrics_compute(img, 3, txt, 5, 3, bad, ks, 1, 0, NULL, NULL, &m, &err) == JACLIP_ERR_ARG &&
              strstr(err.msg, "caption 4") && strstr(err.msg, "image 3"), "bad image id: %s", err.msg);
    int64_t nocap[5] = {0, 0, 0, 2, 2};
    CHECK(jc_retrieval_metrics_compute(img, 3, txt, 5, 3, nocap, ks, 1, 0, NULL, NULL, &m, &err) == JACLIP_ERR_ARG &&
              strstr(err.msg, "image 1 has no caption"), "no caption: %s", err.msg);
    float nanimg[9];
    memcpy(nanimg, img, sizeof img);
    nanimg[4] = NAN;
    CHECK(jc_retrieval_metrics_compute(nanimg, 3, txt, 5, 3, ti, ks, 1, 0, NULL, NULL, &m, &err) == JACLIP_ERR_NUMERIC &&
              strstr(err.msg, "image 1"), "nan: %s", err.msg);
}

static void hand_zeroshot(void)
{
    /* 3 classes, 4 samples:
     *   s0 target 0 logits (3,1,2)  -> top1 ok
     *   s1 target 0 logits (1,3,2)  -> 2 ahead: miss
     *   s2 target 1 logits (2,2,0)  -> tie with class 0: gold-last miss, gold-first hit
     *   s3 target 1 logits (0,5,1)  -> ok
     * acc1 = 2/4 (gold-last); class recall: c0 1/2, c1 1/2, c2 absent -> mean 0.5.
     * gold-first: acc1 3/4, recall c0 1/2, c1 2/2 -> 0.75. acc5 NaN (3 classes). */
    float lg[12] = {3, 1, 2, 1, 3, 2, 2, 2, 0, 0, 5, 1};
    int32_t tg[4] = {0, 0, 1, 1};
    jc_zeroshot_metrics z;
    jaclip_err err = {0};
    CHECK(jc_zeroshot_metrics_compute(lg, 4, 3, tg, JC_TIES_GOLD_LAST, &z, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(z.acc1, 0.5) && isnan(z.acc5) && near(z.mean_per_class_recall, 0.5), "zs %g %g %g", z.acc1, z.acc5, z.mean_per_class_recall);
    CHECK(jc_zeroshot_metrics_compute(lg, 4, 3, tg, JC_TIES_GOLD_FIRST, &z, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(z.acc1, 0.75) && near(z.mean_per_class_recall, 0.75), "zs gold-first %g %g", z.acc1, z.mean_per_class_recall);

    /* 6 classes: target 5 ranked 5th (4 ahead) -> acc5 hit; ranked 6th -> miss.
     * s0 (6,5,4,3,1,2) target 5: ahead 6,5,4,3 = 4 -> top5 hit, top1 miss
     * s1 (6,5,4,3,2,1) target 5: ahead 5 -> miss
     * s2 (0,0,0,0,0,1) target 5: top1 hit. acc1 1/3, acc5 2/3, recall c5 = 1/3. */
    float l6[18] = {6, 5, 4, 3, 1, 2, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 1};
    int32_t t6[3] = {5, 5, 5};
    CHECK(jc_zeroshot_metrics_compute(l6, 3, 6, t6, JC_TIES_GOLD_LAST, &z, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(near(z.acc1, 1.0 / 3) && near(z.acc5, 2.0 / 3) && near(z.mean_per_class_recall, 1.0 / 3), "zs6 %g %g %g", z.acc1, z.acc5, z.mean_per_class_recall);

    int32_t badt[4] = {0, 0, 3, 1};
    CHECK(jc_zeroshot_metrics_compute(lg, 4, 3, badt, 0, &z, &err) == JACLIP_ERR_ARG && strstr(err.msg, "sample 2"), "bad target: %s", err.msg);
}

static void fill_random(float *x, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        x[i] = (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

static cJSON *run_ref(const char *out_path, const char *fmt_args)
{
    if (test_system("/usr/bin/python3 tools/ref/eval_metrics.py %s > %s", fmt_args, out_path) != 0) return NULL;
    char *text = NULL;
    size_t len;
    if (jc_read_file(out_path, 1 << 20, &text, &len, NULL)) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static double jnum(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int against_reference(void)
{
    const char *dir = test_tmpdir();
    enum { NI = 300, CAP = 3, NT = NI * CAP, D = 32 }; /* NI > one 256-image tile */
    float *img = malloc(sizeof(float) * NI * D), *txt = malloc(sizeof(float) * NT * D);
    int64_t *ti = malloc(sizeof(int64_t) * NT);
    unsigned seed = 7;
    fill_random(img, (size_t)NI * D, &seed);
    fill_random(txt, (size_t)NT * D, &seed);
    /* captions near their image so that recall is neither 0 nor 1 */
    for (int t = 0; t < NT; t++) {
        ti[t] = (t * 7919) % NI; /* scattered, CAP captions each */
        for (int d = 0; d < D; d++) txt[t * D + d] += 0.35f * img[ti[t] * D + d];
    }
    for (int i = 0; i < NI; i++) jc_normalize_row(img + i * D, D);
    for (int t = 0; t < NT; t++) jc_normalize_row(txt + t * D, D);
    char a[512], b[512], c[512], o[512], args[2048];
    snprintf(a, sizeof a, "%s/img.npy", dir);
    snprintf(b, sizeof b, "%s/txt.npy", dir);
    snprintf(c, sizeof c, "%s/ti.npy", dir);
    snprintf(o, sizeof o, "%s/ref.json", dir);
    int64_t s1[2] = {NI, D}, s2[2] = {NT, D}, s3[1] = {NT};
    jaclip_err err = {0};
    REQUIRE(!jc_npy_write(a, "<f4", s1, 2, img, &err) && !jc_npy_write(b, "<f4", s2, 2, txt, &err) &&
                !jc_npy_write(c, "<i8", s3, 1, ti, &err), "%s", err.msg);
    snprintf(args, sizeof args, "retrieval %s %s %s 1 5 10", a, b, c);
    cJSON *ref = run_ref(o, args);
    REQUIRE(ref, "reference script failed");
    int ks[3] = {1, 5, 10};
    jaclip_pool *pool = NULL;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "%s", err.msg);
    for (int lvl = 0; lvl <= 2; lvl++) {
        if (!jc_simd_supported((jc_simd)lvl)) continue;
        setenv("JACLIP_SIMD", jc_simd_name((jc_simd)lvl), 1);
        for (int th = 0; th < 2; th++) {
            jc_retrieval_metrics m;
            CHECK(jc_retrieval_metrics_compute(img, NI, txt, NT, D, ti, ks, 3, JC_TIES_GOLD_LAST, th ? pool : NULL, NULL, &m, &err) == JACLIP_OK, "%s", err.msg);
            for (int q = 0; q < 3; q++) {
                char k1[64], k2[64];
                snprintf(k1, sizeof k1, "image_retrieval_recall@%d", ks[q]);
                snprintf(k2, sizeof k2, "text_retrieval_recall@%d", ks[q]);
                CHECK(fabs(m.t2i[q] - jnum(ref, k1)) < 1e-6, "%s %s threads=%d: %g vs ref %g", jc_simd_name((jc_simd)lvl), k1, th + 1, m.t2i[q], jnum(ref, k1));
                CHECK(fabs(m.i2t[q] - jnum(ref, k2)) < 1e-6, "%s %s threads=%d: %g vs ref %g", jc_simd_name((jc_simd)lvl), k2, th + 1, m.i2t[q], jnum(ref, k2));
            }
            if (lvl == 0 && th == 0) CHECK(m.t2i[0] > 0.05 && m.t2i[0] < 0.95 && m.i2t[0] > 0.05 && m.i2t[0] < 0.95, "non-trivial recall %g %g", m.t2i[0], m.i2t[0]);
        }
    }
    unsetenv("JACLIP_SIMD");
    cJSON_Delete(ref);

    /* zero-shot logits against the reference */
    enum { N = 400, C = 12 };
    float *lg = malloc(sizeof(float) * N * C);
    int32_t *tg = malloc(sizeof(int32_t) * N);
    fill_random(lg, (size_t)N * C, &seed);
    for (int i = 0; i < N; i++) {
        tg[i] = (i * 5) % (C - 1); /* class C-1 never occurs: excluded from the recall mean */
        lg[i * C + tg[i]] += 0.3f;
    }
    int64_t sl[2] = {N, C}, st[1] = {N};
    snprintf(a, sizeof a, "%s/logits.npy", dir);
    snprintf(b, sizeof b, "%s/targets.npy", dir);
    REQUIRE(!jc_npy_write(a, "<f4", sl, 2, lg, &err) && !jc_npy_write(b, "<i4", st, 1, tg, &err), "%s", err.msg);
    snprintf(args, sizeof args, "logits %s %s", a, b);
    ref = run_ref(o, args);
    REQUIRE(ref, "reference script failed");
    jc_zeroshot_metrics z;
    CHECK(jc_zeroshot_metrics_compute(lg, N, C, tg, JC_TIES_GOLD_LAST, &z, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(fabs(z.acc1 - jnum(ref, "acc1")) < 1e-6, "acc1 %g vs %g", z.acc1, jnum(ref, "acc1"));
    CHECK(fabs(z.acc5 - jnum(ref, "acc5")) < 1e-6, "acc5 %g vs %g", z.acc5, jnum(ref, "acc5"));
    CHECK(fabs(z.mean_per_class_recall - jnum(ref, "mean_per_class_recall")) < 1e-6, "mpcr %g vs %g", z.mean_per_class_recall,
          jnum(ref, "mean_per_class_recall"));
    CHECK(z.acc1 > 0.1 && z.acc1 < 0.9, "non-trivial acc1 %g", z.acc1);
    cJSON_Delete(ref);
    jaclip_pool_free(pool);
    free(img);
    free(txt);
    free(ti);
    free(lg);
    free(tg);
    return 0;
}

int main(void)
{
    hand_retrieval();
    hand_zeroshot();
    if (against_reference()) return 1;
    return test_done();
}
