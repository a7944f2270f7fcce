/*
 * test_clslast.c — the class-token-only last layer of both towers (vision.c
 * eva_last_block_forward, text.c bert_last_layer_forward) on the small golden model:
 *  - its features equal those of the full last layer (m->full_last_layer, every token run
 *    through it) within 1e-5 of the features' scale, in fp32, fp16 and int8 mode;
 *  - it really skips the work: the GEMM FLOPs that the kernel profiler counts drop by
 *    exactly (tokens - class tokens) x the per-token cost of q, the projection and the MLP;
 *  - a feature still never depends on the rest of the batch (bit for bit), in every mode,
 *    for images (alone vs in a batch of 7) and texts (alone vs in a batch of 24);
 *  - fp16 -> int8 -> fp16 gives the same bits as a model that was only ever fp16.
 * The agreement with PyTorch itself is test_golden's job.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/prof.h"
#include "model/model.h"
#include "testutil.h"

#define GOLD "tests/golden/model/"

static void compare(const char *what, const float *pruned, const float *full, int n, int dim)
{
    double mx = test_max_abs(full, (size_t)n * dim), worst = 0;
    for (int i = 0; i < n; i++) {
        double md = test_max_abs_diff(pruned + (size_t)i * dim, full + (size_t)i * dim, (size_t)dim);
        worst = fmax(worst, md);
        CHECK(md <= 1e-5 * mx, "%s %d: class-token-only vs full last layer differ by %g (scale %g)", what, i, md, mx);
    }
    printf("%s: max |pruned - full| = %.3g (features' max |x| %.3g)\n", what, worst, mx);
}

static double gemm_flops(void)
{
    kprof_row rows[256];
    int n = kprof_rows(rows, 256);
    double f = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(rows[i].name, "gemm", 4) == 0) f += rows[i].flops;
    return f;
}

int main(void)
{
    jaclip_err err = {0};
    jaclip_model *m = test_load_model(GOLD "small", 2, &err);
    REQUIRE(m != NULL, "load: %s", err.msg);
    int D = jaclip_model_dim(m);
    REQUIRE(D <= 64, "dim %d", D);
    REQUIRE(!m->full_last_layer, "the class-token-only last layer is the default");

    jc_npy rgb, ids, lens;
    REQUIRE(jc_npy_map(GOLD "image_rgb.npy", &rgb, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jc_npy_map(GOLD "text_ids.npy", &ids, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jc_npy_map(GOLD "text_lengths.npy", &lens, &err) == JACLIP_OK, "%s", err.msg);
    int n = (int)rgb.shape[0], S = (int)rgb.shape[1];
    const jaclip_image_params *ip = jaclip_model_image_params(m);
    REQUIRE(S == ip->image_size, "image size");
    size_t per = (size_t)3 * S * S;
    float *pix = malloc((size_t)n * per * sizeof(float));
    for (int i = 0; i < n; i++)
        jaclip_image_normalize((const uint8_t *)rgb.data + (size_t)i * S * S * 3, S, ip->mean, ip->std, pix + i * per);
    int nt = (int)ids.shape[0], L = (int)ids.shape[1];
    const int32_t *lv = lens.data;
    jaclip_token_batch tb = {.n = nt, .len = L, .ids = (int32_t *)ids.data, .lengths = (int32_t *)lv};
    int total_tokens = 0;
    for (int i = 0; i < nt; i++) total_tokens += lv[i];

    float *ip_out = calloc((size_t)n * D, sizeof(float)), *if_out = calloc((size_t)n * D, sizeof(float));
    float *tp_out = calloc((size_t)nt * D, sizeof(float)), *tf_out = calloc((size_t)nt * D, sizeof(float));
    float one[64];

    /* ---- FLOP accounting (fp32): the skipped rows of the skipped GEMMs, nothing else ---- */
    {
        const jc_vision_config *vc = &m->cfg.vision;
        const jc_text_config *tc = &m->cfg.text;
        double Dv = vc->embed_dim, F = vc->mlp_hidden, Dt = tc->hidden_size, I = tc->intermediate_size;
        int n1 = (vc->img_size / vc->patch_size) * (vc->img_size / vc->patch_size) + 1;
        kprof_enable(true);
        double f[4];
        for (int full = 0; full < 2; full++) {
            m->full_last_layer = full;
            kprof_reset();
            REQUIRE(jaclip_embed_pixels(m, pix, n, full ? if_out : ip_out, &err) == JACLIP_OK, "%s", err.msg);
            f[full] = gemm_flops();
            kprof_reset();
            REQUIRE(jaclip_embed_tokens(m, &tb, full ? tf_out : tp_out, &err) == JACLIP_OK, "%s", err.msg);
            f[2 + full] = gemm_flops();
        }
        kprof_enable(false);
        /* per skipped token: q and proj (D x D each), fc1 gate + value (D x F each), fc2 (F x D) */
        double want_v = 2.0 * ((double)n * n1 - n) * (2 * Dv * Dv + 3 * Dv * F);
        /* per skipped token: q and attention output (D x D each), intermediate and output (D x I each) */
        double want_t = 2.0 * ((double)total_tokens - nt) * (2 * Dt * Dt + 2 * Dt * I);
        CHECK(f[0] > 0 && fabs((f[1] - f[0]) - want_v) <= 1e-9 * f[1],
              "vision GEMM flops: full %.0f pruned %.0f, saved %.0f, want %.0f", f[1], f[0], f[1] - f[0], want_v);
        CHECK(f[2] > 0 && fabs((f[3] - f[2]) - want_t) <= 1e-9 * f[3],
              "text GEMM flops: full %.0f pruned %.0f, saved %.0f, want %.0f", f[3], f[2], f[3] - f[2], want_t);
        printf("GEMM flops saved: vision %.1f %%, text %.1f %% (small model)\n", 100 * (f[1] - f[0]) / f[1],
               100 * (f[3] - f[2]) / f[3]);
    }

    static const char *dtypes[] = {"fp32", "fp16", "int8"};
    for (int mode = 0; mode < 3; mode++) {
        const char *dt = dtypes[mode];
        REQUIRE(jaclip_model_set_dtype(m, dt, &err) == JACLIP_OK, "set dtype %s: %s", dt, err.msg);
        char what[64];
        /* pruned vs full */
        m->full_last_layer = true;
        REQUIRE(jaclip_embed_pixels(m, pix, n, if_out, &err) == JACLIP_OK, "%s", err.msg);
        REQUIRE(jaclip_embed_tokens(m, &tb, tf_out, &err) == JACLIP_OK, "%s", err.msg);
        m->full_last_layer = false;
        REQUIRE(jaclip_embed_pixels(m, pix, n, ip_out, &err) == JACLIP_OK, "%s", err.msg);
        REQUIRE(jaclip_embed_tokens(m, &tb, tp_out, &err) == JACLIP_OK, "%s", err.msg);
        snprintf(what, sizeof what, "%s image", dt);
        compare(what, ip_out, if_out, n, D);
        snprintf(what, sizeof what, "%s text", dt);
        compare(what, tp_out, tf_out, nt, D);

        /* batch independence of the pruned path */
        for (int i = 0; i < n; i++) {
            REQUIRE(jaclip_embed_pixels(m, pix + i * per, 1, one, &err) == JACLIP_OK, "%s", err.msg);
            CHECK(memcmp(one, ip_out + (size_t)i * D, sizeof(float) * D) == 0, "%s image %d alone differs from batch",
                  dt, i);
        }
        for (int i = 0; i < nt; i++) {
            jaclip_token_batch b1 = {
                .n = 1, .len = L, .ids = (int32_t *)ids.data + (size_t)i * L, .lengths = (int32_t *)lv + i};
            REQUIRE(jaclip_embed_tokens(m, &b1, one, &err) == JACLIP_OK, "%s", err.msg);
            CHECK(memcmp(one, tp_out + (size_t)i * D, sizeof(float) * D) == 0, "%s text %d alone differs from batch",
                  dt, i);
        }
    }

    /* switching modes leaves no copy of the previous one behind: back in fp16 after int8 (which
     * keeps the first vision block in fp32), both towers give exactly what a model that was only
     * ever fp16 gives */
    {
        REQUIRE(jaclip_model_set_dtype(m, "fp16", &err) == JACLIP_OK, "%s", err.msg);
        REQUIRE(jaclip_embed_pixels(m, pix, n, ip_out, &err) == JACLIP_OK, "%s", err.msg);
        REQUIRE(jaclip_embed_tokens(m, &tb, tp_out, &err) == JACLIP_OK, "%s", err.msg);
        jaclip_model *f = test_load_model(GOLD "small", 2, &err);
        REQUIRE(f && jaclip_model_set_dtype(f, "fp16", &err) == JACLIP_OK, "fresh fp16 model: %s", err.msg);
        REQUIRE(jaclip_embed_pixels(f, pix, n, if_out, &err) == JACLIP_OK, "%s", err.msg);
        REQUIRE(jaclip_embed_tokens(f, &tb, tf_out, &err) == JACLIP_OK, "%s", err.msg);
        CHECK(memcmp(ip_out, if_out, sizeof(float) * n * D) == 0, "fp16 after int8: images differ from a fresh fp16 model");
        CHECK(memcmp(tp_out, tf_out, sizeof(float) * nt * D) == 0, "fp16 after int8: texts differ from a fresh fp16 model");
        jaclip_model_free(f);
    }

    free(pix), free(ip_out), free(if_out), free(tp_out), free(tf_out);
    jc_npy_unmap(&rgb), jc_npy_unmap(&ids), jc_npy_unmap(&lens);
    jaclip_model_free(m);
    return test_done();
}
