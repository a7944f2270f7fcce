/*
 * gemm.h — the one matrix product the models need: out = inp · Wᵀ + bias with PyTorch's
 * Linear layout (W is (N, K), out-major). Cache-blocked fp32 with AVX-512 / AVX2+FMA
 * micro-kernels chosen at run time and a portable fallback; work is split over the
 * jaclip pool. Each output element is always summed in the same k order whatever M is
 * and whichever thread computes it, so a row's result never depends on what else is in
 * the batch (padding and batching cannot change a feature).
 */
#ifndef JACLIP_KERNELS_GEMM_H
#define JACLIP_KERNELS_GEMM_H

#include "base/base.h"

/* inp (M,K), w (N,K), bias (N) or NULL -> out (M,N); pool may be NULL. */
void matmul_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *bias, int M, int K,
                    int N);

/* Which micro-kernel matmul_forward uses on this CPU: "avx512", "avx2" or "portable".
 * JACLIP_GEMM=portable|avx2|avx512 in the environment forces a lower one (for tests). */
const char *gemm_kernel_name(void);

#endif
