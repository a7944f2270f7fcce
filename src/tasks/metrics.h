/*
 * metrics.h — the evaluation metrics of CLIP_benchmark, computed from features or logits:
 * zero-shot classification (acc1, acc5, mean_per_class_recall) and image-text retrieval
 * with several captions per image (image_retrieval_recall@K = text->image,
 * text_retrieval_recall@K = image->text). Values are fractions in [0, 1] as in
 * CLIP_benchmark's JSON; the CLI prints them as percentages.
 *
 * Counting follows CLIP_benchmark (clip_benchmark/metrics/zeroshot_{classification,retrieval}.py):
 *  - acc@k: the target is among the k highest logits; acc5 is NaN with fewer than 5 classes.
 *  - mean_per_class_recall: sklearn balanced_accuracy_score(target, argmax) = the mean over
 *    the classes that occur in target of (correct top-1 in that class / samples of that class).
 *  - text->image R@K: per caption, its image is among the K best images; mean over captions.
 *  - image->text R@K: per image, at least one of its captions is among the K best captions
 *    (CLIP_benchmark's "recall > 0"); mean over images. K is capped at the candidate count.
 * Ties: CLIP_benchmark keeps whatever torch.topk returns among equal scores, which is not
 * specified (torch 1.13 on CPU does not keep index order). Here it is deterministic:
 * JC_TIES_GOLD_LAST (default) ranks a gold item after every other item with the same score,
 * i.e. hit@K  <=>  #{non-gold items with score >= best gold score} < K, so a tie never
 * inflates a result (algorithms.md §6.2); JC_TIES_GOLD_FIRST counts ties as hits
 * (#{non-gold with score > best gold} < K). Without exact ties both equal CLIP_benchmark.
 */
#ifndef JACLIP_TASKS_METRICS_H
#define JACLIP_TASKS_METRICS_H

#include <stdint.h>

#include "base/base.h"

typedef enum jc_ties { JC_TIES_GOLD_LAST = 0, JC_TIES_GOLD_FIRST = 1 } jc_ties;

typedef struct jc_zeroshot_metrics {
    double acc1, acc5, mean_per_class_recall;
    int64_t n;
    int n_classes;
} jc_zeroshot_metrics;

/* logits: n rows of n_classes; target: n class indices in [0, n_classes). */
jaclip_status jc_zeroshot_metrics_compute(const float *logits, int64_t n, int n_classes, const int32_t *target,
                                          jc_ties ties, jc_zeroshot_metrics *out, jaclip_err *err);

#define JC_RETRIEVAL_MAX_K 8

typedef struct jc_retrieval_metrics {
    int n_k;
    int k[JC_RETRIEVAL_MAX_K];
    double t2i[JC_RETRIEVAL_MAX_K]; /* image_retrieval_recall@k */
    double i2t[JC_RETRIEVAL_MAX_K]; /* text_retrieval_recall@k */
    int64_t n_images, n_texts;
} jc_retrieval_metrics;

/* img: n_img x dim, txt: n_txt x dim, both L2-normalised; text_image[t] is the image of
 * caption t. Every image needs at least one caption. Scores are computed on the pool with
 * the SIMD dot kernel (no n_txt x n_img matrix is held). prog (may be NULL) counts captions. */
jaclip_status jc_retrieval_metrics_compute(const float *img, int64_t n_img, const float *txt, int64_t n_txt, int dim,
                                           const int64_t *text_image, const int *ks, int n_k, jc_ties ties,
                                           jaclip_pool *pool, jc_progress *prog, jc_retrieval_metrics *out,
                                           jaclip_err *err);

#endif
