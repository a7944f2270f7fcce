/*
 * backward.h — the backward partners of the forward kernels in gemm.h and ops.h, llm.c
 * style: each *_backward takes the upstream gradient and the forward's saved inputs and
 * ACCUMULATES (+=) into the gradients of its inputs and weights, so that residual branches
 * and gradient accumulation need no extra copies. Quantities a forward can recompute
 * cheaply (LayerNorm statistics, attention probabilities) are recomputed rather than
 * stored. Every reduction runs in a fixed order whatever the thread count, so a training
 * step is bit-for-bit repeatable (which --resume relies on).
 */
#ifndef JACLIP_KERNELS_BACKWARD_H
#define JACLIP_KERNELS_BACKWARD_H

#include "base/base.h"

/* Growable scratch memory the backward kernels borrow (owned by the caller). */
typedef struct jc_scratch {
    float *p;
    size_t n;
} jc_scratch;
/* Returns at least n floats (contents undefined), or NULL when out of memory. */
float *jc_scratch_get(jc_scratch *s, size_t n);
void jc_scratch_free(jc_scratch *s);

/* out (M,N) = inp (M,K) · w (N,K)ᵀ + bias: given dout (M,N),
 * dinp (M,K) += dout·w, dw (N,K) += doutᵀ·inp, db (N) += Σ_rows dout. Any of dinp, dw, db may
 * be NULL. Uses matmul_forward on transposed copies, so it runs at the forward GEMM's speed. */
void matmul_backward(jaclip_pool *pool, jc_scratch *s, float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int M, int K, int N);

/* out = layernorm(inp) (T,C): dinp (T,C) += ..., dw, db (C) += ...; statistics recomputed
 * from inp as the forward computes them. dinp may be NULL. */
void layernorm_backward(jaclip_pool *pool, jc_scratch *s, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int T, int C, float eps);

/* out = gelu(inp) (n): dinp += gelu'(inp)·dout (exact erf form). */
void gelu_backward(jaclip_pool *pool, float *dinp, const float *inp, const float *dout, size_t n);

/* out = silu(g)·u (n): dg += silu'(g)·u·dout, du += silu(g)·dout. */
void swiglu_backward(jaclip_pool *pool, float *dg, float *du, const float *g, const float *u, const float *dout,
                     size_t n);

/* rope_forward's adjoint: rotates dx back in place (the transpose of the rotation). */
void rope_backward(float *dx, int C, int head_dim, int first, int n_tokens, const float *sin_t, const float *cos_t);

/* attention_forward's backward over the same packed segments: dq, dk, dv (T,C) += ...;
 * the softmax is recomputed from q, k. scratch holds pool_size * (2 + 2*hd) * max_len floats. */
void attention_backward(jaclip_pool *pool, float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const int *seg, int n_seg, int H, int hd, float scale,
                        float *scratch, int max_len);

#endif
