/*
 * test_adamw.c — the optimizer against a float64 re-statement of PyTorch's AdamW
 * (torch.optim.AdamW: m, v with bias correction, decoupled weight decay w -= lr·wd·w) on the
 * tiny model's parameter table: decay only on weight matrices (not on LayerNorm, biases,
 * embeddings, class token, positions or the temperature), global-norm clipping, the
 * warm-up + cosine schedule, the temperature clamp, and the gradient zeroed after the step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

int main(void)
{
    jaclip_err err;
    jc_clyp_config cfg = {0};
    REQUIRE(jc_config_load("tests/train/tiny", &cfg, &err) == JACLIP_OK, "%s", err.msg);
    jc_clip *c;
    REQUIRE(jc_clip_create(&cfg, "tests/train/tiny", NULL, &c, &err) == JACLIP_OK, "%s", err.msg);
    jc_clip_init_random(c, 3);
    /* the decay flags: matrices yes, everything else no */
    const char *no_decay[] = {"vision_encoder.backbone.blocks.0.norm1.weight", "vision_encoder.backbone.cls_token",
                              "vision_encoder.backbone.pos_embed", "vision_encoder.backbone.patch_embed.proj.bias",
                              "text_encoder.backbone.model.embeddings.word_embeddings.weight",
                              "text_encoder.backbone.model.encoder.layer.0.output.LayerNorm.bias",
                              "itc_loss_fn.temperature"};
    for (size_t i = 0; i < sizeof no_decay / sizeof *no_decay; i++) {
        const jc_param *p = jc_clip_find(c, no_decay[i]);
        REQUIRE(p, "%s missing", no_decay[i]);
        CHECK(!p->decay, "%s must not be decayed", no_decay[i]);
    }
    const char *decay[] = {"vision_encoder.backbone.patch_embed.proj.weight", "vision_encoder.neck.linear.weight",
                           "vision_encoder.backbone.blocks.0.mlp.fc2.weight",
                           "text_encoder.backbone.model.encoder.layer.0.attention.self.query.weight"};
    for (size_t i = 0; i < sizeof decay / sizeof *decay; i++) CHECK(jc_clip_find(c, decay[i])->decay, "%s", decay[i]);

    size_t n = c->total;
    jc_adamw o = {.lr = 0.01, .min_lr = 0.001, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.1,
                  .clip_norm = 0.5, .warmup = 2, .total_steps = 6};
    o.m = calloc(n, sizeof(float)), o.v = calloc(n, sizeof(float));
    double *w = malloc(n * sizeof(double)), *m = calloc(n, sizeof(double)), *v = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) w[i] = c->w[i];
    uint64_t s = 99;
    for (int step = 0; step < 6; step++) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            c->g[i] = (float)(((double)(s >> 11) / 9007199254740992.0 - 0.5) * 0.01);
        }
        for (int k = 0; k < c->n_params; k++)
            for (size_t i = 0; i < c->params[k].n; i++) ss += (double)c->g[c->params[k].off + i] * c->g[c->params[k].off + i];
        if (step == 5) /* a temperature below its minimum comes back clamped */
            *c->temperature = 0.005f, w[c->temperature - c->w] = 0.005f;
        double norm = sqrt(ss), clip = norm > o.clip_norm ? o.clip_norm / norm : 1;
        /* schedule: linear warm-up over 2 steps, then cosine from lr to min_lr over the other 4 */
        double lr = step < 2 ? 0.01 * (step + 1) / 2 : 0.001 + 0.5 * 0.009 * (1 + cos(M_PI * (step - 2) / 4.0));
        CHECK(fabs(jc_lr_at(&o, step) - lr) < 1e-12, "lr at step %d: %g, want %g", step, jc_lr_at(&o, step), lr);
        double bc1 = 1 - pow(0.9, step + 1), bc2 = 1 - pow(0.98, step + 1);
        for (int k = 0; k < c->n_params; k++) {
            const jc_param *p = &c->params[k];
            for (size_t i = p->off; i < p->off + p->n; i++) {
                double g = c->g[i] * clip;
                if (p->decay) w[i] -= lr * 0.1 * w[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.98 * v[i] + 0.02 * g * g;
                w[i] -= lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + 1e-6);
            }
        }
        double t = w[c->temperature - c->w];
        if (t < c->temp_min) w[c->temperature - c->w] = c->temp_min;
        double gn = jc_adamw_step(&o, c);
        CHECK(fabs(gn - norm) <= 1e-5 * norm, "step %d: gradient norm %g, want %g", step, gn, norm);
    }
    double worst = 0;
    for (int k = 0; k < c->n_params; k++)
        for (size_t i = c->params[k].off; i < c->params[k].off + c->params[k].n; i++) {
            double d = fabs(c->w[i] - w[i]) / (fabs(w[i]) + 1e-3);
            if (d > worst) worst = d;
        }
    printf("AdamW: 6 steps, worst relative difference to the float64 reference %.2e\n", worst);
    CHECK(worst < 1e-4, "weights differ from the reference by %g", worst);
    CHECK(*c->temperature == (float)c->temp_min, "temperature %g not clamped to %g", (double)*c->temperature, c->temp_min);
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += c->g[i] != 0;
    CHECK(nonzero == 0, "%d gradient entries left after the step", nonzero);
    free(o.m), free(o.v), free(w), free(m), free(v);
    jc_clip_free(c);
    return test_done();
}
