/*
 * gemm.h — the one matrix product the models need: out = inp · Wᵀ + bias with PyTorch's
 * Linear layout (W is (N, K), out-major), chosen at run time among AVX-512, AVX2+FMA and
 * portable micro-kernels, work split over the jaclip pool.
 *
 * matmul_forward / matmul_packed_forward: W packed in panels of 16 output channels (once at
 * model load with gemm_pack_w, or per call), outer-product register blocks (6 rows x 16 or
 * 32 channels). Every output element is the plain sequential fused-multiply-add chain over
 * k = 0..K-1, then + bias, whatever M is, whichever thread or block computes it and at every
 * dispatch level (the portable kernel uses fmaf): a row's result never depends on what else
 * is in the batch (padding and batching cannot change a feature), and all levels agree bit
 * for bit.
 *
 * The int8 path (gemm_q8_*) quantizes weights per output channel (symmetric int8) and
 * activations per row (token; asymmetric 7-bit so that AVX2 vpmaddubsw cannot saturate),
 * multiplies u8·s8 (AVX2 vpmaddubsw+vpmaddwd, AVX-512 VNNI vpdpbusd) and accumulates
 * exactly in int32: the result is exact integer arithmetic, hence independent of batching
 * and of the dispatch level.
 */
#ifndef JACLIP_KERNELS_GEMM_H
#define JACLIP_KERNELS_GEMM_H

#include <stdint.h>

#include "base/base.h"

/* inp (M,K), w (N,K), bias (N) or NULL -> out (M,N); pool may be NULL. */
void matmul_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *bias, int M, int K,
                    int N);

/* W packed for matmul_packed_forward: panels of 16 output channels, p[(jp*K + k)*16 + c] =
 * w[16*jp + c][k] (zero beyond N). */
typedef struct gemm_pw {
    int N, K; /* N: all channels (parts x channels per part) */
    int parts;
    float *p;    /* fp32 panels, or NULL */
    uint16_t *h; /* fp16 panels (gemm_pack_w_parts_f16), or NULL */
} gemm_pw;

#define GEMM_MAX_PARTS 4

/* Packs w (N,K) into *p (allocates; free with gemm_pw_free). Returns false if out of memory. */
bool gemm_pack_w(jaclip_pool *pool, gemm_pw *p, const float *w, int N, int K);
void gemm_pw_free(gemm_pw *p);

/* Several weights with the same K packed as one (fused q/k/v, fc1 gate/value): ws[parts],
 * each (N, K), N a multiple of 32. Returns false if out of memory or N does not qualify. */
bool gemm_pack_w_parts(jaclip_pool *pool, gemm_pw *p, const float *const *ws, int parts, int N, int K);
/* The same with the weights rounded to fp16 (round to nearest even) and stored as fp16 (half
 * the bytes to stream: the memory-bound batch-1 text); the products are still fp32 fma chains
 * of the widened values, so each element is the fma chain over k of inp · fp16(w). */
bool gemm_pack_w_parts_f16(jaclip_pool *pool, gemm_pw *p, const float *const *ws, int parts, int N, int K);
/* One product, one output (M, N/parts) and bias (or NULL) per part; every element bit-identical
 * to matmul_forward with that part's weight. */
void matmul_packed_forward_parts(jaclip_pool *pool, float *const *outs, const float *inp, const gemm_pw *w,
                                 const float *const *biases, int M);

/* The same product as matmul_forward with W packed in advance; results bit-identical. */
void matmul_packed_forward(jaclip_pool *pool, float *out, const float *inp, const gemm_pw *w, const float *bias,
                           int M);

/* Which micro-kernels this CPU uses: "avx512vnni" (AVX-512 with VNNI int8 products),
 * "avx512", "avx2" or "portable". JACLIP_GEMM=portable|avx2|avx512|avx512vnni in the
 * environment forces a lower one (for tests). A level whose kernels disagree with the
 * portable ones in a self-check at first use is not used (a warning names it). */
const char *gemm_kernel_name(void);
/* The same choice as a number: 0 portable, 1 AVX2+FMA, 2 AVX-512 (ops.c follows it too). */
int gemm_level(void);

/* ---- int8 ---------------------------------------------------------------------------------- */
/* A weight matrix quantized per output channel (symmetric): q (N, Kp) int8 in [-127, 127]
 * (Kp = K rounded up to a multiple of 64, zero padded), scale (N): w[n][k] ≈ q[n][k]*scale[n],
 * rowsum (N) = Σ_k q[n][k]. */
typedef struct gemm_q8 {
    int N, K, Kp; /* N: all channels (parts x channels per part) */
    int parts;    /* matmul_q8_forward_parts writes N/parts columns to each of `parts` outputs */
    int8_t *q;
    int8_t *pk; /* AVX2 and AVX-512: the same values in panels of 16 channels x 4 k's (gemm.c q8p_*); NULL at the portable level */
    float *scale;
    int32_t *rowsum;
} gemm_q8;

/* Quantizes w (N,K) into *q (allocates; free with gemm_q8_free). Returns false if out of memory. */
bool gemm_q8_quantize(jaclip_pool *pool, gemm_q8 *q, const float *w, int N, int K);
void gemm_q8_free(gemm_q8 *q);
/* Several weights with the same K quantized as one (fused q/k/v, fc1 gate/value): ws[parts],
 * each (N, K), N a multiple of 32; channel p*N + n is channel n of ws[p], quantized exactly as
 * gemm_q8_quantize would quantize it alone (same int8 values, scale and row sum). Returns
 * false if out of memory or N does not qualify. */
bool gemm_q8_quantize_parts(jaclip_pool *pool, gemm_q8 *q, const float *const *ws, int parts, int N, int K);
/* Parts p0 .. p0+n-1 of q as a gemm_q8 of n parts that shares q's memory (never freed itself;
 * valid while q is): the k/v of a fused q/k/v, or one member alone (n = 1). */
gemm_q8 gemm_q8_parts_view(const gemm_q8 *q, int p0, int n);

/* One activation row, asymmetric 7-bit: o[k] = clamp(round(r[k]/scale) + zero, 0, 127),
 * zero padded to Kp; the range always includes 0. (Exposed for the tests.) */
void gemm_q8_quantize_row(const float *r, int K, int Kp, uint8_t *o, float *scale, int32_t *zero);

/* out (M,N) = quant(inp) · qwᵀ + bias, activations quantized per row as above; the integer
 * part is exact: out = sa·sw·(Σ x·q − z·rowsum) + bias. */
void matmul_q8_forward(jaclip_pool *pool, float *out, const float *inp, const gemm_q8 *w, const float *bias, int M);
/* One product over all of w's channels (activations quantized once), one output (M, N/parts)
 * and bias (or NULL) per part; every element bit-identical to matmul_q8_forward with that part
 * quantized alone. (matmul_q8_forward on a w of several parts writes one (M, N) output.) */
void matmul_q8_forward_parts(jaclip_pool *pool, float *const *outs, const float *inp, const gemm_q8 *w,
                             const float *const *biases, int M);

#endif
