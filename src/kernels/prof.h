/*
 * prof.h — optional per-operation timing of the kernels for `jaclip bench --profile`:
 * when enabled, matmul_forward / matmul_q8_forward (keyed by K x N), attention, LayerNorm
 * and the activations add their wall time and FLOPs to a small table. Off by default; the
 * cost when off is one relaxed load per kernel call.
 */
#ifndef JACLIP_KERNELS_PROF_H
#define JACLIP_KERNELS_PROF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kprof_row {
    char name[48];
    long calls;
    double seconds, flops;
} kprof_row;

void kprof_enable(bool on);
bool kprof_enabled(void);
void kprof_reset(void);
/* name is copied; rows with the same name accumulate */
void kprof_add(const char *name, double seconds, double flops);
/* Copies up to max rows, sorted by time (largest first); returns how many. */
int kprof_rows(kprof_row *out, int max);

#endif
