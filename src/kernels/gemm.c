/*
 * gemm.c — fp32 and int8 GEMM out = inp · Wᵀ + bias (see gemm.h).
 *
 * Two parts: the packed outer-product fp32 matmul_forward / matmul_packed_forward (the
 * section "fp32 matmul_forward" below says how it blocks), and the int8 GEMM (outer-product
 * kernels on packed panels at AVX2, AVX-512 and AVX-512 VNNI; plain dot products at the
 * portable level). Each keeps one summation order per output element that never depends on
 * M, the blocking, the thread or the dispatch level, so batching cannot change any row's
 * result. (Attention has its own small products in ops.c.)
 */
#include "kernels/gemm.h"

#include <stdio.h>

#include "kernels/prof.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JC_X86 1
#endif

#define MB 48

/* Flags of a micro-kernel call: resume from the partial sums in c; the last k slice (add the bias). */
#define MK_LOAD 1
#define MK_LAST 2
#define MK_PF 4        /* int8: prefetch the panel ahead (it comes from memory) */
#define SMALL_M 48     /* up to this many rows, W streams once in address order */


/* ---- dispatch -------------------------------------------------------------------------- */
enum { LV_PORTABLE, LV_AVX2, LV_AVX512 };
static struct {
    int init;
    int level;
    bool vnni;
    const char *name;
    int kc, mc, nb, mr; /* fp32 blocking (see "fp32 matmul_forward" below) */
} G;
static void block_init(void);

static void q8p_pack(gemm_q8 *q);
static void q8p_groups(int32_t *c, int ldc, const int32_t *a, size_t gstride, int gb, const int8_t *b,
                       size_t bstride, int np, int k4n, int fl, int pf);
static void mm_plain(float *out, const float *inp, const float *pw, const float *bias, int M, int K, int N);
static void pack_all(jaclip_pool *pool, float *dst, const float *w, int N, int K);

/* A small product with edge blocks in every direction (fp32 and int8), SIMD vs portable
 * (fp32: the same fma chains, so the same bits) and vs plain integer dot products (int8).
 * Runs once, before G.init is published, with G.level set to the candidate (never portable). */
static bool self_check(void)
{
    enum { M = 13, K = 300, N = 70, KP = 320 }; /* KP: a multiple of 64 */
    static float a[M * K], w[N * K], bias[N], m1[M * N], m2[M * N];
    /* w packed by the candidate's code and by the portable code (static: no allocation to fail) */
    static _Alignas(64) float pw[(N + 15) / 16 * 16 * K], pw0[(N + 15) / 16 * 16 * K];
    static _Alignas(64) uint8_t qa[M * KP];
    static _Alignas(64) int8_t qw[N * KP];
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N * K; i++) w[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    for (int i = 0; i < N; i++) bias[i] = (float)i / 10.0f;
    for (int i = 0; i < M * KP; i++) qa[i] = (uint8_t)((i * 37) % 128);
    for (int i = 0; i < N * KP; i++) qw[i] = (int8_t)((i * 53) % 255 - 127);
    int level = G.level;
    pack_all(NULL, pw, w, N, K);
    mm_plain(m1, a, pw, bias, M, K, N);
    G.level = LV_PORTABLE;
    pack_all(NULL, pw0, w, N, K);
    mm_plain(m2, a, pw0, bias, M, K, N);
    G.level = level;
    if (memcmp(m1, m2, sizeof m1) != 0) return false;
    /* more rows than SMALL_M: the many-rows path (and its 12-row AVX-512 kernel, 7 rows at the end) */
    enum { M2 = 55 };
    static float a2[M2 * K], o1[M2 * N], o2[M2 * N];
    for (int i = 0; i < M2 * K; i++) a2[i] = (float)((i * 41) % 103) / 51.0f - 1.0f;
    mm_plain(o1, a2, pw, bias, M2, K, N);
    G.level = LV_PORTABLE;
    mm_plain(o2, a2, pw0, bias, M2, K, N);
    G.level = level;
    if (memcmp(o1, o2, sizeof o1) != 0) return false;
    /* the packed int8 kernels (q8p_*), in two k slices, against plain integer dot products */
    enum { K4 = KP / 4, NP = (N + 15) / 16, G6 = (M + 5) / 6 };
    static _Alignas(64) int8_t pk[NP * K4 * 64];
    static int32_t ap[G6 * K4 * 6], i3[G6 * 6 * NP * 16];
    gemm_q8 t = {.N = N, .K = KP, .Kp = KP, .q = qw, .pk = pk};
    q8p_pack(&t);
    for (int r = 0; r < G6 * 6; r++)
        for (int k4 = 0; k4 < K4; k4++) {
            int32_t v = 0;
            if (r < M) memcpy(&v, qa + (size_t)r * KP + 4 * k4, 4);
            ap[((size_t)(r / 6) * K4 + k4) * 6 + r % 6] = v;
        }
    for (int k0 = 0; k0 < K4; k0 += 48) {
        int kn = K4 - k0 < 48 ? K4 - k0 : 48;
        q8p_groups(i3, NP * 16, ap + (size_t)k0 * 6, (size_t)K4 * 6, G6, pk + (size_t)k0 * 64, (size_t)K4 * 64, NP, kn,
                   k0 > 0 ? MK_LOAD : 0, 0);
    }
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int k = 0; k < KP; k++) s += (int32_t)qa[i * KP + k] * qw[n * KP + k];
            if (i3[i * NP * 16 + n] != s) return false;
        }
    return true;
}

static void gemm_init_once(void)
{
    const char *force = getenv("JACLIP_GEMM");
    if (force && *force && strcmp(force, "portable") != 0 && strcmp(force, "avx2") != 0 &&
        strcmp(force, "avx512") != 0 && strcmp(force, "avx512vnni") != 0) {
        jc_warn("JACLIP_GEMM='%s' ignored: expected portable, avx2, avx512 or avx512vnni", force);
        force = NULL;
    }
    int level = LV_PORTABLE;
    bool vnni = false;
#ifdef JC_X86
    __builtin_cpu_init();
    bool wantv = !force || !*force || strcmp(force, "avx512vnni") == 0;
    bool want512 = wantv || strcmp(force, "avx512") == 0;
    bool want2 = want512 || strcmp(force, "avx2") == 0;
    if (want512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
        level = LV_AVX512;
        vnni = wantv && __builtin_cpu_supports("avx512vnni");
    } else if (want2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        level = LV_AVX2;
    }
#else
    (void)force;
#endif
    /* A guard for kernels that could not all be run on the machine they were written on: a
     * level whose kernels disagree with the portable ones falls back to the next one down. */
    static const char *names[] = {"portable", "avx2", "avx512"};
    for (;;) {
        G.level = level, G.vnni = vnni, G.name = vnni ? "avx512vnni" : names[level];
        block_init();
        if (level == LV_PORTABLE || self_check()) break;
        if (vnni) { /* only the VNNI int8 kernels may be wrong: AVX-512 without them first */
            jc_warn("GEMM kernel avx512vnni disagrees with the portable kernel on this CPU; using avx512");
            vnni = false;
            continue;
        }
        int down = level - 1;
#ifdef JC_X86
        if (down == LV_AVX2 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) down = LV_PORTABLE;
#endif
        jc_warn("GEMM kernel %s disagrees with the portable kernel on this CPU; using %s", G.name, names[down]);
        level = down, vnni = false;
    }
    __atomic_store_n(&G.init, 1, __ATOMIC_RELEASE);
}

/* Once per process, whichever thread gets here first; the others wait (the self-check
 * switches G.level while it runs, so it must never race with a kernel call). */
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;
static void gemm_init(void)
{
    if (__atomic_load_n(&G.init, __ATOMIC_ACQUIRE)) return;
    pthread_once(&gemm_once, gemm_init_once);
}


int gemm_level(void)
{
    gemm_init();
    return G.level;
}

const char *gemm_kernel_name(void)
{
    gemm_init();
    return G.name;
}

/* ---- grow-only scratch buffers --------------------------------------------------------
 * A per-call buffer of several MB (packed inputs or weights, quantized activations) would
 * cost page faults and kernel page clearing on every product (~3 % of an image GEMM), so
 * each kind has one buffer that only grows, lent to one call at a time; a call that
 * overlaps another (from a pool task) gets its own allocation instead. */
typedef struct {
    pthread_mutex_t mu;
    void *buf;
    size_t cap;
} scratch;
#define SCRATCH_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0}

typedef struct {
    void *p; /* NULL: out of memory */
    bool locked, own;
} scratch_lease;

static scratch_lease scratch_take(scratch *s, size_t need)
{
    scratch_lease l = {NULL, pthread_mutex_trylock(&s->mu) == 0, false};
    if (l.locked) {
        if (s->cap < need) {
            jc_free_aligned(s->buf);
            s->buf = jc_malloc_aligned(need);
            s->cap = s->buf ? need : 0;
        }
        l.p = s->buf;
    }
    if (!l.p) l.p = jc_malloc_aligned(need), l.own = true;
    return l;
}

static void scratch_give(scratch *s, scratch_lease *l)
{
    if (l->own) jc_free_aligned(l->p);
    if (l->locked) pthread_mutex_unlock(&s->mu);
    l->p = NULL, l->locked = l->own = false;
}

#define NBMAX 48 /* int8, portable level: W rows per task tile */

#ifdef JC_X86
/* masks for the last 0..8 lanes: mask_tab + 16 - n has n leading -1 */
static const int32_t mask_tab[32] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0};
#endif

/* Task order of every tiled product (fp32 mm_task, int8 q8p_task and q8_task): groups of GM
 * row tiles; inside a group the column tile changes slowest, so a W block (nb channels x K)
 * is read from memory once per group and then reused from L2/L3 by the group's row tiles,
 * while the group's rows of inp stay in L3. (Row-tile-major order re-read all of W once per
 * row tile: 17 x 12.6 MB for the fused fc1 of 8 images.) Task -> first row m0, channel n0. */
#define GM 8
static void tile_of(int task, int tiles_m, int tiles_n, int mc, int nb, int *m0, int *n0)
{
    int per_group = GM * tiles_n, g = task / per_group, r = task % per_group;
    int gm = tiles_m - g * GM < GM ? tiles_m - g * GM : GM;
    *m0 = (g * GM + r % gm) * mc;
    *n0 = (r / gm) * nb;
}

/* ==== fp32 matmul_forward: packed W, outer-product micro-kernels ============================
 * W (N,K) is packed into panels of PW = 16 output channels: panel jp holds, for every k,
 * w[16jp .. 16jp+15][k] contiguously (zero beyond N). A micro-kernel keeps a block of up to
 * 6 rows of inp x one panel (AVX2: 6 x 2 ymm) or two panels (AVX-512: 6 x 2 zmm, or 12 rows
 * = two 6-row groups in 24 zmm) in registers and, for k = 0, 1, ..., broadcasts inp[i][k] and does acc = fma(inp[i][k],
 * w[j][k], acc). Every output element is therefore the plain sequential fused-multiply-add
 * chain over k (then + bias), whatever M, the blocking, the thread or the dispatch level
 * (the portable kernel uses fmaf): batching cannot change a row, and all levels agree
 * bit for bit. K is cut into slices of KC; between slices the partial sums wait in out
 * and the chain resumes from them exactly.
 * inp is packed per call into groups of 6 rows (k-major), so a micro-kernel reads both
 * operands as single forward streams.
 * Blocking (G.kc, G.mc, G.nb, set per level in block_init): a task is a tile of at most
 * G.mc rows x G.nb channels (tasks handed out in groups of GM row tiles, see tile_of);
 * inside it, for each k slice of G.kc, each W panel slice (G.kc x 16) is reused
 * from L1/L2 by the task's 6-row groups. Weights are packed once at model load (gemm_pack_w,
 * matmul_packed_forward); matmul_forward packs per call into a scratch buffer. */
#define PW 16
/* Blocking (tuned on Zen 3, 2 threads, image batch 8: k slices of 768 over 256 measured
 * 196-228 vs 228-270 ms per image in alternated runs; fewer partial-sum round trips through
 * out, and a 48 KB panel slice still streams well from L2). */
#define KC2 768 /* k slice (the default G.kc) */
#define MC2 96  /* rows per task (the default G.mc) */
#define NB2 96  /* channels per task, a multiple of 2 * PW (the default G.nb) */
#define KC_MAX 1024
/* The blocking in use (G.kc, G.mc, G.nb, and G.mr: rows per AVX-512 micro-kernel call, 6 or
 * 12 = two 6-row groups) is set per level here; JACLIP_GEMM_BLOCK="KC,MC,NB,MR" overrides
 * it, to tune for a new CPU (bench/cpu_check.sh --sweep). Blocking never changes a result:
 * every element stays the same fma chain. */
static void block_init(void)
{
    G.kc = KC2, G.mc = MC2, G.nb = NB2, G.mr = 6;
    /* AVX-512 (measured on a Sapphire Rapids VM, 2 cores, bench/cpu_check.sh --sweep over 14
     * blockings): the 12-row kernel with k slices of 128 (a 16 KB panel-pair slice that stays
     * in L1 while the task's 96 rows stream from the 2 MB L2) ran the image products 18 %
     * faster than 768,96,96,6 (111 vs 136 ms) and the batch-8 text ones 16 % faster. */
    if (G.level == LV_AVX512) G.kc = 128, G.mr = 12;
    const char *e = getenv("JACLIP_GEMM_BLOCK");
    if (!e || !*e) return;
    int kc, mc, nb, mr = 6;
    if (sscanf(e, "%d,%d,%d,%d", &kc, &mc, &nb, &mr) < 3 || kc < 16 || kc > KC_MAX || mc < 6 || mc > 960 ||
        mc % 6 || nb < 2 * PW || nb > 1024 || nb % (2 * PW) || (mr != 6 && mr != 12)) {
        jc_warn("JACLIP_GEMM_BLOCK='%s' ignored: expected KC,MC,NB[,MR] with KC 16..%d, MC a multiple of 6 up "
                "to 960, NB a multiple of 32 up to 1024, MR 6 or 12", e, KC_MAX);
        return;
    }
    G.kc = kc, G.mc = mc, G.nb = nb, G.mr = G.level == LV_AVX512 ? mr : 6;
}

static inline size_t pw_panels(int N) { return (size_t)(N + PW - 1) / PW; }

/* Rows k0 .. k0+kn-1 of panel jp: dst[(k - k0)*PW + c] = w[16jp + c][k] (0 beyond N). */
static void pack_panel_portable(float *dst, const float *w, int N, int K, int jp, int k0, int kn)
{
    for (int k = 0; k < kn; k++)
        for (int c = 0; c < PW; c++) {
            int n = jp * PW + c;
            dst[(size_t)k * PW + c] = n < N ? w[(size_t)n * K + k0 + k] : 0.0f;
        }
}

#ifdef JC_X86
__attribute__((target("avx2,fma"))) static inline void tr8x8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* A full panel (16 rows inside N) with 8x8 transposes; the K tail by scalar copies. */
__attribute__((target("avx2,fma"))) static void pack_panel_avx2(float *dst, const float *w, int N, int K, int jp,
                                                                 int k0, int kn)
{
    if (jp * PW + PW > N) {
        pack_panel_portable(dst, w, N, K, jp, k0, kn);
        return;
    }
    const float *w0 = w + (size_t)jp * PW * K + k0;
    int k = 0;
    for (; k + 8 <= kn; k += 8)
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(w0 + (size_t)(h * 8 + q) * K + k);
            tr8x8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)(k + q) * PW + h * 8, r[q]);
        }
    for (; k < kn; k++)
        for (int c = 0; c < PW; c++) dst[(size_t)k * PW + c] = w0[(size_t)c * K + k];
}
#endif

static void pack_panel(float *dst, const float *w, int N, int K, int jp, int k0, int kn)
{
#ifdef JC_X86
    if (G.level >= LV_AVX2) {
        pack_panel_avx2(dst, w, N, K, jp, k0, kn);
        return;
    }
#endif
    pack_panel_portable(dst, w, N, K, jp, k0, kn);
}

typedef struct {
    float *dst;     /* fp32 panels, or NULL */
    uint16_t *hdst; /* fp16 panels, or NULL */
    const float *const *ws; /* parts, each (N, K); parts > 1 only when N % PW == 0 */
    int parts, N, K;
} pack_job;

#ifdef JC_X86
__attribute__((target("avx2,fma,f16c"))) static void to_f16_f16c(uint16_t *d, const float *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) d[i] = jc_f32_to_f16(s[i]);
}
#endif

static void to_f16(uint16_t *d, const float *s, size_t n)
{
#ifdef JC_X86
    if (G.level >= LV_AVX2) {
        to_f16_f16c(d, s, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) d[i] = jc_f32_to_f16(s[i]);
}

static void pack_task(void *ctx, int task, int thread)
{
    (void)thread;
    const pack_job *j = ctx;
    int pp = (int)pw_panels(j->N), np = pp * j->parts; /* panels per part, in all */
    enum { KS = 256 };
    _Alignas(64) float tmp[KS * PW]; /* fp16: a slice of the panel in fp32 before rounding */
    for (int jp = task * 4; jp < np && jp < task * 4 + 4; jp++) {
        const float *w = j->ws[jp / pp];
        if (!j->hdst) {
            pack_panel(j->dst + (size_t)jp * j->K * PW, w, j->N, j->K, jp % pp, 0, j->K);
            continue;
        }
        for (int k0 = 0; k0 < j->K; k0 += KS) {
            int kn = j->K - k0 < KS ? j->K - k0 : KS;
            pack_panel(tmp, w, j->N, j->K, jp % pp, k0, kn);
            to_f16(j->hdst + ((size_t)jp * j->K + k0) * PW, tmp, (size_t)kn * PW);
        }
    }
}

/* Packs the parts' panels into dst (fp32) or hdst (fp16), 4 panels per task; small ones serially. */
static void pack_parts(jaclip_pool *pool, float *dst, uint16_t *hdst, const float *const *ws, int parts, int N, int K)
{
    pack_job j = {dst, hdst, ws, parts, N, K};
    int tasks = (int)((pw_panels(N) * parts + 3) / 4);
    if (tasks == 1 || (size_t)N * K * parts < 65536) pool = NULL;
    jc_pool_run(pool, tasks, pack_task, &j);
}

static void pack_all(jaclip_pool *pool, float *dst, const float *w, int N, int K)
{
    pack_parts(pool, dst, NULL, &w, 1, N, K);
}

/* Fused parts must be whole 32-channel pairs of panels, so that no micro-kernel straddles two
 * (fp32 and int8 alike). */
static bool parts_ok(int parts, int N, int K)
{
    return parts >= 1 && parts <= GEMM_MAX_PARTS && (parts == 1 || N % (2 * PW) == 0) && K >= 1;
}

/* gemm_pack_w_parts (half = false) and gemm_pack_w_parts_f16 (half = true). */
static bool pack_w(jaclip_pool *pool, gemm_pw *p, const float *const *ws, int parts, int N, int K, bool half)
{
    gemm_init();
    memset(p, 0, sizeof *p);
    if (!parts_ok(parts, N, K)) return false;
    size_t n = pw_panels(N) * parts * (size_t)K * PW;
    p->N = N * parts, p->K = K, p->parts = parts;
    if (half ? !(p->h = jc_malloc_aligned(n * sizeof(uint16_t))) : !(p->p = jc_malloc_aligned(n * sizeof(float))))
        return false;
    pack_parts(pool, p->p, p->h, ws, parts, N, K);
    return true;
}

bool gemm_pack_w_parts(jaclip_pool *pool, gemm_pw *p, const float *const *ws, int parts, int N, int K)
{
    return pack_w(pool, p, ws, parts, N, K, false);
}

bool gemm_pack_w_parts_f16(jaclip_pool *pool, gemm_pw *p, const float *const *ws, int parts, int N, int K)
{
    return pack_w(pool, p, ws, parts, N, K, true);
}

bool gemm_pack_w(jaclip_pool *pool, gemm_pw *p, const float *w, int N, int K)
{
    return gemm_pack_w_parts(pool, p, &w, 1, N, K);
}

void gemm_pw_free(gemm_pw *p)
{
    if (!p) return;
    jc_free_aligned(p->p);
    jc_free_aligned(p->h);
    memset(p, 0, sizeof *p);
}

/* c (mr x nr, ldc) = [c +] a (a packed 6-row group: a[6k + i], kc k's) · panel (kc x PW)
 * [+ bias]; nr <= PW. */
static void mk_portable(float *c, int ldc, const float *a, const float *b, const uint16_t *bh, int kc, int mr, int nr,
                        const float *bias, int fl)
{
    for (int i = 0; i < mr; i++) {
        float acc[PW];
        for (int j = 0; j < PW; j++) acc[j] = (fl & MK_LOAD) && j < nr ? c[(size_t)i * ldc + j] : 0.0f;
        for (int k = 0; k < kc; k++)
            for (int j = 0; j < PW; j++)
                acc[j] = fmaf(a[(size_t)k * 6 + i], bh ? jc_f16_to_f32(bh[(size_t)k * PW + j]) : b[(size_t)k * PW + j],
                              acc[j]);
        for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = (fl & MK_LAST) && bias ? acc[j] + bias[j] : acc[j];
    }
}

#ifdef JC_X86
/* AVX2: R (6, 4 or 2) rows x 16 channels in 2R ymm; mr <= R. Only the R rows are computed
 * (a group's last rows beyond M are zero padding in the packed inp: a 16-token text is
 * 6 + 6 + 4 rows, not 18). Each element is the same fma chain whatever R. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
mk_avx2_body(float *c, int ldc, const float *a, const float *b, const uint16_t *bh, int kc, int mr, int nr,
             const float *bias, int fl, const int R)
{
    __m256i m0 = _mm256_loadu_si256((const __m256i *)(mask_tab + 16 - (nr < 8 ? nr : 8)));
    __m256i m1 = _mm256_loadu_si256((const __m256i *)(mask_tab + 16 - (nr > 8 ? nr - 8 : 0)));
    __m256 acc[6][2];
    _Pragma("GCC unroll 6") for (int i = 0; i < R; i++)
    {
        const float *ci = c + (size_t)(i < mr ? i : 0) * ldc;
        acc[i][0] = (fl & MK_LOAD) ? _mm256_maskload_ps(ci, m0) : _mm256_setzero_ps();
        acc[i][1] = (fl & MK_LOAD) ? _mm256_maskload_ps(ci + 8, m1) : _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; k++, a += 6) {
        __m256 b0, b1;
        if (bh) { /* fp16 weights: half the bytes to stream; F16C widens them exactly */
            b0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)bh));
            b1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(bh + 8)));
            bh += PW;
        } else {
            b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
            b += PW;
        }
        _Pragma("GCC unroll 6") for (int i = 0; i < R; i++)
        {
            __m256 x = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
    if ((fl & MK_LAST) && bias) {
        __m256 b0 = _mm256_maskload_ps(bias, m0), b1 = _mm256_maskload_ps(bias + 8, m1);
        _Pragma("GCC unroll 6") for (int i = 0; i < R; i++)
        {
            acc[i][0] = _mm256_add_ps(acc[i][0], b0);
            acc[i][1] = _mm256_add_ps(acc[i][1], b1);
        }
    }
    _Pragma("GCC unroll 6") for (int i = 0; i < R; i++)
    {
        if (i >= mr) break;
        if (nr == PW) {
            _mm256_storeu_ps(c + (size_t)i * ldc, acc[i][0]);
            _mm256_storeu_ps(c + (size_t)i * ldc + 8, acc[i][1]);
        } else {
            _mm256_maskstore_ps(c + (size_t)i * ldc, m0, acc[i][0]);
            _mm256_maskstore_ps(c + (size_t)i * ldc + 8, m1, acc[i][1]);
        }
    }
}

__attribute__((target("avx2,fma,f16c"))) static void mk_avx2(float *c, int ldc, const float *a, const float *b, int kc,
                                                              int mr, int nr, const float *bias, int fl)
{
    if (mr > 4) mk_avx2_body(c, ldc, a, b, NULL, kc, mr, nr, bias, fl, 6);
    else if (mr > 2) mk_avx2_body(c, ldc, a, b, NULL, kc, mr, nr, bias, fl, 4);
    else mk_avx2_body(c, ldc, a, b, NULL, kc, mr, nr, bias, fl, 2);
}

__attribute__((target("avx2,fma,f16c"))) static void mk_avx2h(float *c, int ldc, const float *a, const uint16_t *bh,
                                                               int kc, int mr, int nr, const float *bias, int fl)
{
    if (mr > 4) mk_avx2_body(c, ldc, a, NULL, bh, kc, mr, nr, bias, fl, 6);
    else if (mr > 2) mk_avx2_body(c, ldc, a, NULL, bh, kc, mr, nr, bias, fl, 4);
    else mk_avx2_body(c, ldc, a, NULL, bh, kc, mr, nr, bias, fl, 2);
}

/* AVX-512: R = 6 rows x 32 channels (two panels, b and b2 = the next panel) in 12 zmm, or
 * R = 12 rows (two 6-row groups, a and a2) in 24 zmm; nr <= 32, mr <= R. half: the panels
 * are fp16 (bh, bh2), widened exactly. Each element is the same fma chain as in mk_avx2. */
__attribute__((target("avx512f"), always_inline)) static inline void
mk512_body(float *c, int ldc, const float *a, const float *a2, const float *b, const float *b2, const uint16_t *bh,
           const uint16_t *bh2, int kc, int mr, int nr, const float *bias, int fl, const int R, const bool half)
{
    __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    __mmask16 k1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    __m512 acc[12][2];
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++)
    {
        const float *ci = c + (size_t)(i < mr ? i : 0) * ldc;
        acc[i][0] = (fl & MK_LOAD) ? _mm512_maskz_loadu_ps(k0, ci) : _mm512_setzero_ps();
        acc[i][1] = (fl & MK_LOAD) ? _mm512_maskz_loadu_ps(k1, ci + 16) : _mm512_setzero_ps();
    }
    if (!k1) b2 = b, bh2 = bh;
    for (int k = 0; k < kc; k++) {
        __m512 v0, v1;
        if (half) {
            v0 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(bh + (size_t)k * PW)));
            v1 = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(bh2 + (size_t)k * PW)));
        } else {
            v0 = _mm512_load_ps(b + (size_t)k * PW), v1 = _mm512_load_ps(b2 + (size_t)k * PW);
        }
        _Pragma("GCC unroll 12") for (int i = 0; i < R; i++)
        {
            __m512 x = _mm512_set1_ps(i < 6 ? a[(size_t)k * 6 + i] : a2[(size_t)k * 6 + i - 6]);
            acc[i][0] = _mm512_fmadd_ps(x, v0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(x, v1, acc[i][1]);
        }
    }
    __m512 bv0 = _mm512_setzero_ps(), bv1 = _mm512_setzero_ps();
    bool addb = (fl & MK_LAST) && bias;
    if (addb) bv0 = _mm512_maskz_loadu_ps(k0, bias), bv1 = _mm512_maskz_loadu_ps(k1, bias + 16);
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++)
    {
        if (i >= mr) break;
        __m512 r0 = addb ? _mm512_add_ps(acc[i][0], bv0) : acc[i][0];
        __m512 r1 = addb ? _mm512_add_ps(acc[i][1], bv1) : acc[i][1];
        _mm512_mask_storeu_ps(c + (size_t)i * ldc, k0, r0);
        if (k1) _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16, k1, r1);
    }
}

__attribute__((target("avx512f"))) static void mk_avx512(float *c, int ldc, const float *a, const float *b,
                                                          const float *b2, const uint16_t *bh, const uint16_t *bh2,
                                                          int kc, int mr, int nr, const float *bias, int fl)
{
    if (bh) mk512_body(c, ldc, a, NULL, NULL, NULL, bh, bh2, kc, mr, nr, bias, fl, 6, true);
    else mk512_body(c, ldc, a, NULL, b, b2, NULL, NULL, kc, mr, nr, bias, fl, 6, false);
}

__attribute__((target("avx512f"))) static void mk_avx512_12(float *c, int ldc, const float *a, const float *a2,
                                                             const float *b, const float *b2, const uint16_t *bh,
                                                             const uint16_t *bh2, int kc, int mr, int nr,
                                                             const float *bias, int fl)
{
    if (bh) mk512_body(c, ldc, a, a2, NULL, NULL, bh, bh2, kc, mr, nr, bias, fl, 12, true);
    else mk512_body(c, ldc, a, a2, b, b2, NULL, NULL, kc, mr, nr, bias, fl, 12, false);
}
#endif

typedef struct {
    float *const *outs;        /* one (M, N/parts) output per part */
    const float *const *biases; /* one bias (or NULL) per part */
    const float *inp, *pw; /* pw: fp32 panels, or NULL when pwh (fp16 panels) is set */
    const uint16_t *pwh;
    float *ap; /* inp packed in 6-row groups: group g, k -> ap[(g*K + k)*6 + i] (zero padded) */
    int M, K, N, parts, mc, nb, tiles_m, tiles_n;
} mm_job;

/* Packs rows [6g, 6g+6) of inp (zero beyond M). */
static void pack_group(float *dst, const float *inp, int M, int K, int g)
{
    int rows = M - 6 * g < 6 ? M - 6 * g : 6;
    const float *r = inp + (size_t)6 * g * K;
    if (rows == 6) {
        for (int k = 0; k < K; k++)
            for (int i = 0; i < 6; i++) dst[(size_t)k * 6 + i] = r[(size_t)i * K + k];
        return;
    }
    for (int k = 0; k < K; k++)
        for (int i = 0; i < 6; i++) dst[(size_t)k * 6 + i] = i < rows ? r[(size_t)i * K + k] : 0.0f;
}

static void pack_a_task(void *ctx, int task, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    int groups = (j->M + 5) / 6;
    for (int g = task * 8; g < groups && g < task * 8 + 8; g++) pack_group(j->ap + (size_t)g * j->K * 6, j->inp, j->M, j->K, g);
}

/* b: fp32 panel slice, or bh: fp16 (the other NULL); pstride: elements to the next panel. */
/* One micro-kernel call on the rows from a (a packed 6-row group; the next group is a + 6K):
 * 12 rows where the AVX-512 12-row kernel is in use and more than 6 are left, else up to 6.
 * Returns the rows it covered. */
static inline int mk_call(int level, float *c, int ldc, const float *a, size_t K, const float *b, const uint16_t *bh,
                          size_t pstride, int kc, int left, int nr, const float *bias, int fl)
{
    int mr = left < 6 ? left : 6;
#ifdef JC_X86
    if (level == LV_AVX512 && G.mr == 12 && left > 6) {
        mk_avx512_12(c, ldc, a, a + 6 * K, b, b ? b + pstride : NULL, bh, bh ? bh + pstride : NULL, kc,
                     left < 12 ? left : 12, nr, bias, fl);
        return 12;
    }
    if (level == LV_AVX512) {
        mk_avx512(c, ldc, a, b, b ? b + pstride : NULL, bh, bh ? bh + pstride : NULL, kc, mr, nr, bias, fl);
        return 6;
    }
    if (level == LV_AVX2) {
        if (bh) mk_avx2h(c, ldc, a, bh, kc, mr, nr, bias, fl);
        else mk_avx2(c, ldc, a, b, kc, mr, nr, bias, fl);
        return 6;
    }
#endif
    (void)level, (void)pstride, (void)K;
    mk_portable(c, ldc, a, b, bh, kc, mr, nr, bias, fl);
    return 6;
}

static void mm_task(void *ctx, int task, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    int m0, n0;
    tile_of(task, j->tiles_m, j->tiles_n, j->mc, j->nb, &m0, &n0);
    int mb = j->M - m0 < j->mc ? j->M - m0 : j->mc, nb = j->N - n0 < j->nb ? j->N - n0 : j->nb;
    int K = j->K, level = G.level, pn = j->N / j->parts; /* pn: channels per part (ldc) */
    const int KC = G.kc;
    int step = level == LV_AVX512 ? 2 * PW : PW;
    size_t ps = (size_t)K * PW;
    /* column n of the product is column n % pn of part n / pn (parts are multiples of 2*PW,
     * so no micro-kernel straddles two) */
#define OUT(n) (j->outs[(n) / pn] + (n) % pn)
#define BIAS(n) (j->biases[(n) / pn] ? j->biases[(n) / pn] + (n) % pn : NULL)
    int N = pn;
    if (j->M <= SMALL_M) {
        /* few rows (a batch-1 text): W comes from memory once; walk it in address order
         * (panel by panel, k slices inside: the packed panels are contiguous), one forward
         * stream per task that the hardware prefetcher follows. (Software prefetches of the
         * next slice, spread over the row groups, were measured on Zen 3 to make batch-1
         * texts 12-18 % slower at 7 tokens and 4-9 % at 16: bench/README.md.) fp16 weights
         * are widened inside the micro-kernel by every row group; widening a slice once into
         * a buffer for all of them was 10-25 % slower at batch 1 on Zen 3 (bench/README.md). */
        for (int n = n0; n < n0 + nb; n += step) {
            int nr = n0 + nb - n < step ? n0 + nb - n : step;
            const float *bias = BIAS(n);
            for (int k0 = 0; k0 < K; k0 += KC) {
                int kc = K - k0 < KC ? K - k0 : KC;
                int fl = (k0 > 0 ? MK_LOAD : 0) | (k0 + kc == K ? MK_LAST : 0);
                size_t bo = (size_t)(n / PW) * ps + (size_t)k0 * PW;
                const float *b = j->pw ? j->pw + bo : NULL;
                const uint16_t *bh = j->pwh ? j->pwh + bo : NULL;
                for (int i = m0; i < m0 + mb;)
                    i += mk_call(level, OUT(n) + (size_t)i * N, N, j->ap + ((size_t)(i / 6) * K + k0) * 6, (size_t)K,
                                 b, bh, ps, kc, m0 + mb - i, nr, bias, fl);
            }
        }
        return;
    }
    /* many rows: each W panel slice stays close (L1/L2) while the task's row groups (its
     * packed inp block, G.mc x G.kc) stream past */
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int fl = (k0 > 0 ? MK_LOAD : 0) | (k0 + kc == K ? MK_LAST : 0);
        for (int n = n0; n < n0 + nb; n += step) {
            int nr = n0 + nb - n < step ? n0 + nb - n : step;
            size_t bo = (size_t)(n / PW) * ps + (size_t)k0 * PW;
            const float *b = j->pw ? j->pw + bo : NULL;
            const uint16_t *bh = j->pwh ? j->pwh + bo : NULL;
            const float *bias = BIAS(n);
            for (int i = m0; i < m0 + mb;)
                i += mk_call(level, OUT(n) + (size_t)i * N, N, j->ap + ((size_t)(i / 6) * K + k0) * 6, (size_t)K, b,
                             bh, ps, kc, m0 + mb - i, nr, bias, fl);
        }
    }
#undef OUT
#undef BIAS
}

static scratch ap_scratch = SCRATCH_INIT; /* the packed inp */

/* N: all channels (parts x N/parts). */
static void mm_run(jaclip_pool *pool, float *const *outs, const float *inp, const float *pw, const uint16_t *pwh,
                   const float *const *biases, int parts, int M, int K, int N)
{
    int pn = N / parts;
    if (K <= 0) { /* an empty sum */
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++)
                outs[n / pn][(size_t)i * pn + n % pn] = biases[n / pn] ? biases[n / pn][n % pn] : 0.0f;
        return;
    }
    int threads = pool ? jaclip_pool_size(pool) : 1;
    if (threads < 2) pool = NULL;
    scratch_lease sl = scratch_take(&ap_scratch, (size_t)((M + 5) / 6) * K * 6 * sizeof(float));
    float *ap = sl.p;
    if (!ap) { /* out of memory: the same fma chains, one element at a time */
        scratch_give(&ap_scratch, &sl);
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++) {
                float s = 0;
                for (int k = 0; k < K; k++)
                {
                    size_t o = ((size_t)(n / PW) * K + k) * PW + n % PW;
                    s = fmaf(inp[(size_t)i * K + k], pwh ? jc_f16_to_f32(pwh[o]) : pw[o], s);
                }
                const float *b = biases[n / pn];
                outs[n / pn][(size_t)i * pn + n % pn] = b ? s + b[n % pn] : s;
            }
        return;
    }
    /* row tiles of at most G.mc rows, balanced (136 rows: 2 x 72, not 96 + 40), whole groups */
    int tiles_m = (M + G.mc - 1) / G.mc, mc = ((M + tiles_m - 1) / tiles_m + 5) / 6 * 6, nb = G.nb;
    tiles_m = (M + mc - 1) / mc;
    /* few row tiles (a batch-1 text): cut N finer so that every thread has several tasks */
    while (nb > 2 * PW && tiles_m * ((N + nb - 1) / nb) < 8 * threads) nb -= 2 * PW;
    mm_job j = {outs, biases, inp, pw, pwh, ap, M, K, N, parts, mc, nb, tiles_m, (N + nb - 1) / nb};
    int groups = (M + 5) / 6;
    jc_pool_run(groups > 8 ? pool : NULL, (groups + 7) / 8, pack_a_task, &j);
    jc_pool_run(pool, tiles_m * j.tiles_n, mm_task, &j);
    scratch_give(&ap_scratch, &sl);
}

void matmul_packed_forward(jaclip_pool *pool, float *out, const float *inp, const gemm_pw *w, const float *bias, int M)
{
    if (M <= 0 || w->N <= 0) return;
    gemm_init();
    double t0 = kprof_enabled() ? jc_now() : 0;
    mm_run(pool, &out, inp, w->p, w->h, &bias, 1, M, w->K, w->N);
    if (t0 > 0) {
        char name[48];
        snprintf(name, sizeof name, "gemm %s K=%d N=%d", w->h ? "fp16w" : "fp32", w->K, w->N);
        kprof_add(name, jc_now() - t0, 2.0 * M * w->K * w->N);
    }
}

void matmul_packed_forward_parts(jaclip_pool *pool, float *const *outs, const float *inp, const gemm_pw *w,
                                 const float *const *biases, int M)
{
    if (M <= 0 || w->N <= 0) return;
    gemm_init();
    double t0 = kprof_enabled() ? jc_now() : 0;
    mm_run(pool, outs, inp, w->p, w->h, biases, w->parts, M, w->K, w->N);
    if (t0 > 0) {
        char name[48];
        snprintf(name, sizeof name, "gemm %s K=%d N=%dx%d", w->h ? "fp16w" : "fp32", w->K, w->parts, w->N / w->parts);
        kprof_add(name, jc_now() - t0, 2.0 * M * w->K * w->N);
    }
}

static scratch pk_scratch = SCRATCH_INIT; /* W packed per call */

/* Serial, on W packed by the caller: the self-check at dispatch time. */
static void mm_plain(float *out, const float *inp, const float *pw, const float *bias, int M, int K, int N)
{
    mm_run(NULL, &out, inp, pw, NULL, &bias, 1, M, K, N);
}

void matmul_forward(jaclip_pool *pool, float *out, const float *inp, const float *w, const float *bias, int M, int K,
                    int N)
{
    if (M <= 0 || N <= 0) return;
    gemm_init();
    double t0 = kprof_enabled() ? jc_now() : 0;
    scratch_lease sl = scratch_take(&pk_scratch, pw_panels(N) * (size_t)(K > 0 ? K : 1) * PW * sizeof(float));
    float *buf = sl.p;
    if (!buf) { /* out of memory: the same fma chains, one element at a time */
        scratch_give(&pk_scratch, &sl);
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++) {
                float s = 0;
                for (int k = 0; k < K; k++) s = fmaf(inp[(size_t)i * K + k], w[(size_t)n * K + k], s);
                out[(size_t)i * N + n] = bias ? s + bias[n] : s;
            }
        return;
    }
    pack_all(pool, buf, w, N, K);
    mm_run(pool, &out, inp, buf, NULL, &bias, 1, M, K, N);
    scratch_give(&pk_scratch, &sl);
    if (t0 > 0) {
        char name[48];
        snprintf(name, sizeof name, "gemm fp32 K=%d N=%d", K, N);
        kprof_add(name, jc_now() - t0, 2.0 * M * K * N);
    }
}

/* ==== int8 ================================================================================
 * Weights: symmetric int8 per output channel, w ≈ q·scale, q in [-127, 127], plus the row
 * sums of q. Activations: asymmetric 7-bit per row, a ≈ sa·(x − z) with x in [0, 127]
 * (the same step as symmetric 8-bit over the row's range). Products x·q then never
 * saturate the 16-bit pair sums of AVX2 vpmaddubsw (2·127·127 < 32767), so
 *   Σ a·w ≈ sa·sw·(Σ x·q − z·Σ q)
 * is exact integer arithmetic at every dispatch level (AVX2 vpmaddubsw+vpmaddwd, AVX-512
 * the same on zmm, or vpdpbusd with VNNI, portable C). */
#define KQ 64 /* K padding of the int8 rows: one zmm */

void gemm_q8_free(gemm_q8 *q)
{
    if (!q) return;
    jc_free_aligned(q->q);
    jc_free_aligned(q->pk);
    free(q->scale);
    free(q->rowsum);
    memset(q, 0, sizeof *q);
}

typedef struct {
    gemm_q8 *q;
    const float *const *ws; /* one (pn, K) weight per part */
    int pn;
} q8_quant_job;

#ifdef JC_X86
/* max |r[k]| over the multiple-of-8 prefix; returns how many were done */
__attribute__((target("avx2,fma"))) static int q8_absmax_avx2(const float *r, int K, float *amax)
{
    __m256 m = _mm256_setzero_ps(), sgn = _mm256_set1_ps(-0.0f);
    int k = 0;
    for (; k + 8 <= K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sgn, _mm256_loadu_ps(r + k)));
    float t[8];
    _mm256_storeu_ps(t, m);
    for (int q = 0; q < 8; q++) *amax = fmaxf(*amax, t[q]);
    return k;
}

/* o[k] = clamp(round(r[k]*inv), -127, 127), sum += o[k], over the multiple-of-8 prefix */
__attribute__((target("avx2,fma"))) static int q8_wquant_avx2(const float *r, int K, float inv, int8_t *o, int32_t *sum)
{
    __m256 iv = _mm256_set1_ps(inv);
    __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127), acc = _mm256_setzero_si256();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k), iv));
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        acc = _mm256_add_epi32(acc, q);
        __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(void *)(o + k), _mm_packs_epi16(p16, p16));
    }
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)(void *)t, acc);
    for (int q = 0; q < 8; q++) *sum += t[q];
    return k;
}
#endif

static void q8_quant_task(void *ctx, int task, int thread)
{
    (void)thread;
    const q8_quant_job *j = ctx;
    gemm_q8 *q = j->q;
    for (int n = task * 64; n < q->N && n < task * 64 + 64; n++) {
        const float *r = j->ws[n / j->pn] + (size_t)(n % j->pn) * q->K; /* a row is quantized alone */
        float amax = 0;
        int k0 = 0;
#ifdef JC_X86
        bool v = G.level >= LV_AVX2;
        if (v) k0 = q8_absmax_avx2(r, q->K, &amax);
#endif
        for (int k = k0; k < q->K; k++) amax = fmaxf(amax, fabsf(r[k]));
        float s = amax > 0 ? amax / 127.0f : 1.0f, inv = 1.0f / s;
        int8_t *o = q->q + (size_t)n * q->Kp;
        int32_t sum = 0;
        k0 = 0;
#ifdef JC_X86
        if (v) k0 = q8_wquant_avx2(r, q->K, inv, o, &sum);
#endif
        for (int k = k0; k < q->K; k++) {
            long v = lrintf(r[k] * inv);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            o[k] = (int8_t)v;
            sum += (int32_t)v;
        }
        for (int k = q->K; k < q->Kp; k++) o[k] = 0;
        q->scale[n] = s;
        q->rowsum[n] = sum;
    }
}

bool gemm_q8_quantize_parts(jaclip_pool *pool, gemm_q8 *q, const float *const *ws, int parts, int N, int K)
{
    gemm_init();
    memset(q, 0, sizeof *q);
    if (!parts_ok(parts, N, K)) return false;
    q->N = N * parts, q->K = K, q->Kp = (K + KQ - 1) / KQ * KQ, q->parts = parts;
    size_t Nt = (size_t)q->N;
    q->q = jc_malloc_aligned(Nt * q->Kp);
    q->scale = malloc(Nt * sizeof(float));
    q->rowsum = malloc(Nt * sizeof(int32_t));
    if (!q->q || !q->scale || !q->rowsum) {
        gemm_q8_free(q);
        return false;
    }
    q8_quant_job j = {q, ws, N};
    jc_pool_run(pool, (q->N + 63) / 64, q8_quant_task, &j);
    if (G.level >= LV_AVX2) { /* the outer-product kernels' panels (q8p_* below) */
        size_t panels = (Nt + PW - 1) / PW;
        q->pk = jc_malloc_aligned(panels * (size_t)q->Kp * PW);
        if (!q->pk) {
            gemm_q8_free(q);
            return false;
        }
        q8p_pack(q);
    }
    return true;
}

bool gemm_q8_quantize(jaclip_pool *pool, gemm_q8 *q, const float *w, int N, int K)
{
    return gemm_q8_quantize_parts(pool, q, &w, 1, N, K);
}

gemm_q8 gemm_q8_parts_view(const gemm_q8 *q, int p0, int n)
{
    int pn = q->N / (q->parts > 0 ? q->parts : 1);
    size_t c0 = (size_t)p0 * pn; /* first channel; a multiple of 2*PW, so a whole panel */
    gemm_q8 v = {.N = n * pn, .K = q->K, .Kp = q->Kp, .parts = n, .q = q->q + c0 * q->Kp,
                 .pk = q->pk ? q->pk + c0 * q->Kp : NULL, .scale = q->scale + c0, .rowsum = q->rowsum + c0};
    return v;
}

/* ---- int8, outer-product form (AVX2, AVX-512, AVX-512 VNNI) ---------------------------------
 * Weights in panels of 16 channels x 4 k's: pk[((jp*K4 + k4)*16 + c)*4 + t] = q[16jp + c][4k4 + t]
 * (zero beyond N); activations in groups of 6 rows, one 32-bit word (4 k's) per row and k4.
 * A micro-kernel keeps 6 rows x 16 channels of int32 sums in 12 ymm; per k4 it broadcasts
 * each row's word and does vpmaddubsw (u8 x s8 -> s16 pairs, never saturating with 7-bit
 * activations) + vpmaddwd by 1 (-> s32) + vpaddd. Integer sums are exact, so the results are
 * those of every other int8 kernel, bit for bit. */
static void q8p_pack(gemm_q8 *q)
{
    int K4 = q->Kp / 4, np = (q->N + PW - 1) / PW;
    for (int jp = 0; jp < np; jp++)
        for (int k4 = 0; k4 < K4; k4++)
            for (int c = 0; c < PW; c++) {
                int n = jp * PW + c;
                int32_t v = 0;
                if (n < q->N) memcpy(&v, q->q + (size_t)n * q->Kp + 4 * k4, 4);
                memcpy(q->pk + (((size_t)jp * K4 + k4) * PW + c) * 4, &v, 4);
            }
}

#ifdef JC_X86
/* c (6 x 16 int32, ldc) [+]= group a (k4n words per row, 6 rows interleaved) · panel b. */
__attribute__((target("avx2"))) static void q8p_mk_avx2(int32_t *c, int ldc, const int32_t *a, const int8_t *b,
                                                         int k4n, int fl)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (fl & MK_LOAD) {
#define LD(I, R0, R1)                                                                                                     R0 = _mm256_loadu_si256((const __m256i *)(c + (size_t)I * ldc)),                                                      R1 = _mm256_loadu_si256((const __m256i *)(c + (size_t)I * ldc + 8));
        LD(0, c00, c01) LD(1, c10, c11) LD(2, c20, c21) LD(3, c30, c31) LD(4, c40, c41) LD(5, c50, c51)
#undef LD
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_si256();
    }
    int kpf = fl & MK_PF ? k4n : 0;
    for (int k = 0; k < k4n; k++, a += 6, b += 64) {
        if (k < kpf && (k & 1) == 0) _mm_prefetch((const char *)(b + 64 * 32), _MM_HINT_T0);
        __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 32)), x;
#define ROW(I, R0, R1)                                                                                                    x = _mm256_set1_epi32(a[I]);                                                                                          R0 = _mm256_add_epi32(R0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));                                      R1 = _mm256_add_epi32(R1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
    }
#define ST(I, R0, R1)                                                                                                     _mm256_storeu_si256((__m256i *)(c + (size_t)I * ldc), R0),                                                                _mm256_storeu_si256((__m256i *)(c + (size_t)I * ldc + 8), R1);
    ST(0, c00, c01) ST(1, c10, c11) ST(2, c20, c21) ST(3, c30, c31) ST(4, c40, c41) ST(5, c50, c51)
#undef ST
}

/* The same on zmm (AVX-512BW; vpdpbusd with VNNI): a whole panel step (16 channels x 4 k's,
 * 64 bytes) is one register. R_ = 6 rows (group a) or 12 (two groups: a, then a2) times NP_ = 1
 * or 2 adjacent panels (b, b + bstride): up to 24 accumulators, and per k4 step NP_ weight
 * loads and R_ broadcasts. The integer sums are exact, as above. */
#define Q8P_512(NAME_, TGT_, VNNI_, R_, NP_)                                                                       \
    __attribute__((target(TGT_))) static void NAME_(int32_t *c, int ldc, const int32_t *a, const int32_t *a2,      \
                                                    const int8_t *b, size_t bstride, int k4n, int fl)             \
    {                                                                                                             \
        const __m512i ones = _mm512_set1_epi16(1);                                                                \
        __m512i acc[R_][NP_];                                                                                     \
        _Pragma("GCC unroll 12") for (int i = 0; i < R_; i++) _Pragma("GCC unroll 2") for (int p = 0; p < NP_; p++) \
            acc[i][p] = (fl & MK_LOAD) ? _mm512_loadu_si512((const void *)(c + (size_t)i * ldc + 16 * p))         \
                                       : _mm512_setzero_si512();                                                  \
        int kpf = fl & MK_PF ? k4n : 0;                                                                           \
        for (int k = 0; k < k4n; k++, a += 6, a2 += R_ == 12 ? 6 : 0, b += 64) {                                  \
            __m512i w[NP_];                                                                                       \
            _Pragma("GCC unroll 2") for (int p = 0; p < NP_; p++)                                                 \
            {                                                                                                     \
                if (k < kpf) _mm_prefetch((const char *)(b + (size_t)p * bstride + 64 * 32), _MM_HINT_T0);        \
                w[p] = _mm512_load_si512((const void *)(b + (size_t)p * bstride));                                \
            }                                                                                                     \
            _Pragma("GCC unroll 12") for (int i = 0; i < R_; i++)                                                 \
            {                                                                                                     \
                __m512i x = _mm512_set1_epi32(i < 6 ? a[i] : a2[i - 6]);                                          \
                _Pragma("GCC unroll 2") for (int p = 0; p < NP_; p++) acc[i][p] =                                 \
                    VNNI_ ? _mm512_dpbusd_epi32(acc[i][p], x, w[p])                                               \
                          : _mm512_add_epi32(acc[i][p], _mm512_madd_epi16(_mm512_maddubs_epi16(x, w[p]), ones));  \
            }                                                                                                     \
        }                                                                                                         \
        _Pragma("GCC unroll 12") for (int i = 0; i < R_; i++) _Pragma("GCC unroll 2") for (int p = 0; p < NP_; p++) \
            _mm512_storeu_si512((void *)(c + (size_t)i * ldc + 16 * p), acc[i][p]);                               \
    }
Q8P_512(q8p_mk_512_1, "avx512f,avx512bw", 0, 6, 1)
Q8P_512(q8p_mk_512_2, "avx512f,avx512bw", 0, 6, 2)
Q8P_512(q8p_mk_512_12, "avx512f,avx512bw", 0, 12, 2)
Q8P_512(q8p_mk_512v_1, "avx512f,avx512bw,avx512vnni", 1, 6, 1)
Q8P_512(q8p_mk_512v_2, "avx512f,avx512bw,avx512vnni", 1, 6, 2)
Q8P_512(q8p_mk_512v_12, "avx512f,avx512bw,avx512vnni", 1, 12, 2)
#undef Q8P_512
#endif

/* np (>= 1) adjacent panels (b, b + bstride, ...) x one 6-row group at the current level:
 * AVX-512 takes them two at a time, AVX2 one at a time. */
static void q8p_block(int32_t *c, int ldc, const int32_t *a, const int8_t *b, size_t bstride, int np, int k4n,
                      int fl)
{
#ifdef JC_X86
    if (G.level == LV_AVX512) {
        for (int p = 0; p < np; p += 2) {
            bool two = np - p >= 2;
            if (G.vnni)
                (two ? q8p_mk_512v_2 : q8p_mk_512v_1)(c + p * PW, ldc, a, a, b + p * bstride, bstride, k4n, fl);
            else
                (two ? q8p_mk_512_2 : q8p_mk_512_1)(c + p * PW, ldc, a, a, b + p * bstride, bstride, k4n, fl);
        }
        return;
    }
    for (int p = 0; p < np; p++) q8p_mk_avx2(c + p * PW, ldc, a, b + p * bstride, k4n, fl);
#else
    (void)c, (void)ldc, (void)a, (void)b, (void)bstride, (void)np, (void)k4n, (void)fl;
#endif
}

/* gb 6-row groups (the first at a, the next ones gstride words apart) x np panels; at AVX-512
 * two groups and two panels at a time go to the 12-row kernel. pf: flags for the first group
 * only (MK_PF). */
static void q8p_groups(int32_t *c, int ldc, const int32_t *a, size_t gstride, int gb, const int8_t *b,
                       size_t bstride, int np, int k4n, int fl, int pf)
{
    int step = G.level == LV_AVX512 ? 2 : np;
    for (int p = 0; p < np; p += step) {
        int npp = np - p < step ? np - p : step;
        for (int g = 0; g < gb;) {
            int32_t *cg = c + (size_t)g * 6 * ldc + p * PW;
            const int8_t *bp = b + (size_t)p * bstride;
            int f = fl | (g == 0 ? pf : 0);
#ifdef JC_X86
            if (G.level == LV_AVX512 && npp == 2 && gb - g >= 2) {
                (G.vnni ? q8p_mk_512v_12 : q8p_mk_512_12)(cg, ldc, a + g * gstride, a + (g + 1) * gstride, bp,
                                                          bstride, k4n, f);
                g += 2;
                continue;
            }
#endif
            q8p_block(cg, ldc, a + g * gstride, bp, bstride, npp, k4n, f);
            g++;
        }
    }
}

#define Q8P_MC 96  /* rows per task */
#define Q8P_NB 96  /* channels per task */
#define Q8P_K4 256 /* k4 words per slice: 16 KB of a panel */

/* Where the product's columns go: column n is column n % pn of outs[n / pn], biased by
 * biases[n / pn] (or not, when NULL); one part (pn = N) for a plain product. */
typedef struct {
    float *const *outs;
    const float *const *biases;
    int pn;
} q8_dst;

/* Rows m0 .. m0+mb-1, columns n0 .. n0+nb-1 of the int32 sums (acc, ldc) to fp32, one part's
 * run of columns at a time: the same expression for every element whatever the parts, so a
 * fused product gives the bits of the separate ones. */
static void q8_store(const q8_dst *d, const gemm_q8 *W, const int32_t *acc, int ldc, int m0, int mb, int n0, int nb,
                     const float *ascale, const int32_t *azero)
{
    int pn = d->pn;
    for (int n = n0; n < n0 + nb;) {
        int p = n / pn, c0 = n - p * pn, e = (p + 1) * pn < n0 + nb ? (p + 1) * pn : n0 + nb, cn = e - n;
        const float *bias = d->biases[p] ? d->biases[p] + c0 : NULL;
        const float *ws = W->scale + n;
        const int32_t *wr = W->rowsum + n;
        for (int r = 0; r < mb; r++) {
            float sa = ascale[m0 + r];
            int32_t z = azero[m0 + r];
            float *o = d->outs[p] + (size_t)(m0 + r) * pn + c0;
            const int32_t *ar = acc + (size_t)r * ldc + (n - n0);
            for (int q = 0; q < cn; q++) {
                float v = (float)(ar[q] - z * wr[q]) * (sa * ws[q]);
                o[q] = bias ? v + bias[q] : v;
            }
        }
        n = e;
    }
}

typedef struct {
    q8_dst dst;
    const gemm_q8 *w;
    const int32_t *ap; /* grouped activation words */
    const float *ascale;
    const int32_t *azero;
    int M, mc, nb, tiles_m, tiles_n;
} q8p_job;

static void q8p_task(void *ctx, int task, int thread)
{
    (void)thread;
    const q8p_job *j = ctx;
    const gemm_q8 *W = j->w;
    int N = W->N, K4 = W->Kp / 4;
    int m0, n0;
    tile_of(task, j->tiles_m, j->tiles_n, j->mc, j->nb, &m0, &n0);
    int mb = j->M - m0 < j->mc ? j->M - m0 : j->mc, nb = N - n0 < j->nb ? N - n0 : j->nb;
    int gb = (mb + 5) / 6, pb = (nb + PW - 1) / PW;
    _Alignas(64) int32_t acc[(Q8P_MC + 6) * Q8P_NB];
    int ldc = pb * PW;
    int step = G.level == LV_AVX512 ? 2 : 1; /* panels per kernel call */
    size_t bstride = (size_t)K4 * PW * 4;    /* bytes from one panel to the next */
    bool small = j->M <= SMALL_M;
    for (int o = 0; o < (small ? pb : 1); o += step)
        for (int k0 = 0; k0 < K4; k0 += Q8P_K4) {
            int kn = K4 - k0 < Q8P_K4 ? K4 - k0 : Q8P_K4;
            int fl = k0 > 0 ? MK_LOAD : 0;
            int p1 = small ? (o + step < pb ? o + step : pb) : pb;
            for (int p = small ? o : 0; p < p1; p += step) {
                int np = p1 - p < step ? p1 - p : step;
                const int8_t *b = W->pk + (((size_t)(n0 / PW + p) * K4 + k0) * PW) * 4;
                q8p_groups(acc + p * PW, ldc, j->ap + ((size_t)(m0 / 6) * K4 + k0) * 6, (size_t)K4 * 6, gb, b,
                           bstride, np, kn, fl, small ? MK_PF : 0);
            }
        }
    q8_store(&j->dst, W, acc, ldc, m0, mb, n0, nb, j->ascale, j->azero);
}

/* Exact int32 dot products of the u8 rows of a and the s8 rows of w (M x N, into c). The
 * portable level's int8 product; at AVX2 and AVX-512 the packed q8p kernels above do the work
 * (integer sums are exact, so both give the same bits). */
static void q8_tile(int32_t *c, int ldc, const uint8_t *a, int lda, const int8_t *w, int ldw, int M, int N, int Kp)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            const uint8_t *x = a + (size_t)i * lda;
            const int8_t *y = w + (size_t)j * ldw;
            int32_t s = 0;
            for (int k = 0; k < Kp; k++) s += (int32_t)x[k] * y[k];
            c[(size_t)i * ldc + j] = s;
        }
}

typedef struct {
    q8_dst dst;
    const float *inp;
    const gemm_q8 *w;
    uint8_t *aq;   /* (M, Kp) quantized activations */
    float *ascale; /* (M) */
    int32_t *azero; /* (M) */
    int M, nb, tiles_n;
    int32_t *ap; /* when not NULL: the rows regrouped for the q8p kernel */
} q8_job;

#ifdef JC_X86
/* The same as the scalar loops below (cvtps rounds to nearest even like lrintf). */
__attribute__((target("avx2,fma"))) static int q8_row_minmax_avx2(const float *r, int K, float *mn, float *mx)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 v = _mm256_loadu_ps(r + k);
        lo = _mm256_min_ps(lo, v), hi = _mm256_max_ps(hi, v);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo), _mm256_storeu_ps(h, hi);
    for (int q = 0; q < 8; q++) *mn = fminf(*mn, l[q]), *mx = fmaxf(*mx, h[q]);
    return k;
}

__attribute__((target("avx2,fma"))) static int q8_row_quant_avx2(const float *r, int K, float inv, int z, uint8_t *o)
{
    __m256 iv = _mm256_set1_ps(inv);
    __m256i zv = _mm256_set1_epi32(z), lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(127);
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(r + k), iv)), zv);
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        __m128i p16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(void *)(o + k), _mm_packus_epi16(p16, p16));
    }
    return k;
}
#endif

/* Per-row asymmetric 7-bit quantization: x = clamp(round(a/s) + z, 0, 127). */
void gemm_q8_quantize_row(const float *r, int K, int Kp, uint8_t *o, float *scale, int32_t *zero)
{
    float mn = 0, mx = 0; /* the range always holds 0, so z is in [0, 127] */
    int k0 = 0;
#ifdef JC_X86
    bool v = G.level >= LV_AVX2;
    if (v) k0 = q8_row_minmax_avx2(r, K, &mn, &mx);
#endif
    for (int k = k0; k < K; k++) mn = fminf(mn, r[k]), mx = fmaxf(mx, r[k]);
    float s = mx > mn ? (mx - mn) / 127.0f : 1.0f, inv = 1.0f / s;
    long z = lrintf(-mn * inv);
    z = z < 0 ? 0 : z > 127 ? 127 : z;
    k0 = 0;
#ifdef JC_X86
    if (v) k0 = q8_row_quant_avx2(r, K, inv, (int)z, o);
#endif
    for (int k = k0; k < K; k++) {
        long v = lrintf(r[k] * inv) + z;
        o[k] = (uint8_t)(v < 0 ? 0 : v > 127 ? 127 : v);
    }
    for (int k = K; k < Kp; k++) o[k] = 0;
    *scale = s;
    *zero = (int32_t)z;
}

static void q8_act_task(void *ctx, int task, int thread)
{
    (void)thread;
    const q8_job *j = ctx;
    int K = j->w->K, Kp = j->w->Kp;
    for (int m = task * 16; m < j->M && m < task * 16 + 16; m++) {
        gemm_q8_quantize_row(j->inp + (size_t)m * K, K, Kp, j->aq + (size_t)m * Kp, &j->ascale[m], &j->azero[m]);
        if (j->ap) { /* group m/6, slot m%6: one word (4 k's) per k4 */
            int32_t *d = j->ap + (size_t)(m / 6) * (Kp / 4) * 6 + m % 6;
            const uint8_t *src = j->aq + (size_t)m * Kp;
            for (int k4 = 0; k4 < Kp / 4; k4++) memcpy(d + (size_t)k4 * 6, src + 4 * k4, 4);
        }
    }
}

static void q8_task(void *ctx, int task, int thread)
{
    (void)thread;
    const q8_job *j = ctx;
    const gemm_q8 *W = j->w;
    int N = W->N, Kp = W->Kp;
    int m0, n0;
    tile_of(task, (j->M + MB - 1) / MB, j->tiles_n, MB, j->nb, &m0, &n0);
    int mb = j->M - m0 < MB ? j->M - m0 : MB;
    int nb = N - n0 < j->nb ? N - n0 : j->nb;
    _Alignas(64) int32_t acc[MB * NBMAX];
    q8_tile(acc, nb, j->aq + (size_t)m0 * Kp, Kp, W->q + (size_t)n0 * Kp, Kp, mb, nb, Kp);
    q8_store(&j->dst, W, acc, nb, m0, mb, n0, nb, j->ascale, j->azero);
}

static scratch q8_scratch = SCRATCH_INIT; /* the quantized activations */

/* parts: how many outputs the N channels go to (1, or w->parts) */
static void q8_run(jaclip_pool *pool, float *const *outs, const float *inp, const gemm_q8 *w,
                   const float *const *biases, int parts, int M)
{
    if (M <= 0 || w->N <= 0) return;
    gemm_init();
    q8_dst dst = {outs, biases, w->N / parts};
    size_t abytes = ((size_t)M * w->Kp + 63) / 64 * 64;
    size_t need = abytes + (size_t)M * (sizeof(float) + sizeof(int32_t)) + 64 + (size_t)(M + 5) / 6 * 6 * w->Kp + 64;
    scratch_lease sl = scratch_take(&q8_scratch, need);
    void *buf = sl.p;
    if (!buf) { /* out of memory: the fp32 product with the dequantized weights, no allocation
                 * (a second one could fail too and leave the outputs unwritten) */
        scratch_give(&q8_scratch, &sl);
        for (int n = 0; n < w->N; n++) {
            const int8_t *qr = w->q + (size_t)n * w->Kp;
            int p = n / dst.pn, c = n % dst.pn;
            for (int m = 0; m < M; m++) {
                double s = 0;
                for (int k = 0; k < w->K; k++) s += (double)inp[(size_t)m * w->K + k] * (qr[k] * w->scale[n]);
                outs[p][(size_t)m * dst.pn + c] = (float)s + (biases[p] ? biases[p][c] : 0.0f);
            }
        }
        return;
    }
    int nb = w->N < NBMAX ? w->N : NBMAX; /* the portable level's tiles: MB rows x nb channels */
    if (M <= MB) {
        int threads = pool ? jaclip_pool_size(pool) : 1;
        while (nb > 12 && (w->N + nb - 1) / nb < 4 * threads) nb -= 12;
    }
    float *ascale = (float *)(void *)((char *)buf + abytes);
    q8_job j = {dst, inp, w, buf, ascale, (int32_t *)(void *)(ascale + M), M, nb, (w->N + nb - 1) / nb, NULL};
    bool grouped = w->pk && G.level >= LV_AVX2;
    int32_t *ap = NULL;
    if (grouped) { /* the q8p kernel's layout: 6 rows per group, one 32-bit word (4 k's) per row */
        int K4 = w->Kp / 4, groups = (M + 5) / 6;
        ap = (int32_t *)(void *)((char *)buf + abytes + (size_t)M * 8 + 64 - ((size_t)M * 8) % 64);
        for (int r = M; r < groups * 6; r++) /* padding rows: zero */
            for (int k4 = 0; k4 < K4; k4++) ap[((size_t)(r / 6) * K4 + k4) * 6 + r % 6] = 0;
        j.ap = ap;
    }
    double t0 = kprof_enabled() ? jc_now() : 0;
    jc_pool_run(M > SMALL_M ? pool : NULL, (M + 15) / 16, q8_act_task, &j);
    if (grouped) {
        int threads = pool ? jaclip_pool_size(pool) : 1;
        int tiles_m = (M + Q8P_MC - 1) / Q8P_MC, mc = ((M + tiles_m - 1) / tiles_m + 5) / 6 * 6, nbp = Q8P_NB;
        tiles_m = (M + mc - 1) / mc;
        while (nbp > 2 * PW && tiles_m * ((w->N + nbp - 1) / nbp) < 8 * threads) nbp -= 2 * PW;
        q8p_job pj = {dst, w, ap, ascale, j.azero, M, mc, nbp, tiles_m, (w->N + nbp - 1) / nbp};
        jc_pool_run(pool, tiles_m * pj.tiles_n, q8p_task, &pj);
    } else {
        jc_pool_run(pool, ((M + MB - 1) / MB) * j.tiles_n, q8_task, &j);
    }
    if (t0 > 0) {
        char name[48];
        if (parts > 1) snprintf(name, sizeof name, "gemm int8 K=%d N=%dx%d", w->K, parts, w->N / parts);
        else snprintf(name, sizeof name, "gemm int8 K=%d N=%d", w->K, w->N);
        kprof_add(name, jc_now() - t0, 2.0 * M * w->K * w->N);
    }
    scratch_give(&q8_scratch, &sl);
}

void matmul_q8_forward(jaclip_pool *pool, float *out, const float *inp, const gemm_q8 *w, const float *bias, int M)
{
    q8_run(pool, &out, inp, w, &bias, 1, M);
}

void matmul_q8_forward_parts(jaclip_pool *pool, float *const *outs, const float *inp, const gemm_q8 *w,
                             const float *const *biases, int M)
{
    q8_run(pool, outs, inp, w, biases, w->parts > 1 ? w->parts : 1, M);
}
