/*
 * filter.c — data selection from per-pair scores (reference/algorithms.md §1.3 and §2):
 * keep the top fraction by score, or every score >= a threshold, and optionally the
 * two-stage negCLIPLoss -> NormSim selection of the negCLIPLoss reference code
 * (`filter_by_score`): among the stage-1 survivors keep the top int(N * f2) by the second
 * score, N being the whole pool; when that count is not smaller than the survivors, the
 * second stage is skipped as in the reference.
 *
 * Counts follow the reference: n_keep = int(N * f) (truncation of the double product, as
 * Python's int()). Exactly n_keep pairs are kept; among equal scores at the cut the lower
 * indices win, so the result is deterministic (the reference's argpartition leaves that
 * order unspecified).
 *
 * The k-th largest score is found by a two-pass radix selection (16 + 16 bits of an
 * order-preserving integer key) over the scores: O(N) time and O(1) extra memory, so the
 * selection streams over memory-mapped score files of any size.
 */
#include "tasks/filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

uint32_t jc_score_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

jaclip_filter_params jaclip_filter_default_params(void)
{
    jaclip_filter_params p = {.keep_fraction = -1, .threshold = 0, .second = NULL, .second_fraction = -1};
    return p;
}

/* Among members (member == NULL: all), finds the key of the k-th largest value (k >= 1) and
 * how many members lie strictly above it. */
static void radix_select(const float *v, int64_t n, const uint8_t *member, int64_t k, int64_t *h, uint32_t *kth,
                         int64_t *above)
{
    int64_t cum = 0;
    uint32_t hb = 0, lb = 0;
    for (int pass = 0; pass < 2; pass++) {
        memset(h, 0, 65536 * sizeof *h);
        for (int64_t i = 0; i < n; i++) {
            if (member && !member[i]) continue;
            uint32_t key = jc_score_key(v[i]);
            if (pass == 0) h[key >> 16]++;
            else if ((key >> 16) == hb) h[key & 0xffff]++;
        }
        for (int b = 65535; b >= 0; b--) {
            if (cum + h[b] >= k) {
                if (pass == 0) hb = (uint32_t)b;
                else lb = (uint32_t)b;
                break;
            }
            cum += h[b];
        }
    }
    *kth = (hb << 16) | lb;
    *above = cum;
}

/* Keeps exactly k members (index order breaks ties); keep[] is both membership and result. */
static jaclip_status keep_top(const float *v, int64_t n, uint8_t *keep, int use_member, int64_t k, jaclip_err *err)
{
    if (k <= 0) {
        memset(keep, 0, (size_t)n);
        return JACLIP_OK;
    }
    int64_t *h = malloc(65536 * sizeof *h); /* histogram of one 16-bit digit */
    if (!h) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    uint32_t kth;
    int64_t above;
    radix_select(v, n, use_member ? keep : NULL, k, h, &kth, &above);
    free(h);
    int64_t ties = k - above;
    for (int64_t i = 0; i < n; i++) {
        if (use_member && !keep[i]) continue;
        uint32_t key = jc_score_key(v[i]);
        keep[i] = key > kth || (key == kth && ties-- > 0);
    }
    return JACLIP_OK;
}

static jaclip_status check_finite(const float *v, int64_t n, const char *what, jaclip_err *err)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return jc_err(err, JACLIP_ERR_NUMERIC, "%s: score %lld is %g", what, (long long)i, (double)v[i]);
    return JACLIP_OK;
}

static int64_t count_of(int64_t n, double f) { return (int64_t)((double)n * f); }

jaclip_status jaclip_filter_select(const float *scores, int64_t n, const jaclip_filter_params *p, uint8_t *keep,
                                   int64_t *n_kept, jaclip_err *err)
{
    if (!p || n < 0 || (n > 0 && (!scores || !keep)))
        return jc_err(err, JACLIP_ERR_ARG, "filter: missing scores or parameters");
    if (p->keep_fraction > 1 || (p->keep_fraction < 0 && !isfinite(p->threshold)))
        return jc_err(err, JACLIP_ERR_ARG, "filter: keep fraction must be in [0, 1] (or give a finite threshold)");
    jaclip_status st = check_finite(scores, n, "scores", err);
    if (st) return st;
    if (p->second) {
        if (!(p->second_fraction >= 0 && p->second_fraction <= 1))
            return jc_err(err, JACLIP_ERR_ARG, "filter: second-stage fraction must be in [0, 1]");
        if ((st = check_finite(p->second, n, "second-stage scores", err))) return st;
    }
    int64_t kept = 0;
    if (p->keep_fraction >= 0) {
        if ((st = keep_top(scores, n, keep, 0, count_of(n, p->keep_fraction), err))) return st;
    } else {
        float t = (float)p->threshold;
        for (int64_t i = 0; i < n; i++) keep[i] = scores[i] >= t;
    }
    for (int64_t i = 0; i < n; i++) kept += keep[i];
    if (p->second) {
        int64_t k2 = count_of(n, p->second_fraction);
        if (k2 < kept) {
            if ((st = keep_top(p->second, n, keep, 1, k2, err))) return st;
            kept = k2;
        }
    }
    *n_kept = kept;
    return JACLIP_OK;
}
