/*
 * metrics.c — CLIP_benchmark's zero-shot and retrieval metrics (definitions and the tie
 * rule in metrics.h).
 *
 * Retrieval never materialises the caption x image score matrix (25k x 5k for COCO-5k is
 * fine, but STAIR val2014 would be 200k x 40k): a first pass computes each caption's score
 * with its own image and each image's best caption score; a second pass over blocks of
 * captions counts, for every caption, images that beat its gold image, and for every
 * image, non-matching captions that beat its best caption. A hit at K is "fewer than K
 * competitors ahead". Both passes use the same dot kernel, so a gold score and the same
 * pair met again in the scan are bit-identical and ties are seen as ties.
 */
#include "tasks/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/index.h"

jaclip_status jc_zeroshot_metrics_compute(const float *logits, int64_t n, int n_classes, const int32_t *target,
                                          jc_ties ties, jc_zeroshot_metrics *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    if (n <= 0) return jc_err(err, JACLIP_ERR_ARG, "no samples to score");
    if (n_classes < 1) return jc_err(err, JACLIP_ERR_ARG, "no classes");
    int64_t *cls_n = calloc((size_t)n_classes, sizeof *cls_n), *cls_ok = calloc((size_t)n_classes, sizeof *cls_ok);
    if (!cls_n || !cls_ok) {
        free(cls_n);
        free(cls_ok);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    int64_t top1 = 0, top5 = 0;
    jaclip_status st = JACLIP_OK;
    for (int64_t i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * (size_t)n_classes;
        int32_t t = target[i];
        if (t < 0 || t >= n_classes) {
            st = jc_err(err, JACLIP_ERR_ARG, "sample %lld: target %d is not a class in [0, %d)", (long long)i, t,
                        n_classes);
            break;
        }
        float g = l[t];
        if (!isfinite(g)) {
            st = jc_err(err, JACLIP_ERR_NUMERIC, "sample %lld: logit of class %d is not finite", (long long)i, t);
            break;
        }
        int ahead = 0;
        for (int c = 0; c < n_classes; c++) {
            if (c == t) continue;
            if (isnan(l[c])) {
                st = jc_err(err, JACLIP_ERR_NUMERIC, "sample %lld: logit of class %d is NaN", (long long)i, c);
                break;
            }
            ahead += ties == JC_TIES_GOLD_LAST ? l[c] >= g : l[c] > g;
        }
        if (st) break;
        cls_n[t]++;
        if (ahead < 1) {
            top1++;
            cls_ok[t]++;
        }
        if (ahead < 5) top5++;
    }
    if (!st) {
        out->n = n;
        out->n_classes = n_classes;
        out->acc1 = (double)top1 / (double)n;
        out->acc5 = n_classes >= 5 ? (double)top5 / (double)n : NAN;
        double sum = 0;
        int present = 0;
        for (int c = 0; c < n_classes; c++)
            if (cls_n[c]) {
                sum += (double)cls_ok[c] / (double)cls_n[c];
                present++;
            }
        out->mean_per_class_recall = sum / present;
    }
    free(cls_n);
    free(cls_ok);
    return st;
}

/* ---- retrieval ------------------------------------------------------------------------ */

#define RET_BLOCK 64 /* captions per task */
#define RET_TILE 256 /* images per cache tile (256 x 256 floats = 256 KB) */

typedef struct ret_ctx {
    const float *img, *txt;
    int64_t n_img, n_txt;
    int dim;
    const int64_t *text_image;
    jc_ties ties;
    jc_simd simd;
    const float *gold;  /* n_txt: score of caption t with its image */
    const float *best;  /* n_img: best score of image i over its captions */
    int64_t *t2i_ahead; /* n_txt: images ahead of the gold image */
    int64_t *i2t_ahead; /* n_threads * n_img: captions ahead of the best caption, per thread */
    float *row;         /* n_threads * RET_TILE */
    jc_progress *prog;  /* touched by thread 0 only */
    atomic_llong done;  /* captions finished */
} ret_ctx;

static void gold_task(void *vc, int task, int thread)
{
    (void)thread;
    ret_ctx *c = vc;
    int64_t t0 = (int64_t)task * RET_BLOCK, t1 = t0 + RET_BLOCK < c->n_txt ? t0 + RET_BLOCK : c->n_txt;
    for (int64_t t = t0; t < t1; t++)
        jc_dot_rows_f32(c->simd, c->txt + (size_t)t * (size_t)c->dim, c->img + (size_t)c->text_image[t] * (size_t)c->dim,
                        1, c->dim, (float *)&c->gold[t]);
}

/* Captions [t0, t1) against all images, tile by tile so that a tile of images stays in
 * cache while the block of captions passes over it (a caption-by-caption sweep would
 * stream the whole image matrix from memory once per caption). Counts are sums over
 * tiles, so tiling changes nothing in the result. */
static void count_task(void *vc, int task, int thread)
{
    ret_ctx *c = vc;
    int64_t t0 = (int64_t)task * RET_BLOCK, t1 = t0 + RET_BLOCK < c->n_txt ? t0 + RET_BLOCK : c->n_txt;
    float *row = c->row + (size_t)thread * RET_TILE;
    int64_t *i2t = c->i2t_ahead + (size_t)thread * (size_t)c->n_img;
    bool ge = c->ties == JC_TIES_GOLD_LAST;
    for (int64_t t = t0; t < t1; t++) c->t2i_ahead[t] = 0;
    for (int64_t j0 = 0; j0 < c->n_img; j0 += RET_TILE) {
        int64_t nj = c->n_img - j0 < RET_TILE ? c->n_img - j0 : RET_TILE;
        for (int64_t t = t0; t < t1; t++) {
            jc_dot_rows_f32(c->simd, c->txt + (size_t)t * (size_t)c->dim, c->img + (size_t)j0 * (size_t)c->dim, nj, c->dim, row);
            int64_t gi = c->text_image[t];
            float g = c->gold[t];
            int64_t ahead = 0;
            for (int64_t k = 0; k < nj; k++) {
                int64_t j = j0 + k;
                float s = row[k];
                if (j == gi) continue;
                ahead += ge ? s >= g : s > g;
                i2t[j] += ge ? s >= c->best[j] : s > c->best[j]; /* caption t is not one of image j's */
            }
            c->t2i_ahead[t] += ahead;
        }
    }
    long long done = atomic_fetch_add(&c->done, t1 - t0) + (t1 - t0);
    if (thread == 0 && c->prog) jc_progress_add(c->prog, done - c->prog->done);
}

jaclip_status jc_retrieval_metrics_compute(const float *img, int64_t n_img, const float *txt, int64_t n_txt, int dim,
                                           const int64_t *text_image, const int *ks, int n_k, jc_ties ties,
                                           jaclip_pool *pool, jc_progress *prog, jc_retrieval_metrics *out,
                                           jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    if (n_img <= 0 || n_txt <= 0) return jc_err(err, JACLIP_ERR_ARG, "retrieval needs images and captions (got %lld and %lld)",
                                                 (long long)n_img, (long long)n_txt);
    if (n_k < 1 || n_k > JC_RETRIEVAL_MAX_K) return jc_err(err, JACLIP_ERR_ARG, "between 1 and %d recall@K values", JC_RETRIEVAL_MAX_K);
    for (int i = 0; i < n_k; i++)
        if (ks[i] < 1) return jc_err(err, JACLIP_ERR_ARG, "recall@K needs K >= 1, got %d", ks[i]);
    if ((n_txt + RET_BLOCK - 1) / RET_BLOCK > 0x7fffffff) return jc_err(err, JACLIP_ERR_LIMIT, "too many captions");
    for (size_t i = 0; i < (size_t)n_img * (size_t)dim; i++)
        if (!isfinite(img[i])) return jc_err(err, JACLIP_ERR_NUMERIC, "image %lld: feature %d is not finite",
                                             (long long)(i / (size_t)dim), (int)(i % (size_t)dim));
    for (size_t i = 0; i < (size_t)n_txt * (size_t)dim; i++)
        if (!isfinite(txt[i])) return jc_err(err, JACLIP_ERR_NUMERIC, "caption %lld: feature %d is not finite",
                                             (long long)(i / (size_t)dim), (int)(i % (size_t)dim));
    int64_t *n_caps = calloc((size_t)n_img, sizeof *n_caps);
    if (!n_caps) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    for (int64_t t = 0; t < n_txt; t++) {
        if (text_image[t] < 0 || text_image[t] >= n_img) {
            free(n_caps);
            return jc_err(err, JACLIP_ERR_ARG, "caption %lld belongs to image %lld, which does not exist (%lld images)",
                          (long long)t, (long long)text_image[t], (long long)n_img);
        }
        n_caps[text_image[t]]++;
    }
    for (int64_t i = 0; i < n_img; i++)
        if (!n_caps[i]) {
            free(n_caps);
            return jc_err(err, JACLIP_ERR_ARG, "image %lld has no caption", (long long)i);
        }
    free(n_caps);

    int nt = pool ? jaclip_pool_size(pool) : 1;
    ret_ctx c = {.img = img, .txt = txt, .n_img = n_img, .n_txt = n_txt, .dim = dim, .text_image = text_image,
                 .ties = ties, .simd = jc_simd_level()};
    float *gold = jc_malloc_array((size_t)n_txt, sizeof(float));
    float *best = jc_malloc_array((size_t)n_img, sizeof(float));
    c.t2i_ahead = jc_malloc_array((size_t)n_txt, sizeof(int64_t));
    c.i2t_ahead = jc_calloc((size_t)nt * (size_t)n_img, sizeof(int64_t));
    c.row = jc_malloc_array((size_t)nt * RET_TILE, sizeof(float));
    jaclip_status st = JACLIP_OK;
    if (!gold || !best || !c.t2i_ahead || !c.i2t_ahead || !c.row) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.gold = gold;
    c.best = best;
    c.prog = prog;
    atomic_init(&c.done, 0);
    int n_tasks = (int)((n_txt + RET_BLOCK - 1) / RET_BLOCK);
    jc_pool_run(pool, n_tasks, gold_task, &c);
    for (int64_t i = 0; i < n_img; i++) best[i] = -INFINITY;
    for (int64_t t = 0; t < n_txt; t++)
        if (gold[t] > best[text_image[t]]) best[text_image[t]] = gold[t];
    jc_pool_run(pool, n_tasks, count_task, &c);
    if (prog) jc_progress_add(prog, n_txt - prog->done);
    for (int th = 1; th < nt; th++)
        for (int64_t i = 0; i < n_img; i++) c.i2t_ahead[i] += c.i2t_ahead[(size_t)th * (size_t)n_img + (size_t)i];
    out->n_k = n_k;
    out->n_images = n_img;
    out->n_texts = n_txt;
    for (int q = 0; q < n_k; q++) {
        out->k[q] = ks[q];
        int64_t hit = 0;
        for (int64_t t = 0; t < n_txt; t++) hit += c.t2i_ahead[t] < ks[q];
        out->t2i[q] = (double)hit / (double)n_txt;
        hit = 0;
        for (int64_t i = 0; i < n_img; i++) hit += c.i2t_ahead[i] < ks[q];
        out->i2t[q] = (double)hit / (double)n_img;
    }
done:
    free(gold);
    free(best);
    free(c.t2i_ahead);
    free(c.i2t_ahead);
    free(c.row);
    return st;
}
