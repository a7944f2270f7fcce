/*
 * linear.c — the model's Linear layers as the forward code sees them: model_linear(w, ...)
 * looks up the prepared copy of the weight w and runs the right GEMM.
 *
 * fp32 (default): every Linear weight of the transformer blocks of both towers (EVA02
 * q/k/v/proj/fc1_g/fc1_x/fc2, BERT query/key/value/attention-output/intermediate/output) is
 * packed once at load into the GEMM's panel layout (kernels/gemm.h gemm_pack_w), so no
 * forward pays for packing and the weights stream contiguously; the pages of the mapped
 * file that held them are then given back (madvise DONTNEED: they are file-backed and
 * re-read on demand), so resident memory stays about one copy of the weights. Results are
 * bit-identical to matmul_forward on the unpacked weights.
 *
 * int8 (issue 5, quantize at load, jaclip_model_set_dtype "int8"): the same weights are
 * quantized per output channel (symmetric int8, gemm_q8) and multiplied with the int8
 * GEMM, activations quantized per token; their fp32 packed copies are dropped. The
 * accuracy-sensitive parts stay fp32: patch embedding, LayerNorms, softmax and attention
 * products, RoPE, GELU/SwiGLU, and the final projections (necks).
 * Entries are keyed by the fp32 weight pointer, so the forward code keeps one shape.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/gemm.h"
#include "model/model.h"

typedef struct lin_entry {
    const float *w;
    int N, K;
    gemm_pw pw; /* fp32 packed (pw.p NULL when absent) */
    gemm_q8 q;  /* int8 (q.q NULL when absent) */
} lin_entry;

struct model_lin {
    lin_entry *e;
    int n, cap;
    bool int8;
};

static int cmp_entry(const void *a, const void *b)
{
    const float *x = ((const lin_entry *)a)->w, *y = ((const lin_entry *)b)->w;
    return x < y ? -1 : x > y;
}

void model_lin_free(jaclip_model *m)
{
    if (!m->lin) return;
    for (int i = 0; i < m->lin->n; i++) {
        gemm_pw_free(&m->lin->e[i].pw);
        gemm_q8_free(&m->lin->e[i].q);
    }
    free(m->lin->e);
    free(m->lin);
    m->lin = NULL;
}

static bool add(struct model_lin *t, const float *w, int N, int K)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        lin_entry *e = realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return false;
        t->e = e, t->cap = cap;
    }
    lin_entry *e = &t->e[t->n++];
    memset(e, 0, sizeof *e);
    e->w = w, e->N = N, e->K = K;
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

/* Brings every entry to the current mode: int8 -> q8 copies, fp32 -> packed copies. */
static bool prepare(jaclip_model *m)
{
    struct model_lin *t = m->lin;
    for (int i = 0; i < t->n; i++) {
        lin_entry *e = &t->e[i];
        if (t->int8) {
            if (!e->q.q && !gemm_q8_quantize(m->pool, &e->q, e->w, e->N, e->K)) return false;
            gemm_pw_free(&e->pw);
        } else {
            if (!e->pw.p && !gemm_pack_w(m->pool, &e->pw, e->w, e->N, e->K)) return false;
            gemm_q8_free(&e->q);
        }
        release_pages(m, e->w, (size_t)e->N * e->K);
    }
    return true;
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
        ok = add(t, b->q_w, D, D) && add(t, b->k_w, D, D) && add(t, b->v_w, D, D) && add(t, b->proj_w, D, D) &&
             add(t, b->fc1_g_w, F, D) && add(t, b->fc1_x_w, F, D) && add(t, b->fc2_w, D, F);
    }
    for (int l = 0; ok && l < tc->num_hidden_layers; l++) {
        const bert_layer_w *b = &m->txt.layers[l];
        ok = add(t, b->q_w, H, H) && add(t, b->k_w, H, H) && add(t, b->v_w, H, H) && add(t, b->ao_w, H, H) &&
             add(t, b->inter_w, I, H) && add(t, b->out_w, H, I);
    }
    if (ok) {
        qsort(t->e, (size_t)t->n, sizeof *t->e, cmp_entry);
        ok = prepare(m);
    }
    if (!ok) {
        model_lin_free(m);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the packed weights");
    }
    return JACLIP_OK;
}

void model_linear(jaclip_model *m, float *out, const float *inp, const float *w, const float *bias, int M, int K, int N)
{
    if (m->lin) {
        int lo = 0, hi = m->lin->n - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            const lin_entry *e = &m->lin->e[mid];
            if (e->w == w) {
                if (e->q.q) matmul_q8_forward(m->pool, out, inp, &e->q, bias, M);
                else if (e->pw.p) matmul_packed_forward(m->pool, out, inp, &e->pw, bias, M);
                else break;
                return;
            }
            if (e->w < w) lo = mid + 1;
            else hi = mid - 1;
        }
    }
    matmul_forward(m->pool, out, inp, w, bias, M, K, N);
}

jaclip_status jaclip_model_set_dtype(jaclip_model *m, const char *dtype, jaclip_err *err)
{
    if (!m || !dtype) return jc_err(err, JACLIP_ERR_ARG, "jaclip_model_set_dtype: bad arguments");
    bool int8;
    if (strcmp(dtype, "fp32") == 0) int8 = false;
    else if (strcmp(dtype, "int8") == 0) int8 = true;
    else return jc_err(err, JACLIP_ERR_ARG, "unknown --dtype '%s' (expected fp32 or int8)", dtype);
    jaclip_status rc = model_lin_build(m, err);
    if (rc) return rc;
    if (m->lin->int8 == int8) return JACLIP_OK;
    m->lin->int8 = int8;
    if (!prepare(m)) {
        /* some entries are in the new mode, some in none: model_linear falls back to
         * matmul_forward for those, so results stay right; report the memory shortage */
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the %s weights", dtype);
    }
    return JACLIP_OK;
}

const char *jaclip_model_dtype(const jaclip_model *m) { return m && m->lin && m->lin->int8 ? "int8" : "fp32"; }
