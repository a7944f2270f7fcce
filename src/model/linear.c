/*
 * linear.c — the model's Linear layers as the forward code sees them: model_linear(w, ...)
 * looks up the prepared copy of the weight w and runs the right GEMM.
 *
 * fp32 (default): every Linear weight of the transformer blocks of both towers (EVA02
 * q/k/v/proj/fc1_g/fc1_x/fc2, BERT query/key/value/attention-output/intermediate/output) is
 * packed into the GEMM's panel layout (kernels/gemm.h gemm_pack_w) once, when its tower is
 * first used, so no forward pays for packing and the weights stream contiguously; the pages of the mapped
 * file that held them are then given back (madvise DONTNEED: they are file-backed and
 * re-read on demand), so resident memory stays about one copy of the weights. Results are
 * bit-identical to matmul_forward on the unpacked weights.
 *
 * fp16 (jaclip_model_set_dtype "fp16"): the same packed copies with the weights rounded to
 * fp16 and stored as fp16, widened exactly in the GEMM (F16C): half the bytes for the
 * memory-bound batch-1 text; products, sums and everything else stay fp32.
 *
 * int8 (issue 5, quantize at load, jaclip_model_set_dtype "int8"): the same weights are
 * quantized per output channel (symmetric int8, gemm_q8) and multiplied with the int8
 * GEMM, activations quantized per token; their fp32 packed copies are dropped. The
 * accuracy-sensitive parts stay fp32: patch embedding, the first vision block, LayerNorms,
 * softmax and attention products, RoPE, GELU/SwiGLU, and the final projections (necks).
 * The fused groups are fused in int8 too (gemm_q8_quantize_parts: one quantization of the
 * input, one product with a larger N; bit-identical to the members' separate products).
 * Entries are keyed by the fp32 weight pointer, so the forward code keeps one shape.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/gemm.h"
#include "model/model.h"

typedef struct lin_entry {
    const float *w;
    int N, K;
    gemm_pw pw; /* fp32 packed (pw.p NULL when absent); a view into a group's fused copy when view */
    bool view;
    bool keep; /* stays fp32 in int8 mode */
    int tower; /* 0 vision, 1 text */
    gemm_q8 q;  /* int8 (q.q NULL when absent); a view into a group's fused copy when qview */
    bool qview;
} lin_entry;

/* Weights that read the same input, packed as one product (EVA02 and BERT q/k/v, EVA02
 * fc1 gate/value): one pass over the packed input, one pool dispatch instead of 2-3. The
 * members' entries are views of their part of the fused copy (no second copy). */
typedef struct lin_group {
    const float *w[GEMM_MAX_PARTS];
    int parts, N, K, tower;
    gemm_pw fused;
    gemm_q8 fq; /* int8 mode: the members quantized as one (fq.q NULL when absent) */
} lin_group;

struct model_lin {
    lin_entry *e;
    int n, cap;
    lin_group *g;
    int ng, gcap;
    int mode;          /* LIN_FP32, LIN_FP16 or LIN_INT8 */
    int packed[2];     /* per tower: the precision of the packed copies that exist */
    _Atomic int ready[2]; /* per tower: the mode its copies were made for, or -1 (none yet) */
    pthread_mutex_t mu;   /* serialises preparing a tower */
};

enum { LIN_FP32, LIN_FP16, LIN_INT8 };

static int cmp_entry(const void *a, const void *b)
{
    const float *x = ((const lin_entry *)a)->w, *y = ((const lin_entry *)b)->w;
    return x < y ? -1 : x > y;
}

static lin_entry *find(const struct model_lin *t, const float *w)
{
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t->e[mid].w == w) return &t->e[mid];
        if (t->e[mid].w < w) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* tower: 0 or 1, or -1 for both */
static void drop_fp32(struct model_lin *t, int tower)
{
    for (int i = 0; i < t->n; i++) {
        if (tower >= 0 && t->e[i].tower != tower) continue;
        if (!t->e[i].view) gemm_pw_free(&t->e[i].pw);
        memset(&t->e[i].pw, 0, sizeof t->e[i].pw);
        t->e[i].view = false;
    }
    for (int i = 0; i < t->ng; i++)
        if (tower < 0 || t->g[i].tower == tower) gemm_pw_free(&t->g[i].fused);
}

/* tower: 0 or 1, or -1 for both */
static void drop_q8(struct model_lin *t, int tower)
{
    for (int i = 0; i < t->n; i++) {
        if (tower >= 0 && t->e[i].tower != tower) continue;
        if (!t->e[i].qview) gemm_q8_free(&t->e[i].q);
        memset(&t->e[i].q, 0, sizeof t->e[i].q);
        t->e[i].qview = false;
    }
    for (int i = 0; i < t->ng; i++)
        if (tower < 0 || t->g[i].tower == tower) gemm_q8_free(&t->g[i].fq);
}

void model_lin_free(jaclip_model *m)
{
    if (!m->lin) return;
    drop_fp32(m->lin, -1);
    drop_q8(m->lin, -1);
    free(m->lin->e);
    free(m->lin->g);
    pthread_mutex_destroy(&m->lin->mu);
    free(m->lin);
    m->lin = NULL;
}

static bool add_group(struct model_lin *t, int tower, int parts, int N, int K, const float *a, const float *b,
                      const float *c)
{
    if (t->ng == t->gcap) {
        int cap = t->gcap ? 2 * t->gcap : 64;
        lin_group *g = realloc(t->g, (size_t)cap * sizeof *g);
        if (!g) return false;
        t->g = g, t->gcap = cap;
    }
    lin_group *g = &t->g[t->ng++];
    memset(g, 0, sizeof *g);
    g->parts = parts, g->N = N, g->K = K, g->tower = tower;
    g->w[0] = a, g->w[1] = b, g->w[2] = c;
    return true;
}

static bool add(struct model_lin *t, int tower, const float *w, int N, int K)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        lin_entry *e = realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return false;
        t->e = e, t->cap = cap;
    }
    lin_entry *e = &t->e[t->n++];
    memset(e, 0, sizeof *e);
    e->w = w, e->N = N, e->K = K, e->tower = tower;
    return true;
}

/* Gives the whole pages of w that lie in the mapped weight file back to the kernel. */
static void release_pages(const jaclip_model *m, const float *w, size_t n)
{
    const uint8_t *b = (const uint8_t *)w, *e = b + n * sizeof(float);
    const uint8_t *mb = m->st.map.data, *me = mb + m->st.map.size;
    if (!mb || b < mb || e > me) return; /* converted (F16/BF16) tensors live in malloc'ed memory */
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + ps - 1) / ps * ps, hi = (uintptr_t)e / ps * ps;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Whether a group stays fp32 in int8 mode (its members do: the first vision block). */
static bool group_kept(const struct model_lin *t, const lin_group *g)
{
    const lin_entry *e = find(t, g->w[0]);
    return !e || e->keep;
}

/* Brings a tower's entries to the current mode: int8 -> q8 copies, fp32/fp16 -> packed copies
 * (groups fused, their members views of it). Called under t->mu. */
static bool prepare(jaclip_model *m, int tower)
{
    struct model_lin *t = m->lin;
    bool int8 = t->mode == LIN_INT8, half = t->mode == LIN_FP16;
    if (int8 || t->packed[tower] != t->mode) drop_fp32(t, tower);
    if (!int8) drop_q8(t, tower);
    /* what the fp32-side copies will hold: int8 keeps its first vision block as fp32 copies, so
     * a later fp16 must drop them (it once kept them and ran that block in fp32) */
    t->packed[tower] = int8 ? LIN_FP32 : t->mode;
    for (int i = 0; int8 && i < t->ng; i++) {
        lin_group *g = &t->g[i];
        if (g->tower != tower || g->fq.q || group_kept(t, g)) continue;
        if (!gemm_q8_quantize_parts(m->pool, &g->fq, g->w, g->parts, g->N, g->K)) continue; /* members alone */
        for (int p = 0; p < g->parts; p++) {
            lin_entry *e = find(t, g->w[p]);
            if (!e) continue;
            if (!e->qview) gemm_q8_free(&e->q);
            e->q = gemm_q8_parts_view(&g->fq, p, 1);
            e->qview = true;
        }
    }
    for (int i = 0; i < t->ng; i++) { /* in int8 mode, the groups that stay fp32 */
        lin_group *g = &t->g[i];
        if (g->tower != tower || g->fused.p || g->fused.h || (int8 && !group_kept(t, g))) continue;
        bool ok = half ? gemm_pack_w_parts_f16(m->pool, &g->fused, g->w, g->parts, g->N, g->K)
                       : gemm_pack_w_parts(m->pool, &g->fused, g->w, g->parts, g->N, g->K);
        if (!ok) continue; /* the members pack alone */
        for (int p = 0; p < g->parts; p++) {
            lin_entry *e = find(t, g->w[p]);
            if (!e) continue;
            if (!e->view) gemm_pw_free(&e->pw);
            size_t off = (size_t)p * g->N * g->K;
            e->pw = (gemm_pw){.N = g->N, .K = g->K, .parts = 1, .p = half ? NULL : g->fused.p + off,
                              .h = half ? g->fused.h + off : NULL};
            e->view = true;
        }
    }
    bool ok = true; /* an entry without its copy runs on the mapped fp32 weights (ensure) */
    for (int i = 0; i < t->n; i++) {
        lin_entry *e = &t->e[i];
        if (e->tower != tower) continue;
        if (int8 && !e->keep) {
            if (!e->q.q && !gemm_q8_quantize(m->pool, &e->q, e->w, e->N, e->K)) {
                ok = false;
                continue;
            }
        } else {
            if (!e->pw.p && !e->pw.h &&
                !(half ? gemm_pack_w_parts_f16(m->pool, &e->pw, &e->w, 1, e->N, e->K)
                       : gemm_pack_w(m->pool, &e->pw, e->w, e->N, e->K))) {
                ok = false;
                continue;
            }
        }
        release_pages(m, e->w, (size_t)e->N * e->K);
    }
    return ok;
}

jaclip_status model_lin_build(jaclip_model *m, jaclip_err *err)
{
    if (m->lin) return JACLIP_OK;
    struct model_lin *t = jc_calloc(1, sizeof *t);
    if (!t) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the packed weights");
    m->lin = t;
    const jc_vision_config *vc = &m->cfg.vision;
    const jc_text_config *tc = &m->cfg.text;
    int D = vc->embed_dim, F = vc->mlp_hidden, H = tc->hidden_size, I = tc->intermediate_size;
    bool ok = true;
    for (int l = 0; ok && l < vc->depth; l++) {
        const eva_block_w *b = &m->vis.blocks[l];
        ok = add(t, 0, b->q_w, D, D) && add(t, 0, b->k_w, D, D) && add(t, 0, b->v_w, D, D) &&
             add(t, 0, b->proj_w, D, D) && add(t, 0, b->fc1_g_w, F, D) && add(t, 0, b->fc1_x_w, F, D) &&
             add(t, 0, b->fc2_w, D, F);
        if (ok && D % 32 == 0) ok = add_group(t, 0, 3, D, D, b->q_w, b->k_w, b->v_w);
        if (ok && F % 32 == 0) ok = add_group(t, 0, 2, F, D, b->fc1_g_w, b->fc1_x_w, NULL);
    }
    for (int l = 0; ok && l < tc->num_hidden_layers; l++) {
        const bert_layer_w *b = &m->txt.layers[l];
        ok = add(t, 1, b->q_w, H, H) && add(t, 1, b->k_w, H, H) && add(t, 1, b->v_w, H, H) &&
             add(t, 1, b->ao_w, H, H) && add(t, 1, b->inter_w, I, H) && add(t, 1, b->out_w, H, I);
        if (ok && H % 32 == 0) ok = add_group(t, 1, 3, H, H, b->q_w, b->k_w, b->v_w);
    }
    /* int8 keeps the first vision block in fp32: it sees the raw patch embeddings, and
     * quantizing it cost most of the int8 top-1 disagreement on the trained CIFAR-10 model
     * (500 images: 98.6 % -> 99.6 % same label; 1500 others: 98.4 % -> 98.9 %), for about
     * 1/12 of the int8 speed-up of the image tower */
    for (int i = 0; ok && vc->depth > 0 && i < t->n; i++) {
        const eva_block_w *v0 = &m->vis.blocks[0];
        const float *w = t->e[i].w;
        t->e[i].keep = w == v0->q_w || w == v0->k_w || w == v0->v_w || w == v0->proj_w || w == v0->fc1_g_w ||
                       w == v0->fc1_x_w || w == v0->fc2_w;
    }
    if (ok) qsort(t->e, (size_t)t->n, sizeof *t->e, cmp_entry);
    pthread_mutex_init(&t->mu, NULL);
    atomic_store(&t->ready[0], -1), atomic_store(&t->ready[1], -1);
    if (!ok) {
        model_lin_free(m);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the packed weights");
    }
    return JACLIP_OK;
}

/* A tower's copies are made when the tower is first used (in the current mode), so a job that
 * embeds only texts or only images packs and holds only that tower. If memory runs out, the
 * entries without a copy fall back to matmul_forward on the mapped weights: fp32 results for
 * those layers (the same bits in fp32 mode; in fp16 and int8 mode not that mode's results). */
static void ensure(jaclip_model *m, int tower)
{
    struct model_lin *t = m->lin;
    if (atomic_load_explicit(&t->ready[tower], memory_order_acquire) == t->mode) return;
    pthread_mutex_lock(&t->mu);
    if (atomic_load(&t->ready[tower]) != t->mode) {
        if (!prepare(m, tower))
            jc_warn("out of memory for the %s copies of the %s tower's weights: the layers without one run "
                    "in fp32 on the unpacked weights (slower%s)",
                    jaclip_model_dtype(m), tower ? "text" : "image",
                    t->mode == LIN_FP32 ? ", same results" : ", and not the results of that dtype");
        atomic_store_explicit(&t->ready[tower], t->mode, memory_order_release);
    }
    pthread_mutex_unlock(&t->mu);
}

void model_linear(jaclip_model *m, float *out, const float *inp, const float *w, const float *bias, int M, int K, int N)
{
    const lin_entry *e = m->lin ? find(m->lin, w) : NULL;
    if (e) ensure(m, e->tower);
    if (e && e->q.q) matmul_q8_forward(m->pool, out, inp, &e->q, bias, M);
    else if (e && (e->pw.p || e->pw.h)) matmul_packed_forward(m->pool, out, inp, &e->pw, bias, M);
    else matmul_forward(m->pool, out, inp, w, bias, M, K, N);
}

void model_linear_parts(jaclip_model *m, float *const *outs, const float *inp, const float *const *ws,
                        const float *const *biases, int parts, int M, int K, int N)
{
    /* a run of consecutive members of a fused group (q/k/v, or k/v alone in the class-token-only
     * last layers) is one product over a view of the fused copy; few groups (36): a scan is
     * cheap next to a GEMM */
    const lin_entry *e = m->lin ? find(m->lin, ws[0]) : NULL;
    if (e) ensure(m, e->tower);
    for (int i = 0; m->lin && i < m->lin->ng; i++) {
        const lin_group *g = &m->lin->g[i];
        if (!(g->fused.p || g->fused.h || g->fq.q) || g->N != N || g->K != K) continue;
        for (int s0 = 0; s0 + parts <= g->parts; s0++) {
            bool same = true;
            for (int p = 0; p < parts; p++) same = same && g->w[s0 + p] == ws[p];
            if (!same) continue;
            if (g->fq.q) {
                gemm_q8 v = gemm_q8_parts_view(&g->fq, s0, parts);
                matmul_q8_forward_parts(m->pool, outs, inp, &v, biases, M);
                return;
            }
            size_t off = (size_t)s0 * g->N * g->K;
            gemm_pw v = {.N = N * parts, .K = K, .parts = parts, .p = g->fused.p ? g->fused.p + off : NULL,
                         .h = g->fused.h ? g->fused.h + off : NULL};
            matmul_packed_forward_parts(m->pool, outs, inp, &v, biases, M);
            return;
        }
    }
    for (int p = 0; p < parts; p++) model_linear(m, outs[p], inp, ws[p], biases[p], M, K, N);
}

jaclip_status jaclip_model_set_dtype(jaclip_model *m, const char *dtype, jaclip_err *err)
{
    if (!m || !dtype) return jc_err(err, JACLIP_ERR_ARG, "jaclip_model_set_dtype: bad arguments");
    int mode;
    if (strcmp(dtype, "fp32") == 0) mode = LIN_FP32;
    else if (strcmp(dtype, "fp16") == 0) mode = LIN_FP16;
    else if (strcmp(dtype, "int8") == 0) mode = LIN_INT8;
    else return jc_err(err, JACLIP_ERR_ARG, "unknown --dtype '%s' (expected fp32, fp16 or int8)", dtype);
    jaclip_status rc = model_lin_build(m, err);
    if (rc) return rc;
    /* the towers' copies are remade in the new mode when each is next used (ensure) */
    m->lin->mode = mode;
    return JACLIP_OK;
}

const char *jaclip_model_dtype(const jaclip_model *m)
{
    if (!m || !m->lin) return "fp32";
    return m->lin->mode == LIN_INT8 ? "int8" : m->lin->mode == LIN_FP16 ? "fp16" : "fp32";
}
