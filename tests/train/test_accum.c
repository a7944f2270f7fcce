/*
 * test_accum.c — gradient accumulation gives a true large contrastive batch: on the tiny model
 * (tests/train/tiny) and 16 random image-text pairs, the loss and EVERY parameter's gradient
 * (and the temperature's) of jc_clip_step_accum over micro-batches of 8 + 8, and of 5 + 8 + 3,
 * equal those of one jc_clip_step on all 16 pairs to relative error ≤ 1e-5.
 * A negative control shows the check can fail: the old scheme (the mean of the micro-batches'
 * own losses, negatives only inside each micro-batch) misses it by far more than the tolerance.
 * Also: without backward the accumulated step leaves the gradients untouched and gives the
 * same loss, and scale multiplies the gradients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

#define NS 16

static uint64_t rng = 20261126;
static uint64_t next(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return rng >> 17;
}
static double urand(void) { return (double)(next() % 1000001) / 1000000.0 * 2 - 1; }

/* per-parameter relative error ‖a − b‖ / ‖b‖; parameters whose reference gradient is
 * mathematically zero (e.g. the text key bias: softmax ignores a per-query constant) are
 * compared against the whole gradient's norm instead. Returns the worst error. */
static double compare_grads(const jc_clip *c, const float *a, const float *b, bool print)
{
    double tot = 0, worst = 0;
    for (size_t i = 0; i < c->total; i++) tot += (double)b[i] * b[i];
    tot = sqrt(tot);
    for (int p = 0; p < c->n_params; p++) {
        const jc_param *q = &c->params[p];
        double d = 0, s = 0;
        for (size_t i = q->off; i < q->off + q->n; i++) {
            d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            s += (double)b[i] * b[i];
        }
        d = sqrt(d), s = sqrt(s);
        double rel = s > 1e-7 * tot ? d / s : d / tot;
        if (print && rel > 1e-6) printf("    %-70s |g| %.3g  rel err %.2e\n", q->name, s, rel);
        if (rel > worst || isnan(rel)) worst = isnan(rel) ? INFINITY : rel;
    }
    return worst;
}

int main(void)
{
    jaclip_err err = {0};
    jc_clyp_config cfg = {0};
    jaclip_pool *pool = NULL;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jc_config_load("tests/train/tiny", &cfg, &err) == JACLIP_OK, "%s", err.msg);
    jc_clip *c;
    REQUIRE(jc_clip_create(&cfg, "tests/train/tiny", pool, &c, &err) == JACLIP_OK, "%s", err.msg);
    jc_clip_init_random(c, 11);

    /* 16 pairs: random pixels, random texts of 2..9 tokens */
    int S = cfg.vision.img_size;
    size_t px = (size_t)3 * S * S;
    float *pixels = malloc(sizeof(float) * NS * px);
    int32_t *ids = malloc(sizeof(int32_t) * NS * 10);
    int seg[NS + 1] = {0};
    for (size_t i = 0; i < NS * px; i++) pixels[i] = (float)urand();
    for (int s = 0; s < NS; s++) {
        int L = 2 + (int)(next() % 8);
        seg[s + 1] = seg[s] + L;
        ids[seg[s]] = 2; /* [CLS]-like first token */
        for (int k = 1; k < L; k++) ids[seg[s] + k] = 4 + (int32_t)(next() % (uint64_t)(cfg.text.vocab_size - 4));
    }
    jc_batch full = {.B = NS, .pixels = pixels, .ids = ids, .seg = seg};

    size_t n = c->total;
    float *g_full = malloc(sizeof(float) * n), *g_acc = malloc(sizeof(float) * n);
    REQUIRE(pixels && ids && g_full && g_acc, "out of memory");
    size_t it = (size_t)(c->temperature - c->w);

    memset(c->g, 0, n * sizeof(float));
    jc_step_out o_full = {0};
    REQUIRE(jc_clip_step(c, &full, true, 1.0f, &o_full, &err) == JACLIP_OK, "%s", err.msg);
    memcpy(g_full, c->g, n * sizeof(float));
    printf("one batch of 16: loss %.9f, acc %.4f, d/dτ %.6g\n", o_full.loss, o_full.acc_i2t, (double)g_full[it]);
    REQUIRE(isfinite(o_full.loss) && o_full.loss > 0, "loss %g", o_full.loss);

    /* micro-batches: views into the 16 pairs, each with its own seg starting at 0 */
    const int splits[2][4] = {{8, 8, 0, 0}, {5, 8, 3, 0}};
    int segs[3][NS + 1];
    jc_batch parts[3];
    for (int v = 0; v < 2; v++) {
        const jc_batch *mb[3];
        int nm = 0, first = 0;
        for (; nm < 4 && splits[v][nm] > 0; nm++) {
            int B = splits[v][nm];
            for (int s = 0; s <= B; s++) segs[nm][s] = seg[first + s] - seg[first];
            parts[nm] = (jc_batch){.B = B, .pixels = pixels + (size_t)first * px, .ids = ids + seg[first],
                                   .seg = segs[nm]};
            mb[nm] = &parts[nm];
            first += B;
        }
        memset(c->g, 0, n * sizeof(float));
        jc_step_out o = {0};
        REQUIRE(jc_clip_step_accum(c, mb, nm, true, 1.0f, &o, &err) == JACLIP_OK, "%s", err.msg);
        memcpy(g_acc, c->g, n * sizeof(float));
        double lrel = fabs(o.loss - o_full.loss) / o_full.loss;
        double worst = compare_grads(c, g_acc, g_full, true);
        double trel = fabs((double)g_acc[it] - g_full[it]) / fabs((double)g_full[it]);
        printf("accum %s: loss %.9f (rel %.2e), acc %.4f, worst parameter gradient rel err %.2e, d/dτ rel %.2e\n",
               v == 0 ? "8+8" : "5+8+3", o.loss, lrel, o.acc_i2t, worst, trel);
        CHECK(lrel <= 1e-5, "accum loss %.9g vs %.9g", o.loss, o_full.loss);
        CHECK(o.acc_i2t == o_full.acc_i2t, "accuracy %g vs %g", o.acc_i2t, o_full.acc_i2t);
        CHECK(worst <= 1e-5, "a parameter gradient differs by %.3g", worst);
        CHECK(trel <= 1e-5, "temperature gradient %g vs %g", (double)g_acc[it], (double)g_full[it]);

        if (v == 0) {
            /* negative control: the old accumulation (mean of per-micro-batch losses) */
            memset(c->g, 0, n * sizeof(float));
            double old = 0;
            for (int m = 0; m < nm; m++) {
                jc_step_out so = {0};
                REQUIRE(jc_clip_step(c, mb[m], true, 1.0f / nm, &so, &err) == JACLIP_OK, "%s", err.msg);
                old += so.loss / nm;
            }
            double orel = fabs(old - o_full.loss) / o_full.loss, ow = compare_grads(c, c->g, g_full, false);
            printf("negative control, mean of 2 micro-batch losses: loss %.6f (rel %.2e), worst gradient rel err "
                   "%.2e\n",
                   old, orel, ow);
            CHECK(orel > 1e-2 && ow > 1e-2, "the old scheme should miss the full batch (loss rel %.3g, grad %.3g)",
                  orel, ow);

            /* without backward: same loss, gradients untouched; scale multiplies the gradients */
            memset(c->g, 0, n * sizeof(float));
            jc_step_out on = {0};
            REQUIRE(jc_clip_step_accum(c, mb, nm, false, 1.0f, &on, &err) == JACLIP_OK, "%s", err.msg);
            CHECK(on.loss == o.loss, "forward-only loss %.9g vs %.9g", on.loss, o.loss);
            CHECK(test_max_abs(c->g, n) == 0, "forward-only step touched the gradients");
            REQUIRE(jc_clip_step_accum(c, mb, nm, true, 0.25f, &on, &err) == JACLIP_OK, "%s", err.msg);
            for (size_t i = 0; i < n; i++) c->g[i] *= 4;
            double sw = compare_grads(c, c->g, g_acc, false);
            CHECK(sw <= 1e-6, "scale 0.25 x 4 differs by %.3g", sw);
        }
    }
    /* errors: an empty micro-batch, no micro-batches */
    jc_batch empty = {.B = 0, .pixels = pixels, .ids = ids, .seg = seg};
    const jc_batch *bad[2] = {&parts[0], &empty};
    CHECK(jc_clip_step_accum(c, bad, 2, true, 1.0f, NULL, &err) == JACLIP_ERR_ARG, "empty micro-batch accepted");
    CHECK(strstr(err.msg, "micro-batch 1") != NULL, "message: %s", err.msg);
    CHECK(jc_clip_step_accum(c, bad, 0, true, 1.0f, NULL, &err) == JACLIP_ERR_ARG, "no micro-batch accepted");

    free(pixels), free(ids), free(g_full), free(g_acc);
    jc_clip_free(c);
    jaclip_pool_free(pool);
    return test_done();
}
