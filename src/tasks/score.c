/*
 * score.c — per-pair data-selection scores: CLIP score (cosine of the pair), negCLIPLoss
 * (Wang et al., NeurIPS 2024; reference/algorithms.md §1) and NormSim (§1.4).
 *
 * negCLIPLoss(i) = cos_ii - (1/K) sum_k [ tau/2 LSE_j(s_ij/tau) + tau/2 LSE_j(s_ji/tau) ]
 * over the random batch that holds i in repetition k.
 *
 * Tiled log-sum-exp. A batch of b pairs (b up to 32768) would need a b x b similarity matrix
 * (4.3 GB); it is never formed. Work is cut into column blocks of SC_NC texts (one task on the
 * thread pool each); a task walks all images in row tiles of SC_MB, computes the SC_MB x SC_NC
 * similarity tile with the SIMD kernel (fp32 FMAs over packed panels) and folds it at once
 * into online (max, sum-of-exp) accumulators: per column inside the task, per row as one
 * partial per column block, merged in a fixed order afterwards. Results are therefore
 * identical for any thread count. Working memory is O(B*D) (about 100 MB for B = 32768,
 * D = 256) whatever n is; the embeddings stay memory-mapped.
 *
 * Numerics: exp(s/tau) overflows fp32 for tau = 0.01, so every sum is kept relative to a
 * shift (a maximum) and merged with rescaling; see tile_lse in score_simd.inc.
 * Accumulation is fp32; fp16 inputs are widened when a batch is gathered. Rows are
 * L2-normalised (the scores are cosines). NaN/Inf and all-zero rows are errors.
 *
 * Batching (deviation from the reference code, on purpose). The reference cuts a randperm
 * into chunks of exactly B and leaves a small last chunk, whose members get inflated scores
 * (a smaller LSE). Here a repetition cuts a permutation into nb = ceil(n/B) batches of
 * near-equal size: batch k holds positions [floor(k n/nb), floor((k+1) n/nb)), sizes differ by
 * at most one. With n <= B there is one batch, the result does not depend on seed or K, and
 * it is computed once.
 *
 * SIMD: the similarity kernel and the exp/LSE sweep are one template (score_simd.inc) compiled
 * for AVX-512F, AVX2+FMA (GCC target pragmas) and portable C; the widest path the CPU has is
 * picked at run time (JACLIP_SIMD=scalar|avx2|avx512 narrows it, for tests and comparisons).
 * Micro-tile 6 x 2 vectors over panels packed per batch; the tile maximum comes from the
 * accumulator registers, so each similarity costs one exponential.
 *
 * The permutation (documented so that anyone can reproduce the batches; tools/ref/negclip_ref.py
 * does): splitmix64(x) is Vigna's SplitMix64 step, z = x + 0x9E3779B97F4A7C15,
 * z = (z ^ z>>30) * 0xBF58476D1CE4E5B9, z = (z ^ z>>27) * 0x94D049BB133111EB, z ^ z>>31
 * (mod 2^64). For repetition r and seed S, with w the smallest
 * even bit count >= 2 such that 2^w >= n and h = w/2, round keys key_j = splitmix64(
 * splitmix64(S) + 4r + j), j = 0..3. A 4-round Feistel network on w bits maps (L, R) ->
 * (R, L xor (splitmix64(R xor key_j) & (2^h - 1))); x = (L << h) | R. perm(p) applies it
 * repeatedly until the value is < n (cycle walking), a bijection of [0, n). Position p of
 * repetition r holds pair perm(p). No permutation array is stored.
 */
#include "tasks/score.h"

#include <math.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/base.h"

#define SC_MR 6    /* micro-tile rows */
#define SC_MB 48   /* rows of a tile: a multiple of SC_MR */
#define SC_NC 256  /* columns of a tile and of a task's column block: a multiple of every NR */

typedef struct sc_impl {
    const char *name;
    int vw, nr;
    float (*tile_sim)(int D, const float *A, int groups, const float *Bp, int npanels, float *S, int ldS);
    void (*tile_lse)(float *S, int ldS, int mb, int nc, int ncp, float M, float inv_tau, float *row_shift,
                     float *row_sum, float *col_shift, float *col_sum);
    void (*lse_merge)(float *m, float *s, const float *sh, const float *su, int n, float inv_tau);
    void (*tile_normsim)(const float *S, int ldS, int mb, int ncp, int pinf, float *acc);
} sc_impl;

/* exp(x) for x <= 0 by Cephes' expf scheme (range reduction by ln 2, degree-5 polynomial);
 * the vector versions below are the same algorithm, lane by lane. */
static inline float sc_exp_scalar(float x)
{
    if (!(x >= -87.0f)) return 0.0f;
    float n = nearbyintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return ldexpf(p, (int)n);
}

/* ---- portable path: "vectors" of one float ------------------------------------------ */
#define SFX(x) x##_scalar
#define SFX_NAME "scalar"
#define V float
#define VW 1
#define V_ZERO() 0.0f
#define V_SET1(x) (x)
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_BCAST(p) (*(p))
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_HMAX(v) (v)
#define V_HSUM(v) (v)
#define V_EXP(x) sc_exp_scalar(x)
#include "tasks/score_simd.inc" /* undefines the macros above */

#if defined(__x86_64__) && defined(__GNUC__)
#define SC_HAVE_X86 1
#include "kernels/simd_avx2.h"
/* ---- AVX2 + FMA ------------------------------------------------------------------------ */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
/* e^x, flushed to exactly 0 below -87 so a row far under its running max adds nothing. */
static inline __m256 exp_avx2(__m256 x)
{
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    return _mm256_and_ps(jc_exp8_avx2(x), keep);
}
#define SFX(x) x##_avx2
#define SFX_NAME "avx2"
#define V __m256
#define VW 8
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_FMA _mm256_fmadd_ps
#define V_MAX _mm256_max_ps
#define V_HMAX jc_hmax8_avx2
#define V_HSUM jc_hsum8_avx2
#define V_EXP exp_avx2
#include "tasks/score_simd.inc" /* undefines the macros above */
#pragma GCC pop_options

/* ---- AVX-512F -------------------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
static inline __m512 exp_avx512(__m512 x)
{
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}
static inline float hsum_avx512(__m512 v) { return _mm512_reduce_add_ps(v); }
static inline float hmax_avx512(__m512 v) { return _mm512_reduce_max_ps(v); }
#define SFX(x) x##_avx512
#define SFX_NAME "avx512"
#define V __m512
#define VW 16
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_FMA _mm512_fmadd_ps
#define V_MAX _mm512_max_ps
#define V_HMAX hmax_avx512
#define V_HSUM hsum_avx512
#define V_EXP exp_avx512
#include "tasks/score_simd.inc" /* undefines the macros above */
#pragma GCC pop_options
#endif

/* Run-time dispatch: the widest path the CPU has, unless JACLIP_SIMD names a narrower one. */
static const sc_impl *pick_impl(void)
{
    const char *want = getenv("JACLIP_SIMD");
#ifdef SC_HAVE_X86
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (want && strcmp(want, "scalar") == 0) return &impl_scalar;
    if (want && strcmp(want, "avx2") == 0 && has2) return &impl_avx2;
    if (has512 && (!want || strcmp(want, "avx512") == 0 || !*want)) return &impl_avx512;
    if (has2) return &impl_avx2;
#else
    (void)want;
#endif
    return &impl_scalar;
}

const char *jc_score_kernel_name(void) { return pick_impl()->name; }

/* ---- batching permutation ------------------------------------------------------------ */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void jc_perm_init(jc_perm *p, uint64_t n, uint64_t seed, int rep)
{
    int w = 2;
    while (w < 64 && (1ULL << w) < n) w++;
    if (w & 1) w++;
    p->n = n;
    p->half = w / 2;
    p->mask = (1ULL << p->half) - 1;
    uint64_t base = splitmix64(seed);
    for (int j = 0; j < 4; j++) p->key[j] = splitmix64(base + 4ULL * (uint64_t)rep + (uint64_t)j);
}

uint64_t jc_perm_apply(const jc_perm *p, uint64_t pos)
{
    uint64_t y = pos;
    do {
        uint64_t L = y >> p->half, R = y & p->mask;
        for (int j = 0; j < 4; j++) {
            uint64_t t = L ^ (splitmix64(R ^ p->key[j]) & p->mask);
            L = R;
            R = t;
        }
        y = (L << p->half) | R;
    } while (y >= p->n);
    return y;
}

int64_t jc_batch_start(int64_t n, int64_t nb, int64_t k)
{
    return (int64_t)(((unsigned __int128)(uint64_t)k * (uint64_t)n) / (uint64_t)nb);
}

jaclip_status jaclip_negclip_assignment(int64_t n, int64_t batch, uint64_t seed, int rep, int32_t *batch_id,
                                        jaclip_err *err)
{
    if (n < 1 || batch < 1 || rep < 0) return jc_err(err, JACLIP_ERR_ARG, "negclip assignment: need n >= 1, batch >= 1, rep >= 0");
    int64_t nb = (n + batch - 1) / batch;
    if (nb > INT32_MAX) return jc_err(err, JACLIP_ERR_LIMIT, "negclip assignment: too many batches");
    if (nb == 1) {
        memset(batch_id, 0, (size_t)n * sizeof *batch_id);
        return JACLIP_OK;
    }
    jc_perm pm;
    jc_perm_init(&pm, (uint64_t)n, seed, rep);
    for (int64_t k = 0; k < nb; k++) {
        int64_t lo = jc_batch_start(n, nb, k), hi = jc_batch_start(n, nb, k + 1);
        for (int64_t q = lo; q < hi; q++) batch_id[jc_perm_apply(&pm, (uint64_t)q)] = (int32_t)k;
    }
    return JACLIP_OK;
}

/* ---- input checks ---------------------------------------------------------------------- */
static void load_row(const jaclip_emb_view *v, int64_t i, float *dst)
{
    if (v->dtype == JACLIP_F32) {
        memcpy(dst, (const float *)v->data + (size_t)i * (size_t)v->dim, (size_t)v->dim * sizeof(float));
    } else {
        const uint16_t *h = (const uint16_t *)v->data + (size_t)i * (size_t)v->dim;
        for (int k = 0; k < v->dim; k++) dst[k] = jc_f16_to_f32(h[k]);
    }
}

static const char *vname(const jaclip_emb_view *v) { return v->name ? v->name : "embeddings"; }

static jaclip_status check_view(const jaclip_emb_view *v, const char *what, jaclip_err *err)
{
    if (!v || (!v->data && v->n > 0)) return jc_err(err, JACLIP_ERR_ARG, "%s: no data", what);
    if (v->n < 1) return jc_err(err, JACLIP_ERR_ARG, "%s: %s holds no rows", what, vname(v));
    if (v->dim < 1 || v->dim > (1 << 20))
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: %s has embedding size %d", what, vname(v), v->dim);
    if (v->dtype != JACLIP_F32 && v->dtype != JACLIP_F16)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: %s: unknown dtype", what, vname(v));
    return JACLIP_OK;
}

static jaclip_status check_pair(const jaclip_emb_view *a, const jaclip_emb_view *b, jaclip_err *err)
{
    jaclip_status st = check_view(a, "image embeddings", err);
    if (st) return st;
    if ((st = check_view(b, "text embeddings", err))) return st;
    if (a->n != b->n)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s has %lld rows but %s has %lld: the pairs must line up", vname(a),
                      (long long)a->n, vname(b), (long long)b->n);
    if (a->dim != b->dim)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s has embedding size %d but %s has %d", vname(a), a->dim, vname(b),
                      b->dim);
    return JACLIP_OK;
}

/* Scans rows for NaN/Inf/all-zero in parallel; optionally writes the pair cosines. */
#define SCAN_CHUNK 4096
typedef struct scan_ctx {
    const jaclip_emb_view *a, *b; /* b may be NULL */
    float *cos_out;               /* may be NULL */
    float *tmp;                   /* per thread 2*dim */
    atomic_llong bad;             /* smallest bad row index * 4 + kind, or LLONG_MAX */
} scan_ctx;

static void scan_task(void *vctx, int task, int thread)
{
    scan_ctx *c = vctx;
    int D = c->a->dim;
    float *x = c->tmp + (size_t)thread * 2 * D, *y = x + D;
    int64_t lo = (int64_t)task * SCAN_CHUNK, hi = lo + SCAN_CHUNK;
    if (hi > c->a->n) hi = c->a->n;
    for (int64_t i = lo; i < hi; i++) {
        for (int w = 0; w < (c->b ? 2 : 1); w++) {
            float *r = w ? y : x;
            load_row(w ? c->b : c->a, i, r);
            double ss = 0;
            int finite = 1;
            for (int k = 0; k < D; k++) {
                if (!isfinite(r[k])) finite = 0;
                ss += (double)r[k] * r[k];
            }
            int kind = !finite ? 1 : ss == 0 ? 2 : 0;
            if (kind) {
                long long code = (long long)i * 4 + (w ? 2 : 0) + (kind - 1);
                long long cur = atomic_load(&c->bad);
                while (code < cur && !atomic_compare_exchange_weak(&c->bad, &cur, code)) {}
                return;
            }
        }
        if (c->cos_out) {
            double d = 0, nx = 0, ny = 0;
            for (int k = 0; k < D; k++) {
                d += (double)x[k] * y[k];
                nx += (double)x[k] * x[k];
                ny += (double)y[k] * y[k];
            }
            c->cos_out[i] = (float)(d / sqrt(nx * ny));
        }
    }
}

static jaclip_status scan_rows(const jaclip_emb_view *a, const jaclip_emb_view *b, jaclip_pool *pool, float *cos_out,
                               jaclip_err *err)
{
    int nt = pool ? jaclip_pool_size(pool) : 1;
    scan_ctx c = {.a = a, .b = b, .cos_out = cos_out};
    atomic_init(&c.bad, LLONG_MAX);
    c.tmp = jc_malloc_array((size_t)nt * 2, (size_t)a->dim * sizeof(float));
    if (!c.tmp) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    int64_t ntask = (a->n + SCAN_CHUNK - 1) / SCAN_CHUNK;
    if (ntask > INT32_MAX) {
        free(c.tmp);
        return jc_err(err, JACLIP_ERR_LIMIT, "too many rows");
    }
    jc_pool_run(pool, (int)ntask, scan_task, &c);
    free(c.tmp);
    long long bad = atomic_load(&c.bad);
    if (bad == LLONG_MAX) return JACLIP_OK;
    const jaclip_emb_view *v = (bad & 2) ? b : a;
    long long row = bad / 4;
    if (bad & 1)
        return jc_err(err, JACLIP_ERR_NUMERIC, "%s: row %lld is all zeros (no direction to compare; drop it or re-embed)",
                      vname(v), row);
    return jc_err(err, JACLIP_ERR_NUMERIC, "%s: row %lld contains NaN or Inf", vname(v), row);
}

jaclip_status jaclip_score_clip(const jaclip_emb_view *img, const jaclip_emb_view *txt, float *out, jaclip_err *err)
{
    jaclip_status st = check_pair(img, txt, err);
    if (st) return st;
    return scan_rows(img, txt, NULL, out, err);
}

/* ---- negCLIPLoss ------------------------------------------------------------------------ */
jaclip_negclip_params jaclip_negclip_default_params(void)
{
    jaclip_negclip_params p = {.batch = 32768, .repeats = 10, .temperature = 0.01f, .seed = 0, .pool = NULL, .quiet = 1};
    return p;
}

/* Gathers row r of a batch into a normalised fp32 row. */
static void gather_row(const jaclip_emb_view *v, int64_t i, float *dst)
{
    load_row(v, i, dst);
    double ss = 0;
    for (int k = 0; k < v->dim; k++) ss += (double)dst[k] * dst[k];
    float s = (float)(1.0 / sqrt(ss));
    for (int k = 0; k < v->dim; k++) dst[k] *= s;
}

typedef struct neg_ctx {
    const sc_impl *im;
    const jaclip_emb_view *img, *txt;
    int D;
    float tau, inv_tau;
    /* batch */
    const int64_t *idx;
    int64_t b, rows_pad, cols_pad;
    float *Ib;       /* rows_pad x D in panels of SC_MR rows (D x SC_MR each) */
    float *Tp;       /* cols_pad x D in panels of NR */
    float *rp_shift; /* ncb x bmax */
    float *rp_sum;
    int64_t bmax;
    float *col_half; /* bmax: tau/2 LSE of each column */
    /* per thread scratch */
    float *scratch;
    size_t scratch_per;
    float *out;
    double weight;
} neg_ctx;

#define GATHER_ROWS 256

static void gather_task(void *vc, int task, int thread)
{
    neg_ctx *c = vc;
    int D = c->D, nr = c->im->nr;
    float *tmp = c->scratch + (size_t)thread * c->scratch_per;
    int64_t lo = (int64_t)task * GATHER_ROWS, hi = lo + GATHER_ROWS;
    int64_t end = c->rows_pad > c->cols_pad ? c->rows_pad : c->cols_pad;
    if (hi > end) hi = end;
    for (int64_t r = lo; r < hi; r++) {
        if (r < c->rows_pad) {
            if (r < c->b) gather_row(c->img, c->idx[r], tmp);
            else memset(tmp, 0, (size_t)D * sizeof(float));
            float *panel = c->Ib + (size_t)(r / SC_MR) * D * SC_MR + (size_t)(r % SC_MR);
            for (int k = 0; k < D; k++) panel[(size_t)k * SC_MR] = tmp[k];
        }
        if (r < c->cols_pad) {
            if (r < c->b) gather_row(c->txt, c->idx[r], tmp);
            else memset(tmp, 0, (size_t)D * sizeof(float));
            float *panel = c->Tp + (size_t)(r / nr) * D * nr + (size_t)(r % nr);
            for (int k = 0; k < D; k++) panel[(size_t)k * nr] = tmp[k];
        }
    }
}

/* scratch layout per thread: S (SC_MB*SC_NC) | cshift, csum, cm, cs (SC_NC each) |
 * rshift, rsum (SC_MB each) | gather row (D) */
static void column_task(void *vc, int cb, int thread)
{
    neg_ctx *c = vc;
    float *S = c->scratch + (size_t)thread * c->scratch_per;
    float *cshift = S + SC_MB * SC_NC, *csum = cshift + SC_NC, *cm = csum + SC_NC,
          *cs = cm + SC_NC, *rshift = cs + SC_NC, *rsum = rshift + SC_MB;
    int64_t c0 = (int64_t)cb * SC_NC;
    int nc = (int)(c->b - c0 < SC_NC ? c->b - c0 : SC_NC);
    for (int j = 0; j < SC_NC; j++) {
        cm[j] = -INFINITY;
        cs[j] = 0;
    }
    const float *panels = c->Tp + (size_t)c0 * c->D;
    for (int64_t r0 = 0; r0 < c->b; r0 += SC_MB) {
        int mb = (int)(c->b - r0 < SC_MB ? c->b - r0 : SC_MB);
        float M = c->im->tile_sim(c->D, c->Ib + (size_t)r0 * c->D, SC_MB / SC_MR, panels, SC_NC / c->im->nr, S, SC_NC);
        c->im->tile_lse(S, SC_NC, mb, nc, SC_NC, M, c->inv_tau, rshift, rsum, cshift, csum);
        memcpy(c->rp_shift + (size_t)cb * c->bmax + r0, rshift, (size_t)mb * sizeof(float));
        memcpy(c->rp_sum + (size_t)cb * c->bmax + r0, rsum, (size_t)mb * sizeof(float));
        c->im->lse_merge(cm, cs, cshift, csum, SC_NC, c->inv_tau);
    }
    for (int j = 0; j < nc; j++) c->col_half[c0 + j] = 0.5f * (cm[j] + c->tau * logf(cs[j]));
}

#define FINAL_ROWS 1024
static void final_task(void *vc, int task, int thread)
{
    (void)thread;
    neg_ctx *c = vc;
    int64_t ncb = (c->b + SC_NC - 1) / SC_NC;
    int64_t lo = (int64_t)task * FINAL_ROWS, hi = lo + FINAL_ROWS;
    if (hi > c->b) hi = c->b;
    for (int64_t r = lo; r < hi; r++) {
        float m = -INFINITY;
        for (int64_t cb = 0; cb < ncb; cb++) {
            float v = c->rp_shift[(size_t)cb * c->bmax + r];
            if (v > m) m = v;
        }
        double s = 0;
        for (int64_t cb = 0; cb < ncb; cb++)
            s += (double)c->rp_sum[(size_t)cb * c->bmax + r] *
                 exp(((double)c->rp_shift[(size_t)cb * c->bmax + r] - m) * c->inv_tau);
        double row_half = 0.5 * ((double)m + (double)c->tau * log(s));
        double R = row_half + (double)c->col_half[r];
        c->out[c->idx[r]] -= (float)(R * c->weight);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

jaclip_status jaclip_score_negclip(const jaclip_emb_view *img, const jaclip_emb_view *txt,
                                   const jaclip_negclip_params *p, float *out, jaclip_err *err)
{
    jaclip_negclip_params dp = jaclip_negclip_default_params();
    if (!p) p = &dp;
    jaclip_status st = check_pair(img, txt, err);
    if (st) return st;
    if (p->batch < 2 || p->batch > (1 << 24))
        return jc_err(err, JACLIP_ERR_ARG, "negCLIPLoss batch size %lld is out of range [2, 16777216]", (long long)p->batch);
    if (p->repeats < 1 || p->repeats > 10000)
        return jc_err(err, JACLIP_ERR_ARG, "negCLIPLoss repeats %d is out of range [1, 10000]", p->repeats);
    if (!(p->temperature >= 1e-4f && p->temperature <= 100.0f))
        return jc_err(err, JACLIP_ERR_ARG, "temperature %g is out of range [1e-4, 100]", (double)p->temperature);
    if ((st = scan_rows(img, txt, p->pool, out, err))) return st;

    int64_t n = img->n;
    int64_t nb = (n + p->batch - 1) / p->batch;
    int reps = nb == 1 ? 1 : p->repeats;
    neg_ctx c = {0};
    c.im = pick_impl();
    c.img = img;
    c.txt = txt;
    c.D = img->dim;
    c.tau = p->temperature;
    c.inv_tau = 1.0f / p->temperature;
    c.out = out;
    c.weight = 1.0 / reps;
    c.bmax = (n + nb - 1) / nb;
    int64_t rows_pad_max = (c.bmax + SC_MB - 1) / SC_MB * SC_MB;
    int64_t cols_pad_max = (c.bmax + SC_NC - 1) / SC_NC * SC_NC;
    int64_t ncb_max = cols_pad_max / SC_NC;
    int nt = p->pool ? jaclip_pool_size(p->pool) : 1;
    c.scratch_per = (size_t)SC_MB * SC_NC + 5 * SC_NC + 2 * SC_MB + (size_t)c.D + 64;
    int64_t *idx = jc_malloc_array((size_t)c.bmax, sizeof *idx);
    c.Ib = jc_malloc_aligned((size_t)rows_pad_max * c.D * sizeof(float));
    c.Tp = jc_malloc_aligned((size_t)cols_pad_max * c.D * sizeof(float));
    c.rp_shift = jc_malloc_array((size_t)(ncb_max * c.bmax), sizeof(float));
    c.rp_sum = jc_malloc_array((size_t)(ncb_max * c.bmax), sizeof(float));
    c.col_half = jc_malloc_array((size_t)c.bmax, sizeof(float));
    c.scratch = jc_malloc_aligned((size_t)nt * c.scratch_per * sizeof(float));
    if (!idx || !c.Ib || !c.Tp || !c.rp_shift || !c.rp_sum || !c.col_half || !c.scratch) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory for negCLIPLoss batches of %lld pairs", (long long)c.bmax);
        goto done;
    }
    c.idx = idx;
    jc_progress prog;
    char label[96];
    snprintf(label, sizeof label, "negCLIPLoss (%s, %lld batches x %d)", c.im->name, (long long)nb, reps);
    jc_progress_start(&prog, label, "pairs", (int64_t)reps * n, p->quiet);
    for (int rep = 0; rep < reps; rep++) {
        jc_perm pm;
        jc_perm_init(&pm, (uint64_t)n, p->seed, rep);
        for (int64_t k = 0; k < nb; k++) {
            int64_t lo = jc_batch_start(n, nb, k), hi = jc_batch_start(n, nb, k + 1);
            c.b = hi - lo;
            if (nb == 1) {
                for (int64_t q = 0; q < n; q++) idx[q] = q;
            } else {
                for (int64_t q = lo; q < hi; q++) idx[q - lo] = (int64_t)jc_perm_apply(&pm, (uint64_t)q);
                qsort(idx, (size_t)c.b, sizeof *idx, cmp_i64); /* sequential reads of the mapped files */
            }
            c.rows_pad = (c.b + SC_MB - 1) / SC_MB * SC_MB;
            c.cols_pad = (c.b + SC_NC - 1) / SC_NC * SC_NC;
            int64_t gend = c.rows_pad > c.cols_pad ? c.rows_pad : c.cols_pad;
            jc_pool_run(p->pool, (int)((gend + GATHER_ROWS - 1) / GATHER_ROWS), gather_task, &c);
            jc_pool_run(p->pool, (int)(c.cols_pad / SC_NC), column_task, &c);
            jc_pool_run(p->pool, (int)((c.b + FINAL_ROWS - 1) / FINAL_ROWS), final_task, &c);
            jc_progress_add(&prog, c.b);
        }
    }
    jc_progress_finish(&prog);
    st = JACLIP_OK;
done:
    free(idx);
    jc_free_aligned(c.Ib);
    jc_free_aligned(c.Tp);
    free(c.rp_shift);
    free(c.rp_sum);
    free(c.col_half);
    jc_free_aligned(c.scratch);
    return st;
}

/* ---- NormSim ----------------------------------------------------------------------------- */
#define NS_CHUNK 16384 /* target rows packed at a time */
#define NS_ROWS 192    /* candidate rows per task: a multiple of SC_MB */

typedef struct ns_ctx {
    const sc_impl *im;
    const jaclip_emb_view *img, *tgt;
    int D, pinf;
    int64_t t0, tn, cols_pad; /* chunk of targets */
    float *Tp;
    float *scratch;
    size_t scratch_per;
    float *out;
} ns_ctx;

static void ns_pack_task(void *vc, int task, int thread)
{
    ns_ctx *c = vc;
    int D = c->D, nr = c->im->nr;
    float *tmp = c->scratch + (size_t)thread * c->scratch_per;
    int64_t lo = (int64_t)task * GATHER_ROWS, hi = lo + GATHER_ROWS;
    if (hi > c->cols_pad) hi = c->cols_pad;
    for (int64_t r = lo; r < hi; r++) {
        if (r < c->tn) gather_row(c->tgt, c->t0 + r, tmp);
        else memset(tmp, 0, (size_t)D * sizeof(float));
        float *panel = c->Tp + (size_t)(r / nr) * D * nr + (size_t)(r % nr);
        for (int k = 0; k < D; k++) panel[(size_t)k * nr] = tmp[k];
    }
}

static void ns_task(void *vc, int task, int thread)
{
    ns_ctx *c = vc;
    int D = c->D;
    float *S = c->scratch + (size_t)thread * c->scratch_per;
    float *A = S + SC_MB * SC_NC;
    int64_t lo = (int64_t)task * NS_ROWS, hi = lo + NS_ROWS;
    if (hi > c->img->n) hi = c->img->n;
    int64_t m = hi - lo, mpad = (m + SC_MB - 1) / SC_MB * SC_MB;
    float *tmp = A + (size_t)NS_ROWS * D;
    for (int64_t r = 0; r < mpad; r++) {
        if (r < m) gather_row(c->img, lo + r, tmp);
        else memset(tmp, 0, (size_t)D * sizeof(float));
        float *panel = A + (size_t)(r / SC_MR) * D * SC_MR + (size_t)(r % SC_MR);
        for (int k = 0; k < D; k++) panel[(size_t)k * SC_MR] = tmp[k];
    }
    for (int64_t c0 = 0; c0 < c->cols_pad; c0 += SC_NC)
        for (int64_t r0 = 0; r0 < m; r0 += SC_MB) {
            int mb = (int)(m - r0 < SC_MB ? m - r0 : SC_MB);
            c->im->tile_sim(D, A + (size_t)r0 * D, SC_MB / SC_MR, c->Tp + (size_t)c0 * D, SC_NC / c->im->nr, S, SC_NC);
            c->im->tile_normsim(S, SC_NC, mb, SC_NC, c->pinf, c->out + lo + r0);
        }
}

jaclip_status jaclip_score_normsim(const jaclip_emb_view *img, const jaclip_emb_view *target, double p,
                                   jaclip_pool *pool, float *out, jaclip_err *err)
{
    jaclip_status st = check_view(img, "image embeddings", err);
    if (st) return st;
    if ((st = check_view(target, "target embeddings", err))) return st;
    if (img->dim != target->dim)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s has embedding size %d but the target set %s has %d", vname(img),
                      img->dim, vname(target), target->dim);
    if (!(p == 2.0 || isinf(p))) return jc_err(err, JACLIP_ERR_ARG, "NormSim norm must be 2 or inf");
    if ((st = scan_rows(img, NULL, pool, NULL, err))) return st;
    if ((st = scan_rows(target, NULL, pool, NULL, err))) return st;
    ns_ctx c = {.im = pick_impl(), .img = img, .tgt = target, .D = img->dim, .pinf = isinf(p), .out = out};
    int nt = pool ? jaclip_pool_size(pool) : 1;
    int64_t chunk = target->n < NS_CHUNK ? target->n : NS_CHUNK;
    int64_t cpad = (chunk + SC_NC - 1) / SC_NC * SC_NC;
    c.scratch_per = (size_t)SC_MB * SC_NC + (size_t)(NS_ROWS + 1) * c.D + 64;
    c.Tp = jc_malloc_aligned((size_t)cpad * c.D * sizeof(float));
    c.scratch = jc_malloc_aligned((size_t)nt * c.scratch_per * sizeof(float));
    if (!c.Tp || !c.scratch) {
        jc_free_aligned(c.Tp);
        jc_free_aligned(c.scratch);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for NormSim");
    }
    for (int64_t i = 0; i < img->n; i++) out[i] = 0.0f;
    for (c.t0 = 0; c.t0 < target->n; c.t0 += chunk) {
        c.tn = target->n - c.t0 < chunk ? target->n - c.t0 : chunk;
        c.cols_pad = (c.tn + SC_NC - 1) / SC_NC * SC_NC;
        jc_pool_run(pool, (int)((c.cols_pad + GATHER_ROWS - 1) / GATHER_ROWS), ns_pack_task, &c);
        jc_pool_run(pool, (int)((img->n + NS_ROWS - 1) / NS_ROWS), ns_task, &c);
    }
    if (!c.pinf)
        for (int64_t i = 0; i < img->n; i++) out[i] = sqrtf(out[i]);
    jc_free_aligned(c.Tp);
    jc_free_aligned(c.scratch);
    return JACLIP_OK;
}

/* ---- export with keys ------------------------------------------------------------------- */
static void json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

jaclip_status jc_scores_write_jsonl(const char *path, const char *keys_path, int64_t n, int ncols,
                                    const char *const *names, const float *const *cols, jaclip_err *err)
{
    FILE *kf = fopen(keys_path, "rb");
    if (!kf) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open the keys file", keys_path);
    jc_atomic_file af;
    jaclip_status st = jc_atomic_open(path, &af, err);
    if (st) {
        fclose(kf);
        return st;
    }
    char *line = NULL;
    size_t cap = 0;
    int64_t i = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, kf)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (i >= n) {
            st = jc_err(err, JACLIP_ERR_MISMATCH, "%s has more than %lld keys: one key per pair expected", keys_path,
                        (long long)n);
            goto fail;
        }
        fputs("{\"key\":", af.f);
        json_string(af.f, line, (size_t)len);
        for (int c = 0; c < ncols; c++) fprintf(af.f, ",\"%s\":%.7g", names[c], (double)cols[c][i]);
        fputs("}\n", af.f);
        i++;
    }
    if (i != n) {
        st = jc_err(err, JACLIP_ERR_MISMATCH, "%s has %lld keys but there are %lld pairs", keys_path, (long long)i,
                    (long long)n);
        goto fail;
    }
    free(line);
    fclose(kf);
    return jc_atomic_commit(&af, err);
fail:
    free(line);
    fclose(kf);
    jc_atomic_abort(&af);
    return st;
}
