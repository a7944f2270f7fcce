/*
 * index.h — the image search index: L2-normalised features on disk, memory-mapped for
 * search, with the key (path or shard/key) of every row beside them; exact top-k by a
 * full scan with SIMD dot products (AVX-512 / AVX2 chosen at run time, portable C
 * otherwise) spread over the thread pool. Rows are stored as float32, float16 (half the
 * bytes, ranks almost unchanged) or int8 with one float scale per row (4x smaller); the
 * recall loss of both is measured in bench/README.md.
 *
 * On-disk layout (an index is a directory; format version 1):
 *
 *   INDEX/index.json          {"format": "jaclip-index", "version": 1, "dim": 256,
 *                              "dtype": "f32" | "f16" | "i8", "model": "<model dir or ''>",
 *                              "count": N, "segments": [{"name": "seg-000000", "count": n0}, ...]}
 *   INDEX/seg-000000.npy      (n0, dim) "<f4" rows, "<f2" for dtype f16, "|i1" for dtype i8
 *   INDEX/seg-000000.scale.npy  (n0,) "<f4", only for i8: the per-row scale (see below)
 *   INDEX/seg-000000.keys     the n0 keys, UTF-8, each followed by '\n' (keys may not contain
 *                             '\n' or '\r')
 *   INDEX/seg-000000.koff.npy (n0+1,) "<i8" byte offset of each key in .keys (last = file size)
 *
 * Appending writes a new segment (all its files atomically) and then atomically replaces
 * index.json, so an interrupted append leaves the index as it was, and nothing already
 * stored is rewritten. Creates and appends hold an exclusive flock on INDEX/.lock. Rows are numbered 0..N-1 across segments in index.json order.
 * For dtype i8, x[r][d] ~= scale[r] * q[r][d] with q in [-127, 127] and
 * scale[r] = max_d |x[r][d]| / 127 (symmetric per-row quantisation of the normalised row).
 */
#ifndef JACLIP_TASKS_INDEX_H
#define JACLIP_TASKS_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* ---- dot-product kernels ------------------------------------------------------------- */

typedef enum jc_simd { JC_SIMD_SCALAR = 0, JC_SIMD_AVX2 = 1, JC_SIMD_AVX512 = 2 } jc_simd;

/* The best level this CPU supports, capped by env JACLIP_SIMD=scalar|avx2|avx512. */
jc_simd jc_simd_level(void);
const char *jc_simd_name(jc_simd s);
/* Whether this CPU can run level s. */
bool jc_simd_supported(jc_simd s);

/* out[i] = dot(q, rows[i]) for n rows of dim floats, at SIMD level s. Every row's sum is
 * computed by the same sequence of operations whatever n is, so a score computed alone
 * equals the same score computed in a batch (ties stay ties). */
void jc_dot_rows_f32(jc_simd s, const float *q, const float *rows, int64_t n, int dim, float *out);
/* out[i] = scale[i] * dot(q, (float)rows_i8[i]) */
void jc_dot_rows_i8(jc_simd s, const float *q, const int8_t *rows, const float *scale, int64_t n, int dim,
                    float *out);

/* x /= max(||x||, 1e-12), as torch F.normalize (norm summed in double). */
void jc_normalize_row(float *x, int dim);

/* out[i] = dot(q, (float)rows_f16[i]) (IEEE half rows; F16C on AVX2). */
void jc_dot_rows_f16(jc_simd s, const float *q, const uint16_t *rows, int64_t n, int dim, float *out);

/* Symmetric per-row int8 quantisation of one row (see the layout note above). */
void jc_quantize_row_i8(const float *x, int dim, int8_t *q, float *scale);

/* ---- the index ----------------------------------------------------------------------- */

typedef enum jc_index_dtype { JC_INDEX_F32 = 0, JC_INDEX_I8 = 1, JC_INDEX_F16 = 2 } jc_index_dtype;
const char *jc_index_dtype_name(jc_index_dtype t); /* "f32", "i8", "f16" as in index.json */

/* Creates an empty index directory (error if it already holds an index). */
jaclip_status jc_index_create(const char *dir, int dim, jc_index_dtype dtype, const char *model, jaclip_err *err);

/* Appends n rows (raw features; each is L2-normalised here) with their keys as one new
 * segment. Rows that are not finite are refused, naming the key. */
jaclip_status jc_index_append(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                              jaclip_err *err);

typedef struct jaclip_index jc_index; /* the public jaclip_index */

jaclip_status jc_index_open(const char *dir, jc_index **out, jaclip_err *err);
void jc_index_close(jc_index *ix);

int64_t jc_index_count(const jc_index *ix);
int jc_index_dim(const jc_index *ix);
jc_index_dtype jc_index_get_dtype(const jc_index *ix);
const char *jc_index_model(const jc_index *ix); /* "" when none was recorded */
/* Pointer into the mapped keys file (not NUL-terminated) and its length. */
const char *jc_index_key(const jc_index *ix, int64_t row, size_t *len);
/* Bytes of every file of the index (for memory comparisons). */
uint64_t jc_index_file_bytes(const jc_index *ix);

typedef jaclip_search_hit jc_hit;

/* Exact top-k rows by dot product with query (dim floats; normalised here on a copy).
 * Ordered by score descending, then row ascending. *n_hits = min(k, count). */
jaclip_status jc_index_search(const jc_index *ix, const float *query, int k, jaclip_pool *pool, jc_hit *hits,
                              int *n_hits, jaclip_err *err);

/* Sets of keys already stored (for appends that skip what is there). */
typedef struct jc_keyset jc_keyset;
jaclip_status jc_index_keyset(const jc_index *ix, jc_keyset **out, jaclip_err *err);
bool jc_keyset_has(const jc_keyset *ks, const char *key, size_t len);
void jc_keyset_free(jc_keyset *ks);

#endif
