/*
 * adamw.c — AdamW with decoupled weight decay (Loshchilov & Hutter): decay only on weight
 * matrices (jc_param.decay), none on norms, biases, embeddings or the temperature; a
 * linear warm-up to lr, then cosine decay to min_lr; clipping of the global gradient norm;
 * the temperature clamped to [temperature_min, temperature_max] after every step, as
 * CLYP's clip_temperature() does. All state is fp32 in buffers laid out like the weights.
 */
#include <math.h>
#include <string.h>

#include "train/train.h"

double jc_lr_at(const jc_adamw *o, int64_t step)
{
    if (o->warmup > 0 && step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    int64_t span = o->total_steps - o->warmup;
    if (span <= 0) return o->lr;
    double t = (double)(step - o->warmup) / (double)span;
    if (t > 1) t = 1;
    return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1.0 + cos(M_PI * t));
}

double jc_adamw_step(jc_adamw *o, jc_clip *c)
{
    double ss = 0;
    for (int i = 0; i < c->n_params; i++) {
        const float *g = c->g + c->params[i].off;
        for (size_t k = 0; k < c->params[i].n; k++) ss += (double)g[k] * g[k];
    }
    double norm = sqrt(ss);
    float clip = (o->clip_norm > 0 && norm > o->clip_norm) ? (float)(o->clip_norm / norm) : 1.0f;
    double lr = jc_lr_at(o, o->step);
    o->step++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
    float step_size = (float)(lr / bc1), inv_bc2 = (float)(1.0 / bc2);
    for (int i = 0; i < c->n_params; i++) {
        const jc_param *p = &c->params[i];
        float *w = c->w + p->off, *g = c->g + p->off, *m = o->m + p->off, *v = o->v + p->off;
        float decay = p->decay ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
        for (size_t k = 0; k < p->n; k++) {
            float gk = g[k] * clip;
            m[k] = b1 * m[k] + (1.0f - b1) * gk;
            v[k] = b2 * v[k] + (1.0f - b2) * gk * gk;
            w[k] = w[k] * decay - step_size * m[k] / (sqrtf(v[k] * inv_bc2) + eps);
        }
    }
    float *t = c->temperature;
    if (*t < (float)c->temp_min) *t = (float)c->temp_min;
    if (*t > (float)c->temp_max) *t = (float)c->temp_max;
    memset(c->g, 0, c->total * sizeof(float));
    return norm;
}
