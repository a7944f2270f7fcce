/*
 * base.h — the internal foundation every layer uses: error reporting into jaclip_err,
 * file mapping, whole-file reads, atomic (temp + rename) output files, .npy read/write,
 * progress lines with rate and ETA, and a monotonic clock.
 *
 * Nothing here keeps global state; every object is owned by its caller.
 */
#ifndef JACLIP_BASE_H
#define JACLIP_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jaclip.h"

#if defined(__GNUC__)
#define JC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JC_PRINTF(a, b)
#endif

/* Fills err (if non-NULL) and returns code, so callers write `return jc_err(err, ...)`. */
jaclip_status jc_err(jaclip_err *err, jaclip_status code, const char *fmt, ...) JC_PRINTF(3, 4);
/* Prepends "prefix: " to an existing message (adds context while unwinding). */
jaclip_status jc_err_prefix(jaclip_err *err, const char *fmt, ...) JC_PRINTF(2, 3);

/* ---- memory ---------------------------------------------------------------------------- */
/* Allocations of n*size bytes with overflow checking; NULL on overflow or failure. */
void *jc_calloc(size_t n, size_t size);
void *jc_malloc_array(size_t n, size_t size);
/* 64-byte aligned allocation (free with jc_free_aligned). */
void *jc_malloc_aligned(size_t size);
void jc_free_aligned(void *p);
char *jc_strdup(const char *s);

/* ---- files ----------------------------------------------------------------------------- */
typedef struct jc_map {
    const uint8_t *data;
    size_t size;
} jc_map;

/* Read-only mmap of a whole file (an empty file maps to data=NULL, size=0). */
jaclip_status jc_map_file(const char *path, jc_map *map, jaclip_err *err);
void jc_unmap(jc_map *map);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience; *len excludes
 * the NUL). Refuses files larger than max_bytes. */
jaclip_status jc_read_file(const char *path, size_t max_bytes, char **out, size_t *len, jaclip_err *err);

bool jc_file_exists(const char *path);
bool jc_is_dir(const char *path);
/* mkdir -p */
jaclip_status jc_mkdirs(const char *path, jaclip_err *err);
/* Joins a directory and a name into a malloc'd string. */
char *jc_path_join(const char *dir, const char *name);

/* An output file that only appears under its final name when complete: writes go to
 * "<path>.tmp.<pid>", commit fsyncs and renames, abort removes the temp file. */
typedef struct jc_atomic_file {
    FILE *f;
    char *tmp_path;
    char *path;
} jc_atomic_file;

jaclip_status jc_atomic_open(const char *path, jc_atomic_file *af, jaclip_err *err);
jaclip_status jc_atomic_commit(jc_atomic_file *af, jaclip_err *err);
void jc_atomic_abort(jc_atomic_file *af);

/* Writes a whole buffer atomically. */
jaclip_status jc_write_file_atomic(const char *path, const void *data, size_t len, jaclip_err *err);

/* ---- .npy ------------------------------------------------------------------------------ */
/* dtype descriptors as numpy writes them: "<f4", "<f2", "<f8", "|u1", "|i1", "<i4", "<i8". */
#define JC_NPY_MAX_DIMS 8

typedef struct jc_npy {
    char descr[8];
    int ndim;
    int64_t shape[JC_NPY_MAX_DIMS];
    size_t elem_size;
    size_t count;      /* product of shape */
    const void *data;  /* points into the mapping, C order */
    jc_map map;
} jc_npy;

/* Maps a .npy file and validates header, dtype and that the data fits the file. */
jaclip_status jc_npy_map(const char *path, jc_npy *npy, jaclip_err *err);
void jc_npy_unmap(jc_npy *npy);

/* Writes a C-order .npy atomically. */
jaclip_status jc_npy_write(const char *path, const char *descr, const int64_t *shape, int ndim,
                           const void *data, jaclip_err *err);

/* Streaming .npy writer for (rows, cols) arrays whose row count is known up front. */
typedef struct jc_npy_writer {
    jc_atomic_file af;
    size_t row_bytes;
    int64_t rows_expected, rows_written;
} jc_npy_writer;
jaclip_status jc_npy_writer_open(jc_npy_writer *w, const char *path, const char *descr, int64_t rows,
                                 int64_t cols, jaclip_err *err);
jaclip_status jc_npy_writer_rows(jc_npy_writer *w, const void *data, int64_t rows, jaclip_err *err);
jaclip_status jc_npy_writer_close(jc_npy_writer *w, jaclip_err *err); /* commit; checks row count */
void jc_npy_writer_abort(jc_npy_writer *w);

/* fp16 <-> fp32 and bf16 -> fp32 conversions (IEEE, round-to-nearest-even). */
float jc_f16_to_f32(uint16_t h);
uint16_t jc_f32_to_f16(float f);
float jc_bf16_to_f32(uint16_t b);

/* ---- time and progress ----------------------------------------------------------------- */
double jc_now(void); /* seconds, monotonic */

/* A progress line on stderr, redrawn at most every 0.5 s: "label  done/total  rate/s  ETA".
 * total <= 0 means unknown. Silent when quiet is set. */
typedef struct jc_progress {
    const char *label;
    const char *unit;
    int64_t total, done;
    double t0, last;
    bool quiet, drawn;
} jc_progress;

void jc_progress_start(jc_progress *p, const char *label, const char *unit, int64_t total, bool quiet);
void jc_progress_add(jc_progress *p, int64_t n);
void jc_progress_finish(jc_progress *p);

/* ---- logging --------------------------------------------------------------------------- */
void jc_warn(const char *fmt, ...) JC_PRINTF(1, 2);

/* ---- thread pool (threadpool.c) -------------------------------------------------------- */
/* Runs fn(ctx, task, thread) for task in [0, n_tasks) on the pool (the caller's thread
 * takes part as thread 0). Returns when all tasks are done. pool may be NULL: serial. */
typedef void (*jc_task_fn)(void *ctx, int task, int thread);
void jc_pool_run(jaclip_pool *pool, int n_tasks, jc_task_fn fn, void *ctx);

#endif
