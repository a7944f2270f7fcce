/*
 * index.c — the image search index (layout documented in index.h) and the dot-product
 * kernels that both search and the evaluation metrics use.
 *
 * Why a directory of segments: appending must not rewrite what is stored (a 1M-row index
 * is 1 GB), and a crash half-way through an append must not damage the index. Each
 * append writes new files under fresh names, then swaps index.json atomically; the old
 * index.json keeps describing a consistent index until that rename.
 *
 * Why exact search by full scan: 1M x 256 float32 is 1 GB, which two cores stream in
 * ~40 ms; that meets the latency target without an approximate structure whose recall
 * would have to be tuned. int8 rows cut that to 256 MB.
 */
#include "tasks/index.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JC_X86 1
#endif

/* ====================================================================================== */
/* Kernels                                                                                */
/* ====================================================================================== */

bool jc_simd_supported(jc_simd s)
{
    if (s == JC_SIMD_SCALAR) return true;
#ifdef JC_X86
    __builtin_cpu_init();
    if (s == JC_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (s == JC_SIMD_AVX512) return __builtin_cpu_supports("avx512f");
#endif
    return false;
}

static float dot_scalar(const float *a, const float *b, int dim);
static float dot_i8_scalar(const float *a, const int8_t *b, int dim);
static float dot_f16_scalar(const float *a, const uint16_t *b, int dim);
#ifdef JC_X86
static void dot_rows_f16_avx512(const float *q, const uint16_t *rows, int64_t n, int dim, float *out);
static void dot_rows_avx512(const float *q, const float *rows, int64_t n, int dim, float *out);
static void dot_rows_i8_avx512(const float *q, const int8_t *rows, const float *scale, int64_t n, int dim, float *out);
#endif

/* The AVX-512 kernels were written on a machine without AVX-512 (their tests later passed
 * on an AVX-512 Xeon), so before trusting them they must agree with the portable code on a
 * fixed input; if not, AVX2 is used and a warning says so. Checked once per process. */
static bool avx512_agrees(void)
{
#ifdef JC_X86
    enum { D = 259, N = 3 };
    float q[D], r[N * D], out[N], sc[N];
    int8_t r8[N * D];
    uint16_t r16[N * D];
    uint32_t x = 2463534242u;
    for (int i = 0; i < D; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        q[i] = (float)(x % 2001) / 1000.0f - 1.0f;
    }
    for (int i = 0; i < N * D; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        r[i] = (float)(x % 2001) / 1000.0f - 1.0f;
        r8[i] = (int8_t)((int)(x % 255) - 127);
        r16[i] = jc_f32_to_f16(r[i]);
    }
    for (int i = 0; i < N; i++) sc[i] = 0.01f * (float)(i + 1);
    dot_rows_avx512(q, r, N, D, out);
    for (int i = 0; i < N; i++)
        if (fabsf(out[i] - dot_scalar(q, r + i * D, D)) > 1e-3f) return false;
    dot_rows_i8_avx512(q, r8, sc, N, D, out);
    for (int i = 0; i < N; i++)
        if (fabsf(out[i] - sc[i] * dot_i8_scalar(q, r8 + i * D, D)) > 1e-2f) return false;
    dot_rows_f16_avx512(q, r16, N, D, out);
    for (int i = 0; i < N; i++)
        if (fabsf(out[i] - dot_f16_scalar(q, r16 + i * D, D)) > 1e-3f) return false;
    return true;
#else
    return false;
#endif
}

jc_simd jc_simd_level(void)
{
    static _Atomic int cpu_best = -1; /* the CPU's best level, self-checked; computed once */
    int b = atomic_load(&cpu_best);
    if (b < 0) {
        b = JC_SIMD_SCALAR;
        if (jc_simd_supported(JC_SIMD_AVX512)) {
            if (avx512_agrees()) b = JC_SIMD_AVX512;
            else jc_warn("the AVX-512 dot-product kernel disagrees with the portable one on this CPU; using AVX2");
        }
        if (b == JC_SIMD_SCALAR && jc_simd_supported(JC_SIMD_AVX2)) b = JC_SIMD_AVX2;
        atomic_store(&cpu_best, b);
    }
    jc_simd best = (jc_simd)b;
    const char *e = getenv("JACLIP_SIMD");
    if (e && *e) {
        jc_simd cap = strcmp(e, "scalar") == 0 ? JC_SIMD_SCALAR : strcmp(e, "avx2") == 0 ? JC_SIMD_AVX2 : JC_SIMD_AVX512;
        if (cap < best) best = cap;
    }
    return best;
}

const char *jc_simd_name(jc_simd s)
{
    return s == JC_SIMD_AVX512 ? "avx512" : s == JC_SIMD_AVX2 ? "avx2" : "scalar";
}

/* Portable: 8 partial sums in a fixed order, so the compiler may vectorise but the
 * result does not depend on n. */
static float dot_scalar(const float *a, const float *b, int dim)
{
    float acc[8] = {0};
    int d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[d + j] * b[d + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; d < dim; d++) s += a[d] * b[d];
    return s;
}

static float dot_i8_scalar(const float *a, const int8_t *b, int dim)
{
    float acc[8] = {0};
    int d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[d + j] * (float)b[d + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; d < dim; d++) s += a[d] * (float)b[d];
    return s;
}

static float dot_f16_scalar(const float *a, const uint16_t *b, int dim)
{
    float acc[8] = {0};
    int d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[d + j] * jc_f16_to_f32(b[d + j]);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; d < dim; d++) s += a[d] * jc_f16_to_f32(b[d]);
    return s;
}

#ifdef JC_X86
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static void dot_rows_avx2(const float *q, const float *rows, int64_t n, int dim,
                                                             float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const float *r = rows + (size_t)i * (size_t)dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int d = 0;
        for (; d + 32 <= dim; d += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(r + d), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_loadu_ps(r + d + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 16), _mm256_loadu_ps(r + d + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 24), _mm256_loadu_ps(r + d + 24), a3);
        }
        for (; d + 8 <= dim; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(r + d), a0);
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; d < dim; d++) s += q[d] * r[d];
        out[i] = s;
    }
}

__attribute__((target("avx2,fma"))) static void dot_rows_i8_avx2(const float *q, const int8_t *rows,
                                                                const float *scale, int64_t n, int dim, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const int8_t *r = rows + (size_t)i * (size_t)dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int d = 0;
        for (; d + 16 <= dim; d += 16) {
            __m128i b = _mm_loadu_si128((const __m128i *)(r + d));
            __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
            __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), f0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), f1, a1);
        }
        float s = hsum256(_mm256_add_ps(a0, a1));
        for (; d < dim; d++) s += q[d] * (float)r[d];
        out[i] = s * scale[i];
    }
}

__attribute__((target("avx2,fma,f16c"))) static void dot_rows_f16_avx2(const float *q, const uint16_t *rows, int64_t n,
                                                                     int dim, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const uint16_t *r = rows + (size_t)i * (size_t)dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int d = 0;
        for (; d + 16 <= dim; d += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d + 8))), a1);
        }
        float s = hsum256(_mm256_add_ps(a0, a1));
        for (; d < dim; d++) s += q[d] * jc_f16_to_f32(r[d]);
        out[i] = s;
    }
}

__attribute__((target("avx512f"))) static void dot_rows_f16_avx512(const float *q, const uint16_t *rows, int64_t n,
                                                                  int dim, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const uint16_t *r = rows + (size_t)i * (size_t)dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int d = 0;
        for (; d + 32 <= dim; d += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + d))), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + d + 16))), a1);
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; d < dim; d++) s += q[d] * jc_f16_to_f32(r[d]);
        out[i] = s;
    }
}

__attribute__((target("avx512f"))) static void dot_rows_avx512(const float *q, const float *rows, int64_t n, int dim,
                                                              float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const float *r = rows + (size_t)i * (size_t)dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int d = 0;
        for (; d + 32 <= dim; d += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(r + d), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), _mm512_loadu_ps(r + d + 16), a1);
        }
        for (; d + 16 <= dim; d += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(r + d), a0);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; d < dim; d++) s += q[d] * r[d];
        out[i] = s;
    }
}

__attribute__((target("avx512f"))) static void dot_rows_i8_avx512(const float *q, const int8_t *rows,
                                                                 const float *scale, int64_t n, int dim, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        const int8_t *r = rows + (size_t)i * (size_t)dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int d = 0;
        for (; d + 32 <= dim; d += 32) {
            __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(r + d))));
            __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(r + d + 16))));
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), f0, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), f1, a1);
        }
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; d < dim; d++) s += q[d] * (float)r[d];
        out[i] = s * scale[i];
    }
}
#endif

void jc_dot_rows_f32(jc_simd s, const float *q, const float *rows, int64_t n, int dim, float *out)
{
#ifdef JC_X86
    if (s == JC_SIMD_AVX512) return dot_rows_avx512(q, rows, n, dim, out);
    if (s == JC_SIMD_AVX2) return dot_rows_avx2(q, rows, n, dim, out);
#endif
    (void)s;
    for (int64_t i = 0; i < n; i++) out[i] = dot_scalar(q, rows + (size_t)i * (size_t)dim, dim);
}

void jc_dot_rows_i8(jc_simd s, const float *q, const int8_t *rows, const float *scale, int64_t n, int dim, float *out)
{
#ifdef JC_X86
    if (s == JC_SIMD_AVX512) return dot_rows_i8_avx512(q, rows, scale, n, dim, out);
    if (s == JC_SIMD_AVX2) return dot_rows_i8_avx2(q, rows, scale, n, dim, out);
#endif
    (void)s;
    for (int64_t i = 0; i < n; i++) out[i] = scale[i] * dot_i8_scalar(q, rows + (size_t)i * (size_t)dim, dim);
}

void jc_normalize_row(float *x, int dim)
{
    double ss = 0;
    for (int d = 0; d < dim; d++) ss += (double)x[d] * (double)x[d];
    double nrm = sqrt(ss);
    float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    for (int d = 0; d < dim; d++) x[d] *= inv;
}

void jc_dot_rows_f16(jc_simd s, const float *q, const uint16_t *rows, int64_t n, int dim, float *out)
{
#ifdef JC_X86
    if (s == JC_SIMD_AVX512) return dot_rows_f16_avx512(q, rows, n, dim, out);
    if (s == JC_SIMD_AVX2) return dot_rows_f16_avx2(q, rows, n, dim, out);
#endif
    (void)s;
    for (int64_t i = 0; i < n; i++) out[i] = dot_f16_scalar(q, rows + (size_t)i * (size_t)dim, dim);
}

void jc_quantize_row_i8(const float *x, int dim, int8_t *q, float *scale)
{
    float m = 0;
    for (int d = 0; d < dim; d++) m = fmaxf(m, fabsf(x[d]));
    if (m == 0) {
        memset(q, 0, (size_t)dim);
        *scale = 0;
        return;
    }
    float inv = 127.0f / m;
    for (int d = 0; d < dim; d++) {
        long v = lrintf(x[d] * inv);
        q[d] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    *scale = m / 127.0f;
}

/* ====================================================================================== */
/* Metadata (index.json)                                                                  */
/* ====================================================================================== */

const char *jc_index_dtype_name(jc_index_dtype t)
{
    return t == JC_INDEX_I8 ? "i8" : t == JC_INDEX_F16 ? "f16" : "f32";
}

static const char *row_descr(jc_index_dtype t)
{
    return t == JC_INDEX_I8 ? "|i1" : t == JC_INDEX_F16 ? "<f2" : "<f4";
}

typedef struct seg_info {
    char name[32];
    int64_t count;
} seg_info;

typedef struct meta {
    int dim;
    jc_index_dtype dtype;
    char *model;
    int n_seg;
    seg_info *seg;
    int64_t count;
} meta;

static void meta_free(meta *m)
{
    free(m->model);
    free(m->seg);
    memset(m, 0, sizeof *m);
}

static jaclip_status meta_read(const char *dir, meta *m, jaclip_err *err)
{
    memset(m, 0, sizeof *m);
    char *path = jc_path_join(dir, "index.json");
    if (!path) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    if (!jc_file_exists(path)) {
        jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: no index here (index.json missing; create one with `jaclip index build`)", path);
        free(path);
        return st;
    }
    char *text = NULL;
    size_t len = 0;
    jaclip_status st = jc_read_file(path, 64u << 20, &text, &len, err);
    if (st) {
        free(path);
        return st;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    st = JACLIP_OK;
    const cJSON *fmt = j ? cJSON_GetObjectItemCaseSensitive(j, "format") : NULL;
    const cJSON *ver = j ? cJSON_GetObjectItemCaseSensitive(j, "version") : NULL;
    const cJSON *dim = j ? cJSON_GetObjectItemCaseSensitive(j, "dim") : NULL;
    const cJSON *dt = j ? cJSON_GetObjectItemCaseSensitive(j, "dtype") : NULL;
    const cJSON *model = j ? cJSON_GetObjectItemCaseSensitive(j, "model") : NULL;
    const cJSON *segs = j ? cJSON_GetObjectItemCaseSensitive(j, "segments") : NULL;
    if (!j) st = jc_err(err, JACLIP_ERR_FORMAT, "%s: not valid JSON", path);
    else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "jaclip-index") != 0)
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: \"format\" is not \"jaclip-index\"", path);
    else if (!cJSON_IsNumber(ver) || ver->valueint != 1)
        st = jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: index format version is not 1", path);
    else if (!cJSON_IsNumber(dim) || dim->valueint < 1 || dim->valueint > 65536)
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: \"dim\" missing or out of range", path);
    else if (!cJSON_IsString(dt) || (strcmp(dt->valuestring, "f32") != 0 && strcmp(dt->valuestring, "i8") != 0 &&
                                     strcmp(dt->valuestring, "f16") != 0))
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: \"dtype\" must be \"f32\", \"f16\" or \"i8\"", path);
    else if (!cJSON_IsArray(segs))
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: \"segments\" missing", path);
    if (!st) {
        m->dim = dim->valueint;
        m->dtype = !strcmp(dt->valuestring, "i8") ? JC_INDEX_I8 : !strcmp(dt->valuestring, "f16") ? JC_INDEX_F16 : JC_INDEX_F32;
        m->model = jc_strdup(cJSON_IsString(model) ? model->valuestring : "");
        m->n_seg = cJSON_GetArraySize(segs);
        m->seg = calloc((size_t)m->n_seg + 1, sizeof *m->seg);
        if (!m->model || !m->seg) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        int i = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, segs)
        {
            if (st) break;
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "count");
            if (!cJSON_IsString(nm) || strlen(nm->valuestring) >= sizeof m->seg[i].name ||
                strchr(nm->valuestring, '/') || !cJSON_IsNumber(c) || c->valuedouble < 0) {
                st = jc_err(err, JACLIP_ERR_FORMAT, "%s: segment %d has no valid \"name\"/\"count\"", path, i);
                break;
            }
            snprintf(m->seg[i].name, sizeof m->seg[i].name, "%s", nm->valuestring);
            m->seg[i].count = (int64_t)c->valuedouble;
            m->count += m->seg[i].count;
            i++;
        }
    }
    cJSON_Delete(j);
    free(path);
    if (st) meta_free(m);
    return st;
}

static jaclip_status meta_write(const char *dir, const meta *m, jaclip_err *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *segs = cJSON_CreateArray();
    if (!j || !segs) {
        cJSON_Delete(j);
        cJSON_Delete(segs);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    cJSON_AddStringToObject(j, "format", "jaclip-index");
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddNumberToObject(j, "dim", m->dim);
    cJSON_AddStringToObject(j, "dtype", jc_index_dtype_name(m->dtype));
    cJSON_AddStringToObject(j, "model", m->model ? m->model : "");
    int64_t total = 0;
    for (int i = 0; i < m->n_seg; i++) total += m->seg[i].count;
    cJSON_AddNumberToObject(j, "count", (double)total);
    for (int i = 0; i < m->n_seg; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", m->seg[i].name);
        cJSON_AddNumberToObject(s, "count", (double)m->seg[i].count);
        cJSON_AddItemToArray(segs, s);
    }
    cJSON_AddItemToObject(j, "segments", segs);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    char *path = jc_path_join(dir, "index.json");
    jaclip_status st = path ? jc_write_file_atomic(path, text, strlen(text), err) : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    free(path);
    free(text);
    return st;
}

/* Exclusive lock on INDEX/.lock, held by creates and appends (see jc_index_append). */
static int lock_index(const char *dir, jaclip_err *err)
{
    char *lp = jc_path_join(dir, ".lock");
    if (!lp) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory"), -1;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) jc_err(err, JACLIP_ERR_IO, "%s: cannot open the index lock: %s", lp, strerror(errno));
    free(lp);
    if (fd >= 0)
        while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    return fd;
}

jaclip_status jc_index_create(const char *dir, int dim, jc_index_dtype dtype, const char *model, jaclip_err *err)
{
    if (dim < 1 || dim > 65536) return jc_err(err, JACLIP_ERR_ARG, "index dim %d out of range", dim);
    jaclip_status st = jc_mkdirs(dir, err);
    if (st) return st;
    int fd = lock_index(dir, err);
    if (fd < 0) return err ? err->code : JACLIP_ERR_IO;
    char *path = jc_path_join(dir, "index.json");
    if (!path) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    else if (jc_file_exists(path))
        st = jc_err(err, JACLIP_ERR_ARG, "%s: already holds an index (add to it with `jaclip index add`)", dir);
    free(path);
    if (!st) {
        meta m = {.dim = dim, .dtype = dtype, .model = (char *)(model ? model : "")};
        st = meta_write(dir, &m, err);
    }
    close(fd);
    return st;
}

/* ====================================================================================== */
/* Append                                                                                 */
/* ====================================================================================== */

static char *seg_path(const char *dir, const char *seg, const char *suffix)
{
    size_t n = strlen(dir) + strlen(seg) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, seg, suffix);
    return p;
}

static jaclip_status append_locked(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                                   jaclip_err *err);

/* Two processes appending at once would pick the same segment name and the second
 * index.json would drop the first one's segment: appends hold an exclusive lock on
 * INDEX/.lock (searches need none: they read index.json once, and files are only added). */
jaclip_status jc_index_append(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                              jaclip_err *err)
{
    char *p = jc_path_join(dir, "index.json");
    bool exists = p && jc_file_exists(p);
    free(p);
    if (!exists) { /* the usual "no index here" error, without creating a lock file there */
        meta tmp;
        jaclip_status st = meta_read(dir, &tmp, err);
        if (st) return st;
        meta_free(&tmp);
    }
    int fd = lock_index(dir, err);
    if (fd < 0) return err ? err->code : JACLIP_ERR_IO;
    jaclip_status st = append_locked(dir, feats, n, dim, keys, err);
    close(fd); /* releases the lock */
    return st;
}

static jaclip_status append_locked(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                                   jaclip_err *err)
{
    meta m;
    jaclip_status st = meta_read(dir, &m, err);
    if (st) return st;
    if (dim != m.dim) {
        meta_free(&m);
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s: features have dim %d but the index holds dim %d", dir, dim, m.dim);
    }
    if (n <= 0) {
        meta_free(&m);
        return JACLIP_OK;
    }
    /* Validate keys and rows before writing anything. */
    for (int64_t i = 0; i < n; i++) {
        if (!keys[i] || !keys[i][0] || strpbrk(keys[i], "\n\r")) {
            meta_free(&m);
            return jc_err(err, JACLIP_ERR_ARG, "row %lld: key '%s' is empty or holds a line break", (long long)i,
                          keys[i] ? keys[i] : "(null)");
        }
        for (int d = 0; d < dim; d++)
            if (!isfinite(feats[(size_t)i * (size_t)dim + (size_t)d])) {
                meta_free(&m);
                return jc_err(err, JACLIP_ERR_NUMERIC, "%s: feature %d is not finite", keys[i], d);
            }
    }
    /* A fresh segment name: one past the highest number in use or present on disk. */
    int num = 0;
    for (int i = 0; i < m.n_seg; i++) {
        int v;
        if (sscanf(m.seg[i].name, "seg-%d", &v) == 1 && v >= num) num = v + 1;
    }
    char name[32];
    for (;; num++) {
        snprintf(name, sizeof name, "seg-%06d", num);
        char *p = seg_path(dir, name, ".npy");
        bool taken = p && jc_file_exists(p);
        free(p);
        if (!taken) break;
    }
    char *p_feat = seg_path(dir, name, ".npy"), *p_scale = seg_path(dir, name, ".scale.npy");
    char *p_keys = seg_path(dir, name, ".keys"), *p_koff = seg_path(dir, name, ".koff.npy");
    float *norm = jc_malloc_array((size_t)dim, sizeof(float));
    int64_t *koff = jc_malloc_array((size_t)n + 1, sizeof(int64_t));
    float *scale = m.dtype == JC_INDEX_I8 ? jc_malloc_array((size_t)n, sizeof(float)) : NULL;
    int8_t *q8 = m.dtype == JC_INDEX_I8 ? jc_malloc_array((size_t)dim, 1) : NULL;
    uint16_t *h16 = m.dtype == JC_INDEX_F16 ? jc_malloc_array((size_t)dim, sizeof(uint16_t)) : NULL;
    seg_info *seg2 = realloc(m.seg, ((size_t)m.n_seg + 1) * sizeof *m.seg);
    if (seg2) m.seg = seg2;
    jc_npy_writer w;
    bool w_open = false;
    if (!p_feat || !p_scale || !p_keys || !p_koff || !norm || !koff || !seg2 || (m.dtype == JC_INDEX_I8 && (!scale || !q8)) ||
        (m.dtype == JC_INDEX_F16 && !h16)) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = jc_npy_writer_open(&w, p_feat, row_descr(m.dtype), n, dim, err);
    if (st) goto done;
    w_open = true;
    for (int64_t i = 0; i < n && !st; i++) {
        memcpy(norm, feats + (size_t)i * (size_t)dim, (size_t)dim * sizeof(float));
        jc_normalize_row(norm, dim);
        if (m.dtype == JC_INDEX_I8) {
            jc_quantize_row_i8(norm, dim, q8, &scale[i]);
            st = jc_npy_writer_rows(&w, q8, 1, err);
        } else if (m.dtype == JC_INDEX_F16) {
            for (int d = 0; d < dim; d++) h16[d] = jc_f32_to_f16(norm[d]);
            st = jc_npy_writer_rows(&w, h16, 1, err);
        } else {
            st = jc_npy_writer_rows(&w, norm, 1, err);
        }
    }
    if (st) goto done;
    if (scale) {
        int64_t shp[1] = {n};
        st = jc_npy_write(p_scale, "<f4", shp, 1, scale, err);
        if (st) goto done;
    }
    {
        jc_atomic_file af;
        st = jc_atomic_open(p_keys, &af, err);
        if (st) goto done;
        int64_t off = 0;
        for (int64_t i = 0; i < n; i++) {
            size_t l = strlen(keys[i]);
            koff[i] = off;
            if (fwrite(keys[i], 1, l, af.f) != l || fputc('\n', af.f) == EOF) {
                jc_atomic_abort(&af);
                st = jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", p_keys, strerror(errno));
                goto done;
            }
            off += (int64_t)l + 1;
        }
        koff[n] = off;
        st = jc_atomic_commit(&af, err);
        if (st) goto done;
        int64_t shp[1] = {n + 1};
        st = jc_npy_write(p_koff, "<i8", shp, 1, koff, err);
        if (st) goto done;
    }
    st = jc_npy_writer_close(&w, err);
    w_open = false;
    if (st) goto done;
    snprintf(m.seg[m.n_seg].name, sizeof m.seg[m.n_seg].name, "%s", name);
    m.seg[m.n_seg].count = n;
    m.n_seg++;
    st = meta_write(dir, &m, err); /* the commit point */
done:
    if (w_open) jc_npy_writer_abort(&w);
    if (st) { /* leave no orphan files from this attempt */
        if (p_feat) unlink(p_feat);
        if (p_scale) unlink(p_scale);
        if (p_keys) unlink(p_keys);
        if (p_koff) unlink(p_koff);
    }
    free(p_feat);
    free(p_scale);
    free(p_keys);
    free(p_koff);
    free(norm);
    free(koff);
    free(scale);
    free(q8);
    free(h16);
    meta_free(&m);
    return st;
}

/* ====================================================================================== */
/* Open / search                                                                          */
/* ====================================================================================== */

typedef struct seg_map {
    int64_t first, count;
    jc_npy feat, scale, koff;
    jc_map keys;
} seg_map;

struct jaclip_index {
    char *dir;
    meta m;
    seg_map *seg;
    uint64_t bytes;
};

void jc_index_close(jc_index *ix)
{
    if (!ix) return;
    for (int i = 0; ix->seg && i < ix->m.n_seg; i++) {
        jc_npy_unmap(&ix->seg[i].feat);
        jc_npy_unmap(&ix->seg[i].scale);
        jc_npy_unmap(&ix->seg[i].koff);
        jc_unmap(&ix->seg[i].keys);
    }
    free(ix->seg);
    meta_free(&ix->m);
    free(ix->dir);
    free(ix);
}

static jaclip_status check_npy(const char *path, const jc_npy *a, const char *descr, int ndim, int64_t d0, int64_t d1,
                               jaclip_err *err)
{
    if (strcmp(a->descr, descr) != 0 || a->ndim != ndim || a->shape[0] != d0 || (ndim > 1 && a->shape[1] != d1))
        return jc_err(err, JACLIP_ERR_FORMAT,
                      "%s: expected a %d-d %s array with %lld rows (index.json) of width %lld, found a %d-d %s array "
                      "with %lld rows",
                      path, ndim, descr, (long long)d0, (long long)(ndim > 1 ? d1 : 1), a->ndim, a->descr,
                      a->ndim ? (long long)a->shape[0] : 0LL);
    return JACLIP_OK;
}

jaclip_status jc_index_open(const char *dir, jc_index **out, jaclip_err *err)
{
    *out = NULL;
    jc_index *ix = calloc(1, sizeof *ix);
    if (!ix) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    ix->dir = jc_strdup(dir);
    jaclip_status st = ix->dir ? meta_read(dir, &ix->m, err) : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    if (st) {
        free(ix->dir);
        free(ix);
        return st;
    }
    ix->seg = calloc((size_t)ix->m.n_seg + 1, sizeof *ix->seg);
    if (!ix->seg) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    int64_t first = 0;
    for (int i = 0; i < ix->m.n_seg && !st; i++) {
        seg_map *s = &ix->seg[i];
        const char *nm = ix->m.seg[i].name;
        s->first = first;
        s->count = ix->m.seg[i].count;
        char *p = seg_path(dir, nm, ".npy");
        st = p ? jc_npy_map(p, &s->feat, err) : JACLIP_ERR_NOMEM;
        if (!st) st = check_npy(p, &s->feat, row_descr(ix->m.dtype), 2, s->count, ix->m.dim, err);
        if (!st) {
            ix->bytes += s->feat.map.size;
            /* every query scans all rows: map them all now in one call (Linux >= 5.14) rather
             * than fault page by page during the first search (2.5 s -> 0.3 s for 1 GB);
             * older kernels get a read-ahead hint */
            void *base = (void *)((uintptr_t)s->feat.map.data & ~(uintptr_t)4095);
            if (s->feat.map.size) {
#ifdef MADV_POPULATE_READ
                if (madvise(base, s->feat.map.size, MADV_POPULATE_READ) != 0)
#endif
                    madvise(base, s->feat.map.size, MADV_WILLNEED);
            }
        }
        free(p);
        if (!st && ix->m.dtype == JC_INDEX_I8) {
            p = seg_path(dir, nm, ".scale.npy");
            st = p ? jc_npy_map(p, &s->scale, err) : JACLIP_ERR_NOMEM;
            if (!st) st = check_npy(p, &s->scale, "<f4", 1, s->count, 0, err);
            if (!st) ix->bytes += s->scale.map.size;
            free(p);
        }
        if (!st) {
            p = seg_path(dir, nm, ".koff.npy");
            st = p ? jc_npy_map(p, &s->koff, err) : JACLIP_ERR_NOMEM;
            if (!st) st = check_npy(p, &s->koff, "<i8", 1, s->count + 1, 0, err);
            if (!st) ix->bytes += s->koff.map.size;
            free(p);
        }
        if (!st) {
            p = seg_path(dir, nm, ".keys");
            st = p ? jc_map_file(p, &s->keys, err) : JACLIP_ERR_NOMEM;
            if (!st) {
                ix->bytes += s->keys.size;
                const int64_t *ko = s->koff.data;
                /* offsets must be increasing and end at the file size: then every lookup is in bounds */
                bool ok = ko[0] == 0 && ko[s->count] == (int64_t)s->keys.size;
                for (int64_t r = 0; ok && r < s->count; r++)
                    ok = ko[r + 1] > ko[r] && s->keys.data[ko[r + 1] - 1] == '\n';
                if (!ok) st = jc_err(err, JACLIP_ERR_FORMAT, "%s: key offsets do not match the keys file", p);
            }
            free(p);
        }
        if (st == JACLIP_ERR_NOMEM) jc_err(err, st, "out of memory");
        first += s->count;
    }
    if (st) {
        jc_index_close(ix);
        return st;
    }
    char *p = jc_path_join(dir, "index.json");
    struct stat sb;
    if (p && stat(p, &sb) == 0) ix->bytes += (uint64_t)sb.st_size;
    free(p);
    *out = ix;
    return JACLIP_OK;
}

int64_t jc_index_count(const jc_index *ix) { return ix->m.count; }
int jc_index_dim(const jc_index *ix) { return ix->m.dim; }
jc_index_dtype jc_index_get_dtype(const jc_index *ix) { return ix->m.dtype; }
const char *jc_index_model(const jc_index *ix) { return ix->m.model ? ix->m.model : ""; }
uint64_t jc_index_file_bytes(const jc_index *ix) { return ix->bytes; }

static const seg_map *find_seg(const jc_index *ix, int64_t row)
{
    int lo = 0, hi = ix->m.n_seg - 1;
    while (lo < hi) { /* last segment with first <= row */
        int mid = (lo + hi + 1) / 2;
        if (ix->seg[mid].first <= row) lo = mid;
        else hi = mid - 1;
    }
    return &ix->seg[lo];
}

const char *jc_index_key(const jc_index *ix, int64_t row, size_t *len)
{
    if (row < 0 || row >= ix->m.count) {
        *len = 0;
        return "";
    }
    const seg_map *s = find_seg(ix, row);
    const int64_t *ko = s->koff.data;
    int64_t r = row - s->first;
    *len = (size_t)(ko[r + 1] - ko[r] - 1);
    return (const char *)s->keys.data + ko[r];
}

/* --- top-k: a min-heap on (score, -row), so the root is the worst hit kept ---------------- */

static inline bool hit_worse(jc_hit a, jc_hit b) /* a ranks below b */
{
    return a.score < b.score || (a.score == b.score && a.row > b.row);
}

static void heap_push(jc_hit *h, int *n, int k, jc_hit x)
{
    if (*n < k) {
        int i = (*n)++;
        h[i] = x;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!hit_worse(h[i], h[p])) break;
            jc_hit t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
        return;
    }
    if (!hit_worse(h[0], x)) return;
    h[0] = x;
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && hit_worse(h[l], h[m])) m = l;
        if (r < *n && hit_worse(h[r], h[m])) m = r;
        if (m == i) break;
        jc_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int cmp_hit_desc(const void *a, const void *b)
{
    jc_hit x = *(const jc_hit *)a, y = *(const jc_hit *)b;
    return hit_worse(x, y) ? 1 : hit_worse(y, x) ? -1 : 0;
}

#define SEARCH_CHUNK 4096

typedef struct search_ctx {
    const jc_index *ix;
    const float *q;
    int k;
    jc_simd simd;
    int64_t n_chunks;
    jc_hit *heaps; /* n_threads * k */
    int *heap_n;
    float *scores; /* n_threads * SEARCH_CHUNK */
} search_ctx;

static void search_task(void *vctx, int task, int thread)
{
    search_ctx *c = vctx;
    const jc_index *ix = c->ix;
    int64_t r0 = (int64_t)task * SEARCH_CHUNK;
    int64_t r1 = r0 + SEARCH_CHUNK < ix->m.count ? r0 + SEARCH_CHUNK : ix->m.count;
    jc_hit *h = c->heaps + (size_t)thread * (size_t)c->k;
    int *hn = &c->heap_n[thread];
    float *sc = c->scores + (size_t)thread * SEARCH_CHUNK;
    int dim = ix->m.dim;
    while (r0 < r1) {
        const seg_map *s = find_seg(ix, r0);
        int64_t a = r0 - s->first, b = r1 - s->first < s->count ? r1 - s->first : s->count;
        int64_t n = b - a;
        if (ix->m.dtype == JC_INDEX_F16)
            jc_dot_rows_f16(c->simd, c->q, (const uint16_t *)s->feat.data + (size_t)a * (size_t)dim, n, dim, sc);
        else if (ix->m.dtype == JC_INDEX_I8)
            jc_dot_rows_i8(c->simd, c->q, (const int8_t *)s->feat.data + (size_t)a * (size_t)dim,
                           (const float *)s->scale.data + a, n, dim, sc);
        else
            jc_dot_rows_f32(c->simd, c->q, (const float *)s->feat.data + (size_t)a * (size_t)dim, n, dim, sc);
        float thr = *hn == c->k ? h[0].score : -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (sc[i] >= thr) {
                heap_push(h, hn, c->k, (jc_hit){s->first + a + i, sc[i]});
                if (*hn == c->k) thr = h[0].score;
            }
        r0 += n;
    }
}

jaclip_status jc_index_search(const jc_index *ix, const float *query, int k, jaclip_pool *pool, jc_hit *hits,
                              int *n_hits, jaclip_err *err)
{
    *n_hits = 0;
    if (k < 1) return jc_err(err, JACLIP_ERR_ARG, "top-k must be at least 1, got %d", k);
    int dim = ix->m.dim;
    for (int d = 0; d < dim; d++)
        if (!isfinite(query[d])) return jc_err(err, JACLIP_ERR_NUMERIC, "query feature %d is not finite", d);
    if (ix->m.count == 0) return JACLIP_OK;
    if ((int64_t)k > ix->m.count) k = (int)ix->m.count;
    int nt = pool ? jaclip_pool_size(pool) : 1;
    search_ctx c = {.ix = ix, .k = k, .simd = jc_simd_level()};
    float *q = jc_malloc_array((size_t)dim, sizeof(float));
    c.heaps = jc_malloc_array((size_t)nt * (size_t)k, sizeof(jc_hit));
    c.heap_n = calloc((size_t)nt, sizeof(int));
    c.scores = jc_malloc_array((size_t)nt * SEARCH_CHUNK, sizeof(float));
    jaclip_status st = JACLIP_OK;
    if (!q || !c.heaps || !c.heap_n || !c.scores) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(q, query, (size_t)dim * sizeof(float));
    jc_normalize_row(q, dim);
    c.q = q;
    c.n_chunks = (ix->m.count + SEARCH_CHUNK - 1) / SEARCH_CHUNK;
    if (c.n_chunks > 0x7fffffff) {
        st = jc_err(err, JACLIP_ERR_LIMIT, "index too large");
        goto done;
    }
    jc_pool_run(pool, (int)c.n_chunks, search_task, &c);
    int n = 0;
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < c.heap_n[t]; i++) heap_push(hits, &n, k, c.heaps[(size_t)t * (size_t)k + (size_t)i]);
    qsort(hits, (size_t)n, sizeof *hits, cmp_hit_desc);
    *n_hits = n;
done:
    free(q);
    free(c.heaps);
    free(c.heap_n);
    free(c.scores);
    return st;
}

/* ====================================================================================== */
/* Key sets                                                                               */
/* ====================================================================================== */

struct jc_keyset {
    const jc_index *ix;
    int64_t *slot; /* row+1, 0 = empty */
    size_t cap;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

jaclip_status jc_index_keyset(const jc_index *ix, jc_keyset **out, jaclip_err *err)
{
    *out = NULL;
    jc_keyset *ks = calloc(1, sizeof *ks);
    size_t cap = 16;
    while (cap < (size_t)ix->m.count * 2) cap <<= 1;
    if (ks) ks->slot = calloc(cap, sizeof *ks->slot);
    if (!ks || !ks->slot) {
        free(ks);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    ks->ix = ix;
    ks->cap = cap;
    for (int64_t r = 0; r < ix->m.count; r++) {
        size_t len;
        const char *k = jc_index_key(ix, r, &len);
        size_t i = fnv1a(k, len) & (cap - 1);
        while (ks->slot[i]) i = (i + 1) & (cap - 1);
        ks->slot[i] = r + 1;
    }
    *out = ks;
    return JACLIP_OK;
}

bool jc_keyset_has(const jc_keyset *ks, const char *key, size_t len)
{
    size_t i = fnv1a(key, len) & (ks->cap - 1);
    while (ks->slot[i]) {
        size_t l;
        const char *k = jc_index_key(ks->ix, ks->slot[i] - 1, &l);
        if (l == len && memcmp(k, key, len) == 0) return true;
        i = (i + 1) & (ks->cap - 1);
    }
    return false;
}

void jc_keyset_free(jc_keyset *ks)
{
    if (!ks) return;
    free(ks->slot);
    free(ks);
}

/* ====================================================================================== */
/* Public API (include/jaclip.h)                                                          */
/* ====================================================================================== */

jaclip_status jaclip_index_create(const char *dir, int dim, int int8, const char *model_dir, jaclip_err *err)
{
    return jc_index_create(dir, dim, int8 ? JC_INDEX_I8 : JC_INDEX_F32, model_dir, err);
}

jaclip_status jaclip_index_append(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                                  jaclip_err *err)
{
    return jc_index_append(dir, feats, n, dim, keys, err);
}

jaclip_status jaclip_index_open(const char *dir, jaclip_index **out, jaclip_err *err) { return jc_index_open(dir, out, err); }
void jaclip_index_close(jaclip_index *ix) { jc_index_close(ix); }
int64_t jaclip_index_count(const jaclip_index *ix) { return jc_index_count(ix); }
int jaclip_index_dim(const jaclip_index *ix) { return jc_index_dim(ix); }
const char *jaclip_index_key(const jaclip_index *ix, int64_t row, size_t *len) { return jc_index_key(ix, row, len); }

jaclip_status jaclip_index_search(const jaclip_index *ix, const float *query, int k, jaclip_pool *pool,
                                  jaclip_search_hit *hits, int *n_hits, jaclip_err *err)
{
    return jc_index_search(ix, query, k, pool, hits, n_hits, err);
}
