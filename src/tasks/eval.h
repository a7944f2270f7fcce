/*
 * eval.h — evaluation datasets, feature caching and embedding for `jaclip eval`,
 * `jaclip index` and `jaclip search`.
 *
 *  eval_data.c   dataset layouts: CLIP_benchmark WebDataset splits (ROOT/{split}/N.tar +
 *                nshards.txt, classnames.txt, zeroshot_classification_templates.txt),
 *                image files and lists, COCO/STAIR caption JSON. Errors name file and key.
 *  eval_cache.c  per (dataset, model) feature cache in chunks, so that a second run does
 *                not re-embed and an interrupted run resumes.
 *  eval_embed.c  batches of images/texts through the model, with progress.
 *  eval_run.c    the zero-shot and retrieval protocols (algorithms.md §6) on top of those.
 */
#ifndef JACLIP_TASKS_EVAL_H
#define JACLIP_TASKS_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "io/tar.h"
#include "tasks/metrics.h"

/* ---- image sets (eval_data.c) ------------------------------------------------------------ */

/* A list of images with their keys, and (for datasets) a class label and/or captions per
 * image. Shard images point into mapped tars owned by the set. */
typedef struct jc_image_set {
    int64_t n;
    char **keys;            /* n; file path, or "SHARD.tar/KEY" for shard samples */
    const uint8_t **data;   /* n; encoded bytes inside a mapped shard, or NULL: read keys[i] as a file */
    size_t *size;           /* n */
    int32_t *label;         /* n, or NULL when the set has no labels */
    int64_t *cap_first;     /* n+1 offsets into caps, or NULL when the set has no captions */
    char **caps;            /* all captions, grouped by image */
    int64_t n_caps;
    char *source;           /* description for cache ids and messages */
    jc_tar_reader *tars;
    int n_tars;
} jc_image_set;

void jc_image_set_free(jc_image_set *s);

/* Paths as given (keys = paths). */
jaclip_status jc_image_set_from_files(const char *const *paths, int64_t n, jc_image_set *out, jaclip_err *err);
/* One path per line ('#' comments and blank lines skipped). */
jaclip_status jc_image_set_from_list(const char *list_path, jc_image_set *out, jaclip_err *err);

enum { JC_NEED_CLS = 1, JC_NEED_TXT = 2 };
/* Every image sample of the given tar files. With JC_NEED_CLS each sample must have a
 * .cls (an integer in [0, n_classes) when n_classes > 0); with JC_NEED_TXT a .txt with
 * one caption per line. A sample lacking what is needed is an error naming shard and key. */
jaclip_status jc_image_set_from_shards(char *const *tar_paths, int n_tars, unsigned need, int n_classes,
                                       jc_image_set *out, jaclip_err *err);
/* Every *.tar in DIR, in name order (for `jaclip index build --shards DIR`). */
jaclip_status jc_image_set_from_shard_dir(const char *dir, jc_image_set *out, jaclip_err *err);
/* CLIP_benchmark split: ROOT/SPLIT/nshards.txt + 0.tar ... */
jaclip_status jc_image_set_from_split(const char *root, const char *split, unsigned need, int n_classes,
                                      jc_image_set *out, jaclip_err *err);
/* COCO / STAIR caption JSON ({"images":[{id,file_name}], "annotations":[{image_id,caption}]})
 * with images in IMAGES_DIR/file_name. Images without a caption are left out (warned);
 * a caption whose image_id is not among the images is an error naming the file and id.
 * image_list (may be NULL): keep only the images it names, one a line, by COCO id or by
 * file name (compared by basename, so Karpathy-split paths like val2014/COCO_val2014_...jpg
 * work); an entry that matches nothing is an error naming the list, the line and the entry. */
jaclip_status jc_image_set_from_coco(const char *images_dir, const char *captions_json, const char *image_list,
                                     jc_image_set *out, jaclip_err *err);

/* Lines of a UTF-8 text file (trailing \r stripped, blank lines skipped unless keep_blank). */
jaclip_status jc_read_lines(const char *path, char ***lines, int *n, jaclip_err *err);
/* classnames.txt / zeroshot_classification_templates.txt of a CLIP_benchmark dataset;
 * templates must contain "{c}". */
jaclip_status jc_read_classnames(const char *root, char ***names, int *n, jaclip_err *err);
jaclip_status jc_read_templates(const char *path, char ***templates, int *n, jaclip_err *err);
/* template with every "{c}" replaced by name (malloc'd). */
char *jc_format_template(const char *tmpl, const char *name);

/* ---- embedding (eval_embed.c) ------------------------------------------------------------ */

/* Loads a model directory; tokenizer NULL = DIR/spiece.model. The model runs on pool. */
jaclip_status jc_eval_model_load(const char *dir, const char *tokenizer, jaclip_pool *pool, jaclip_model **out,
                                 jaclip_err *err);

/* Embeds images [from, to) of the set into out ((to-from) x dim, L2-normalised), decoding on
 * the pool. With ok == NULL an image that cannot be decoded is an error naming its key;
 * otherwise ok[i] is set to 0 for it (its row is zero, a warning is printed) and 1 for the
 * rest. prog (may be NULL) advances by one per image. */
jaclip_status jc_embed_image_set(jaclip_model *m, const jc_image_set *s, int64_t from, int64_t to, jaclip_pool *pool,
                                 float *out, uint8_t *ok, jc_progress *prog, jaclip_err *err);

/* Embeds n texts into out (n x dim, L2-normalised), in batches; prog advances per text. */
jaclip_status jc_embed_text_list(jaclip_model *m, const char *const *texts, int64_t n, float *out, jc_progress *prog,
                                 jaclip_err *err);

/* One query: text or image file -> dim floats (normalised). Checks the model's dim. */
jaclip_status jc_embed_query(const char *model_dir, const char *tokenizer, const char *text, const char *image,
                             jaclip_pool *pool, float *out, int dim, jaclip_err *err);

/* ---- feature cache (eval_cache.c) -------------------------------------------------------- */

/* Computes rows [from, to) of a feature array into out ((to-from) x dim). */
typedef jaclip_status (*jc_rows_fn)(void *ctx, int64_t from, int64_t to, float *out, jaclip_err *err);

/* Fills out (n x dim) with the features named by id (a string that identifies dataset,
 * split, keys and model), reusing chunks stored under cache_root/<hash of id>/ and computing
 * the missing ones with fn, each chunk committed atomically as soon as it is done (an
 * interrupted run resumes from the last whole chunk). keys (n, may be NULL) are written once
 * as keys.txt, one a line, so that row i of the chunks is readable without jaclip.
 * cache_root NULL: no caching.
 * *reused receives the number of rows read from the cache. */
jaclip_status jc_cache_features(const char *cache_root, const char *id, int64_t n, int dim, const char *const *keys,
                                jc_rows_fn fn, void *ctx, float *out, int64_t *reused, jaclip_err *err);
/* Default cache root: $JACLIP_CACHE, else $XDG_CACHE_HOME/jaclip/features, else ~/.cache/jaclip/features. */
char *jc_cache_default_root(void);
/* An identity string for a model directory: real path + size and mtime of its weights. */
char *jc_model_identity(const char *model_dir, const char *tokenizer);
/* 64-bit FNV-1a of a byte string, continuing from h (start with 0). */
uint64_t jc_hash64(uint64_t h, const void *data, size_t n);

/* ---- protocols (eval_run.c) --------------------------------------------------------------- */

typedef enum jc_template_mode { JC_TEMPLATES_FILE = 0, JC_TEMPLATES_NONE = 1, JC_TEMPLATES_BOTH = 2 } jc_template_mode;

typedef struct jc_eval_params {
    const char *model_dir, *tokenizer;
    const char *dataset_root, *split;     /* CLIP_benchmark layout */
    const char *images_dir, *captions;    /* retrieval from COCO/STAIR caption JSON */
    const char *image_list;               /* optional subset of the caption JSON's images */
    const char *templates;                /* NULL: ROOT/zeroshot_classification_templates.txt */
    jc_template_mode template_mode;
    const char *cache_root;               /* NULL: no cache */
    const char *save_features;            /* directory to write the features and labels used, or NULL */
    int64_t limit;                        /* evaluate only the first N images (0 = all) */
    int ks[JC_RETRIEVAL_MAX_K], n_k;      /* retrieval recall@K list */
    jc_ties ties;
    int n_threads;
    bool quiet;
} jc_eval_params;

jc_eval_params jc_eval_default_params(void);

/* Runs the protocol of algorithms.md §6.1 / §6.2 and returns a CLIP_benchmark-style result
 * object {"dataset", "model", "task", "metrics": {...}, ...} (free with cJSON_Delete). */
struct cJSON;
jaclip_status jc_eval_zeroshot(const jc_eval_params *p, struct cJSON **result, jaclip_err *err);
jaclip_status jc_eval_retrieval(const jc_eval_params *p, struct cJSON **result, jaclip_err *err);

#endif
