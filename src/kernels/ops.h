/*
 * ops.h — the element-wise and row-wise kernels of the two towers, llm.c style: plain
 * functions over contiguous float rows with the shapes in a comment. Forward only for now;
 * the backward partners will sit next to each one when training lands.
 */
#ifndef JACLIP_KERNELS_OPS_H
#define JACLIP_KERNELS_OPS_H

#include "base/base.h"

/* inp (T,C) -> out (T,C): (x - mean) / sqrt(var + eps) * w + b, biased variance (as torch).
 * out may equal inp. */
void layernorm_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *b, int T, int C,
                       float eps);

/* x (n) in place: exact GELU 0.5·x·(1 + erf(x/√2)) (Hugging Face "gelu"). */
void gelu_forward(jaclip_pool *pool, float *x, size_t n);

/* g, u (n) -> out (n): silu(g) · u (timm SwiGLU's gate). out may equal g or u. */
void swiglu_forward(jaclip_pool *pool, float *out, const float *g, const float *u, size_t n);

/* x (n) += y (n) */
void residual_forward(float *x, const float *y, size_t n);
/* The same adds split over the pool. */
void residual_forward_pool(jaclip_pool *pool, float *x, const float *y, size_t n);

/* In-place softmax of one row of n floats. */
void softmax_row(float *x, int n);

/* 2-D RoPE table for a grid x grid patch layout (EVA02 / timm RotaryEmbeddingCat):
 * sin, cos (grid*grid, head_dim). ref_h, ref_w rescale the grid to the pretraining grid. */
void rope_table(float *sin_out, float *cos_out, int grid, int ref_h, int ref_w, int head_dim);

/* Rotates q or k in place for n_tokens rows of a (T,C) matrix with C = heads*head_dim,
 * starting at row `first` (the class token before it is left alone), same table per head:
 * out[2m] = x[2m]cos - x[2m+1]sin, out[2m+1] = x[2m+1]cos + x[2m]sin. */
void rope_forward(float *x, int C, int head_dim, int first, int n_tokens, const float *sin_t, const float *cos_t);
/* rope_forward on q and k (q may be NULL) for tokens 1..n1-1 of each of the B sequences
 * starting at seg[b], split over the pool (the class token, row 0, is not rotated). */
void rope_forward_seqs(jaclip_pool *pool, float *q, float *k, int C, int head_dim, const int *seg, int B, int n1,
                       const float *sin_t, const float *cos_t);

/* Multi-head self-attention over variable-length segments packed in one (T, C) matrix:
 * q, k, v (T,C) with C = H*hd, segment s covers rows seg[s]..seg[s+1]-1 and only attends
 * to itself. out (T,C) = softmax(q·kᵀ·scale)·v per segment and head. scratch holds
 * pool_size * attention_scratch_floats(max_len, hd) floats. No mask beyond segments. */
size_t attention_scratch_floats(int max_len, int hd);
void attention_forward(jaclip_pool *pool, float *out, const float *q, const float *k, const float *v, const int *seg,
                       int n_seg, int H, int hd, float scale, float *scratch, int max_len);

/* attention_forward for the first row of each segment only (the class-token query, for a
 * last layer whose output is pooled from the class token): q, out (n_seg, C), row s being
 * segment s's query and output; k, v (T,C) packed as above. out[s] = softmax(q[s]·kᵀ·scale)·v
 * over segment s's rows, per head. Equals row seg[s] of attention_forward up to rounding (at
 * the AVX2 level the two also use different exps and apply 1/sum at different places). scratch holds pool_size * max_len floats (attention_scratch_floats is
 * more than enough). */
void attention_cls_forward(jaclip_pool *pool, float *out, const float *q, const float *k, const float *v,
                           const int *seg, int n_seg, int H, int hd, float scale, float *scratch, int max_len);

#endif
