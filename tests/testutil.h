/*
 * testutil.h — the tiny assertion kit every C test uses: CHECK records a failure with file
 * and line and carries on; test_done() prints "N passed, N failed" and returns the exit
 * status. Paths to ../shared and to golden files are relative to the repository root
 * (ctest runs tests there).
 */
#ifndef JACLIP_TESTUTIL_H
#define JACLIP_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jaclip.h"

extern int test_passed, test_failed;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (cond) test_passed++;                                                                  \
        else {                                                                                    \
            test_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

/* Exits the test (counted as failed) when a precondition for the rest does not hold. */
#define REQUIRE(cond, ...)                                                                        \
    do {                                                                                          \
        bool require_ok_ = (cond);                                                                \
        CHECK(require_ok_ && #cond, __VA_ARGS__);                                                 \
        if (!require_ok_) return test_done();                                                     \
    } while (0)

int test_done(void);

/* Cosine similarity and max |a-b| of two float vectors. */
double test_cosine(const float *a, const float *b, size_t n);
double test_max_abs_diff(const float *a, const float *b, size_t n);
double test_max_abs(const float *a, size_t n);

/* Path of the shared folder ("../shared" unless JACLIP_SHARED is set). */
const char *test_shared(void);
/* The model's SentencePiece vocabulary in the shared folder. */
const char *test_tokenizer(void);
/* Loads the model directory dir with that tokenizer on `threads` threads; NULL and err on
 * failure. */
jaclip_model *test_load_model(const char *dir, int threads, jaclip_err *err);
/* A fresh temporary directory (removed at exit). */
const char *test_tmpdir(void);
/* Runs a shell command, returns its exit status (or -1). */
int test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Tests of the SIMD kernels at every dispatch level (JACLIP_GEMM, see kernels/gemm.h).
 * test_levels_parent: without JACLIP_GEMM, reruns argv0 once per level (portable, avx2,
 * avx512, avx512vnni), checks each child's exit status and returns true (the caller then
 * returns test_done()); with JACLIP_GEMM set (a child) returns false at once.
 * test_levels_child: prints which level runs; a lower level than the one asked for is
 * accepted only where this CPU lacks the asked one (a level the CPU has but the dispatcher
 * refused means its kernels failed their self-check: a failure). */
bool test_levels_parent(const char *argv0);
void test_levels_child(void);

/* Deterministic test data: a xorshift64 stream (state: any non-zero seed), uniform in
 * [-1, 1); test_fill writes n such values. */
float test_frand(uint64_t *state);
void test_fill(uint64_t *state, float *x, size_t n);

#endif
