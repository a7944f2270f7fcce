/*
 * score.h — internals of tasks/score.c shared with tests and the filter-shards pipeline:
 * the batching permutation (so a test or a Python reference can reproduce the batches) and
 * the name of the similarity kernel chosen at run time. The public API is in jaclip.h
 * ("Scoring and filtering").
 */
#ifndef JACLIP_TASKS_SCORE_H
#define JACLIP_TASKS_SCORE_H

#include <stdint.h>

#include "jaclip.h"

/* The seeded pseudo-random permutation of [0, n) used for repetition `rep` (documented in
 * score.c; tools/ref/negclip_ref.py reimplements it). */
typedef struct jc_perm {
    uint64_t n, mask;
    int half;
    uint64_t key[4];
} jc_perm;

void jc_perm_init(jc_perm *p, uint64_t n, uint64_t seed, int rep);
uint64_t jc_perm_apply(const jc_perm *p, uint64_t pos);

/* First position of batch k when n pairs are cut into nb near-equal batches. */
int64_t jc_batch_start(int64_t n, int64_t nb, int64_t k);

/* Name of the similarity kernel that a call would use now: "avx512", "avx2" or "scalar".
 * The environment variable JACLIP_SIMD (scalar|avx2|avx512) forces a path when the CPU has it. */
const char *jc_score_kernel_name(void);



/* Writes one JSON object per pair, {"key": <line i of keys_path>, "<names[c]>": cols[c][i], ...},
 * atomically to path. The keys file must hold exactly n lines. */
jaclip_status jc_scores_write_jsonl(const char *path, const char *keys_path, int64_t n, int ncols,
                                    const char *const *names, const float *const *cols, jaclip_err *err);
#endif
