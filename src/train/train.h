/*
 * train.h — CLIP training inside the library (llm.c style): every parameter of both towers
 * in one fp32 buffer with a table of Hugging Face key names, gradients and AdamW moments in
 * buffers of the same layout, a training forward that keeps each layer's activations in one
 * activation buffer, the backward of both towers, the symmetric InfoNCE loss with the
 * learnable clamped temperature, gradient accumulation that makes N micro-batches one
 * contrastive batch (accum.c), AdamW with warm-up + cosine schedule and clipping,
 * checkpoints (model dir `jaclip embed` loads, plus optimizer state) and the data loader.
 */
#ifndef JACLIP_TRAIN_TRAIN_H
#define JACLIP_TRAIN_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "io/config.h"
#include "kernels/backward.h"
#include "model/model.h"

/* ---- parameters ------------------------------------------------------------------------- */
typedef struct jc_param {
    char name[160];
    int ndim;
    int64_t shape[4];
    size_t off, n; /* in floats, into jc_clip.w / .g / .m / .v */
    bool decay;    /* AdamW weight decay: matrices only (no norms, biases, embeddings, temperature) */
} jc_param;

typedef struct jc_clip {
    jc_clyp_config cfg;
    double temp_min, temp_max, temp_init; /* config.json temperature_min/max/init */
    int dim;
    int n_params;
    jc_param *params;
    size_t total;          /* floats */
    float *w, *g;          /* parameters and their gradients */
    eva_w vis;             /* pointers into w */
    bert_w txt;
    float *temperature;    /* the scalar itc_loss_fn.temperature inside w */
    float *rope_sin, *rope_cos;
    jaclip_pool *pool;
    jc_scratch scratch;
    float *act;            /* activation buffer (both towers) */
    size_t act_cap;
    jaclip_model shim;     /* cfg/pool/rope for the shared forward kernels' callers */
} jc_clip;

/* Builds the parameter table for cfg (temperature limits from the config dir's config.json
 * when cfg_dir is not NULL) and allocates w and g (zeroed). */
jaclip_status jc_clip_create(const jc_clyp_config *cfg, const char *cfg_dir, jaclip_pool *pool, jc_clip **out,
                             jaclip_err *err);
void jc_clip_free(jc_clip *c);
/* Random initialisation from seed (truncated normal: std 1/sqrt(fan_in) for weight matrices,
 * 0.02 for embeddings, class token and positions; LayerNorm 1/0, biases 0, temperature =
 * temperature_init). */
void jc_clip_init_random(jc_clip *c, uint64_t seed);
/* Loads every parameter from a safetensors file (any float dtype), by key name. */
jaclip_status jc_clip_load_weights(jc_clip *c, const char *path, jaclip_err *err);
/* Writes the parameters (or any buffer of the same layout, with a key prefix) as F32. */
jaclip_status jc_clip_save_tensors(const jc_clip *c, const float *buf, const char *prefix, const char *path,
                                   jaclip_err *err);
const jc_param *jc_clip_find(const jc_clip *c, const char *name);

/* ---- forward / backward ----------------------------------------------------------------- */
/* One batch: B images (B,3,S,S) and B texts packed as ids with seg (B+1). */
typedef struct jc_batch {
    int B;
    float *pixels;
    int32_t *ids;
    int *seg;
} jc_batch;

typedef struct jc_step_out {
    double loss;
    double acc_i2t; /* fraction of images whose own text is the top match */
} jc_step_out;

/* Forward of both towers and the loss; with backward, accumulates d(loss·scale)/dθ into c->g. */
jaclip_status jc_clip_step(jc_clip *c, const jc_batch *b, bool backward, float scale, jc_step_out *out,
                           jaclip_err *err);
/* Both towers of one batch without keeping activations for a backward: raw neck outputs
 * img (B,dim) and txt (B,dim). The same forward code as jc_clip_step. */
jaclip_status jc_clip_features(jc_clip *c, const jc_batch *b, float *img, float *txt, jaclip_err *err);
/* Recomputes the forward of b with activations and backpropagates the given gradients of its
 * raw features, dimg and dtxt (B,dim), into c->g (accumulating; the temperature is untouched). */
jaclip_status jc_clip_backward_features(jc_clip *c, const jc_batch *b, const float *dimg, const float *dtxt,
                                        jaclip_err *err);
/* One contrastive step over the effective batch of n micro-batches (GradCache, accum.c): the
 * loss is the symmetric InfoNCE over the whole (ΣB)×(ΣB) similarity matrix, so every pair has
 * the negatives of all micro-batches. Pass 1 runs each micro-batch's forward keeping only its
 * features; then the loss and d(loss·scale)/d(features, τ) over all of them; pass 2 recomputes
 * each micro-batch's forward with activations and backprops its rows into c->g (accumulating).
 * With backward false only pass 1 and the loss run. n == 1 is jc_clip_step (one forward).
 * Memory: one micro-batch's activations plus 4·ΣB·dim floats of features and gradients (and
 * the loss's 3·(ΣB)² doubles); the micro-batches' inputs must stay valid during the call. */
jaclip_status jc_clip_step_accum(jc_clip *c, const jc_batch *const *mb, int n, bool backward, float scale,
                                 jc_step_out *out, jaclip_err *err);
/* Features only (no loss): images (n,dim) and/or texts (n,dim), raw neck outputs. */
jaclip_status jc_clip_embed_images(jc_clip *c, const float *pixels, int n, float *out, jaclip_err *err);
jaclip_status jc_clip_embed_texts(jc_clip *c, const int32_t *ids, const int *seg, int n, float *out, jaclip_err *err);

/* Symmetric InfoNCE on raw features: loss = ½[CE(Z) + CE(Zᵀ)], Z = cos/τ. Writes dimg, dtxt
 * (B,dim) and *dtau (overwritten) when they are not NULL; scale multiplies the gradients. */
double clip_loss_forward_backward(const float *img, const float *txt, int B, int dim, float tau, float *dimg,
                                  float *dtxt, float *dtau, float scale, double *acc);

/* ---- optimizer -------------------------------------------------------------------------- */
typedef struct jc_adamw {
    double lr, min_lr, beta1, beta2, eps, weight_decay, clip_norm;
    int64_t warmup, total_steps;
    int64_t step; /* steps taken */
    float *m, *v; /* same layout as jc_clip.w */
} jc_adamw;

double jc_lr_at(const jc_adamw *o, int64_t step);
/* Clips c->g to clip_norm (if > 0), takes one AdamW step, clamps the temperature, zeroes
 * c->g. Returns the gradient norm before clipping. */
double jc_adamw_step(jc_adamw *o, jc_clip *c);


/* ---- the trainer (trainer.c) ---------------------------------------------------------------- */
typedef struct jc_train_opts {
    const char *model;      /* dir with config.json + preprocessor_config.json (+ model.safetensors) */
    const char *tokenizer;  /* spiece.model (default MODEL/spiece.model) */
    bool scratch;           /* random init even when MODEL has weights */
    const char *data, *split;           /* ROOT and split of the training shards */
    const char *eval_data, *eval_split; /* held-out split for zero-shot eval (optional) */
    int eval_samples;                   /* 0 = the whole split */
    const char *out;        /* output dir: checkpoint (model dir + optimizer state) and log.jsonl */
    const char *resume;     /* checkpoint dir to continue from (usually == out) */
    int64_t steps;          /* optimizer steps (0: from epochs) */
    double epochs;
    int batch, accum;       /* micro-batch size and micro-batches per step */
    double lr, min_lr, warmup_frac, weight_decay, clip, beta1, beta2, eps;
    int64_t warmup;         /* steps (overrides warmup_frac when >= 0) */
    uint64_t seed;
    bool hflip;
    int log_every, eval_every, ckpt_every;
    int64_t stop_after;     /* stop (with a checkpoint) after this many steps of this run; 0 = no */
    int threads;
    bool quiet;
} jc_train_opts;

jc_train_opts jc_train_default_opts(void);
/* Overrides opts from a JSON object whose keys are the option names of `jaclip train`
 * (with '_' or '-'); strings are copied into *owned (free with jc_free_strings-like loop). */
jaclip_status jc_train_opts_from_json(const char *path, jc_train_opts *o, char ***owned, int *n_owned,
                                      jaclip_err *err);
/* Runs the whole training; prints progress to stderr and log lines to stdout. */
jaclip_status jc_train_run(const jc_train_opts *o, jaclip_err *err);

#endif
