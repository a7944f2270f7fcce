/*
 * filter.h — internals of tasks/filter.c: the order-preserving integer key of a float
 * score used by the radix selection (exposed for tests). The selection API itself is public
 * (jaclip.h, "Scoring and filtering").
 */
#ifndef JACLIP_TASKS_FILTER_H
#define JACLIP_TASKS_FILTER_H

#include <stdint.h>

#include "jaclip.h"

/* Monotone map float -> uint32: a < b (as floats, -0 < +0) iff key(a) < key(b). */
uint32_t jc_score_key(float x);

#endif
