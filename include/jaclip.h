/*
 * jaclip.h — the one public header of jaclip, a C11 engine for LY Corporation's Japanese
 * CLIP model clip-japanese-base-v2 (and v1): inference, evaluation, mining, filtering and
 * training.
 *
 * Conventions (see README "Library"):
 *  - Every fallible function returns a jaclip_status and fills a caller-owned jaclip_err
 *    (may be NULL) with a message that names the file, the record and the problem.
 *    The library never calls exit() or abort().
 *  - Objects are opaque (struct jaclip_model *, ...), created by a _load or _create function and
 *    released by the matching _free. Buffers passed in stay owned by the caller; buffers returned
 *    are documented with the function that frees them.
 *  - Parameters come in structs with a *_default_params() constructor so that new fields
 *    can be added without breaking callers.
 *
 * The header is laid out by area; each area keeps to its own section.
 */
#ifndef JACLIP_H
#define JACLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ====================================================================================== */
/* Errors                                                                                 */
/* ====================================================================================== */

typedef enum jaclip_status {
    JACLIP_OK = 0,
    JACLIP_ERR_IO = 1,          /* a file could not be opened, read, written or renamed */
    JACLIP_ERR_FORMAT = 2,      /* input is corrupt or malformed (names file and offset/key) */
    JACLIP_ERR_UNSUPPORTED = 3, /* well-formed input that this build does not handle */
    JACLIP_ERR_ARG = 4,         /* invalid argument or option value */
    JACLIP_ERR_NOMEM = 5,       /* allocation failed */
    JACLIP_ERR_LIMIT = 6,       /* input exceeds a configured limit (size, pixels, length) */
    JACLIP_ERR_MISMATCH = 7,    /* shapes/dims of inputs that must agree do not */
    JACLIP_ERR_NUMERIC = 8,     /* NaN/Inf where a finite value is required */
    JACLIP_ERR_INTERNAL = 9     /* a bug in jaclip */
} jaclip_status;

#define JACLIP_ERR_MSG_MAX 1024

/* Caller-owned error record. Functions fill it on failure (code + message); on success
 * they leave it untouched. */
typedef struct jaclip_err {
    jaclip_status code;
    char msg[JACLIP_ERR_MSG_MAX];
} jaclip_err;

/* Short name of a status ("io", "format", ...). Never NULL. */
const char *jaclip_status_name(jaclip_status st);

/* Library version string, e.g. "0.1.0". */
const char *jaclip_version(void);

/* ====================================================================================== */
/* Threads                                                                                */
/* ====================================================================================== */

/* One explicit thread pool serves every parallel part of the library. */
typedef struct jaclip_pool jaclip_pool;

/* n_threads <= 0 means "all online CPUs". */
jaclip_status jaclip_pool_create(int n_threads, jaclip_pool **out, jaclip_err *err);
void jaclip_pool_free(jaclip_pool *pool);
int jaclip_pool_size(const jaclip_pool *pool);

/* ====================================================================================== */
/* Tokenizer (text/)                                                                      */
/* ====================================================================================== */

/* The CLYP tokenizer: rinna's SentencePiece unigram model behind CLYP's wrapper rules
 * (per-code-point lower-casing, literal special tokens, [CLS]=4 prepended, at most 77 ids,
 * right padding with [PAD]=3). */
typedef struct jaclip_tokenizer jaclip_tokenizer;

#define JACLIP_MAX_TEXT_LEN 77
#define JACLIP_TOKEN_CLS 4
#define JACLIP_TOKEN_PAD 3

/* Loads a SentencePiece .model file (unigram; e.g. DIR/spiece.model). A corrupt or truncated file
 * is JACLIP_ERR_FORMAT with the path and byte offset in the message. A loaded tokenizer is
 * read-only: any number of threads may tokenize with it at once. */
jaclip_status jaclip_tokenizer_load(const char *spm_path, jaclip_tokenizer **out, jaclip_err *err);
void jaclip_tokenizer_free(jaclip_tokenizer *tok);

/* Tokenizes one UTF-8 text (len bytes; may contain NUL and invalid UTF-8) into at most
 * max_ids ids including the leading [CLS]; no padding. *n_ids receives the count. */
jaclip_status jaclip_tokenize(const jaclip_tokenizer *tok, const char *text, size_t len,
                              int32_t *ids, int max_ids, int *n_ids, jaclip_err *err);

/* A padded batch: n rows of len ids (len = longest row), row-major. texts are NUL-terminated;
 * max_len <= 0 means JACLIP_MAX_TEXT_LEN (77). Free with jaclip_token_batch_free. */
typedef struct jaclip_token_batch {
    int n, len;
    int32_t *ids;       /* n*len, padded with JACLIP_TOKEN_PAD */
    int32_t *mask;      /* n*len, 1 for real tokens, 0 for padding */
    int32_t *positions; /* n*len, 0..len-1 in every row, pads included */
    int32_t *lengths;   /* n, number of real tokens per row */
} jaclip_token_batch;

jaclip_status jaclip_tokenize_batch(const jaclip_tokenizer *tok, const char *const *texts, int n,
                                    int max_len, jaclip_token_batch *out, jaclip_err *err);
void jaclip_token_batch_free(jaclip_token_batch *b);

/* ====================================================================================== */
/* Images (image/)                                                                        */
/* ====================================================================================== */

typedef struct jaclip_image_params {
    int image_size;        /* square model input side, 224 */
    float mean[3], std[3]; /* normalisation constants */
    int exif_rotate;       /* 0 = Pillow behaviour (ignore EXIF orientation) */
    uint64_t max_pixels;   /* refuse images with more pixels than this before decoding */
} jaclip_image_params;

/* image_size 224, openai_clip mean/std, no EXIF rotation, max_pixels 178956970
 * (Pillow's decompression-bomb error threshold, 2x its warning limit). */
jaclip_image_params jaclip_image_default_params(void);

/* Sets mean/std from a preprocessor_config.json normalization_type name
 * ("imagenet", "openai_clip", "imagenet_inception"). */
jaclip_status jaclip_image_set_normalization(jaclip_image_params *p, const char *type, jaclip_err *err);

/* Decodes an encoded image (JPEG/PNG/WebP) and letterboxes it exactly as the reference
 * Pillow pipeline does; rgb_out receives image_size*image_size*3 uint8 (HWC).
 * `name` is used in error messages (file path or shard/key). */
jaclip_status jaclip_image_letterbox_mem(const void *data, size_t size, const char *name,
                                         const jaclip_image_params *p, uint8_t *rgb_out,
                                         jaclip_err *err);
jaclip_status jaclip_image_letterbox_file(const char *path, const jaclip_image_params *p,
                                          uint8_t *rgb_out, jaclip_err *err);

/* uint8 HWC (S*S*3) -> float32 CHW (3*S*S): (x/255 - mean)/std. */
void jaclip_image_normalize(const uint8_t *rgb, int size, const float mean[3], const float std[3],
                            float *chw_out);

/* ====================================================================================== */
/* Model (model/)                                                                         */
/* ====================================================================================== */

typedef struct jaclip_model jaclip_model;

typedef struct jaclip_model_params {
    const char *tokenizer_path; /* NULL: DIR/spiece.model */
    int n_threads;              /* <= 0: all CPUs */
    jaclip_pool *pool;          /* optional shared pool (not owned); overrides n_threads */
    int allow_unknown_config;   /* 1: unknown config.json keys are warnings, not errors */
} jaclip_model_params;

jaclip_model_params jaclip_model_default_params(void);

/* Loads a Hugging Face snapshot directory (config.json, model.safetensors,
 * preprocessor_config.json, spiece.model). */
jaclip_status jaclip_model_load(const char *dir, const jaclip_model_params *p, jaclip_model **out,
                                jaclip_err *err);
void jaclip_model_free(jaclip_model *m);

int jaclip_model_dim(const jaclip_model *m);          /* neck output size: 256 (v2), 512 (v1) */
float jaclip_model_temperature(const jaclip_model *m); /* tau: logits = cos / tau */
const jaclip_image_params *jaclip_model_image_params(const jaclip_model *m);
const jaclip_tokenizer *jaclip_model_tokenizer(const jaclip_model *m); /* NULL if none loaded */

/* Raw neck outputs (not normalised), out is n*dim floats.
 * embed_pixels: chw holds n normalised images of 3*S*S floats (S = image_params->image_size),
 *   e.g. from jaclip_image_letterbox_* + jaclip_image_normalize.
 * embed_tokens: each row's real tokens are b->lengths[i] if set, else the leading run of
 *   mask 1s, else the whole row; position ids, if given, must be 0..len-1. Rows run unpadded,
 *   so padding and batch composition never change a feature (bit for bit).
 * embed_texts: tokenizes with the model's tokenizer (at most 77 ids) and embeds.
 * The result is checked: NaN/Inf gives JACLIP_ERR_NUMERIC. */
jaclip_status jaclip_embed_pixels(jaclip_model *m, const float *chw, int n, float *out, jaclip_err *err);
jaclip_status jaclip_embed_tokens(jaclip_model *m, const jaclip_token_batch *b, float *out, jaclip_err *err);
jaclip_status jaclip_embed_texts(jaclip_model *m, const char *const *texts, int n, float *out, jaclip_err *err);

/* L2-normalises n rows of dim floats in place (eps 1e-12, as torch F.normalize). */
void jaclip_l2_normalize(float *x, int n, int dim);

/* ====================================================================================== */
/* Search index (tasks/index.c; the directory layout is in README "jaclip index")          */
/* ====================================================================================== */

/* L2-normalised features on disk, memory-mapped, with a key (path) per row; exact top-k
 * by SIMD dot products on the pool. Appending adds a segment without rewriting rows. */
typedef struct jaclip_index jaclip_index;

typedef struct jaclip_search_hit {
    int64_t row;
    float score; /* cosine similarity */
} jaclip_search_hit;

/* Creates an empty index directory for dim-float features (int8 != 0: int8 rows + scale). */
jaclip_status jaclip_index_create(const char *dir, int dim, int int8, const char *model_dir, jaclip_err *err);
/* Appends n raw feature rows (normalised here) and their keys (no line breaks) atomically. */
jaclip_status jaclip_index_append(const char *dir, const float *feats, int64_t n, int dim, const char *const *keys,
                                  jaclip_err *err);
jaclip_status jaclip_index_open(const char *dir, jaclip_index **out, jaclip_err *err);
void jaclip_index_close(jaclip_index *ix);
int64_t jaclip_index_count(const jaclip_index *ix);
int jaclip_index_dim(const jaclip_index *ix);
/* The key of a row: a pointer into the mapped keys (not NUL-terminated) and its length. */
const char *jaclip_index_key(const jaclip_index *ix, int64_t row, size_t *len);
/* Top-k rows for a query of dim floats (any norm), best first, ties by row; *n_hits = min(k, count). */
jaclip_status jaclip_index_search(const jaclip_index *ix, const float *query, int k, jaclip_pool *pool,
                                  jaclip_search_hit *hits, int *n_hits, jaclip_err *err);

/* ====================================================================================== */
/* Speed (kernels/, model/linear.c)                                                       */
/* ====================================================================================== */

/* How the transformer blocks' Linear weights of both towers are held (the load default is
 * "fp32": packed once at load for the GEMM). "fp16": rounded to fp16 and stored as fp16,
 * widened exactly in the GEMM, all arithmetic fp32 (half the bytes to stream: faster
 * batch-1 texts; features within cosine 0.99999 of fp32). "int8": quantized per output
 * channel, activations per token at run time; LayerNorm, softmax, RoPE, attention
 * products, patch embedding and the necks stay fp32. */
jaclip_status jaclip_model_set_dtype(jaclip_model *m, const char *dtype, jaclip_err *err);
const char *jaclip_model_dtype(const jaclip_model *m); /* "fp32", "fp16" or "int8" */

/* ====================================================================================== */
/* Scoring and filtering (tasks/score, tasks/filter)                                      */
/* ====================================================================================== */

/* A read-only view of n embeddings of dim values, row-major, as float32 or IEEE float16
 * (e.g. the data of a memory-mapped .npy). `name` (a file name) is used in error messages. */
typedef enum jaclip_dtype { JACLIP_F32 = 0, JACLIP_F16 = 1 } jaclip_dtype;
typedef struct jaclip_emb_view {
    const void *data;
    int64_t n;
    int dim;
    jaclip_dtype dtype;
    const char *name;
} jaclip_emb_view;

typedef struct jaclip_negclip_params {
    int64_t batch;      /* B, pairs per random batch (default 32768) */
    int repeats;        /* K, independent random batchings averaged (default 10) */
    float temperature;  /* tau of the scoring model (default 0.01) */
    uint64_t seed;      /* batch assignment seed (default 0) */
    jaclip_pool *pool;  /* optional (not owned); NULL: single thread */
    int quiet;          /* 1: no progress line on stderr */
} jaclip_negclip_params;

jaclip_negclip_params jaclip_negclip_default_params(void);

/* CLIP score: out[i] = cos(img_i, txt_i). Inputs are checked (same n and dim, finite,
 * non-zero rows). */
jaclip_status jaclip_score_clip(const jaclip_emb_view *img, const jaclip_emb_view *txt, float *out,
                                jaclip_err *err);

/* negCLIPLoss (Wang et al. 2024): out[i] = cos_ii - (1/K) sum_k [tau/2 LSE_row + tau/2 LSE_col]
 * inside random batches. Rows are L2-normalised first. Batches of one repetition are the
 * ceil(n/B) slices of a seeded pseudo-random permutation with near-equal sizes (see
 * src/tasks/score.c). out has n floats. */
jaclip_status jaclip_score_negclip(const jaclip_emb_view *img, const jaclip_emb_view *txt,
                                   const jaclip_negclip_params *p, float *out, jaclip_err *err);

/* Batch of every pair in repetition `rep` (0-based) under the negCLIPLoss batching:
 * batch_id[i] in [0, ceil(n/B)). For tests and for inspecting the assignment. */
jaclip_status jaclip_negclip_assignment(int64_t n, int64_t batch, uint64_t seed, int rep,
                                        int32_t *batch_id, jaclip_err *err);

/* NormSim_p (p = 2, or p = INFINITY for the max) of each image embedding against the target
 * image embeddings: out[i] = (sum_t |g_t . f_i|^p)^(1/p), all rows L2-normalised. */
jaclip_status jaclip_score_normsim(const jaclip_emb_view *img, const jaclip_emb_view *target, double p,
                                   jaclip_pool *pool, float *out, jaclip_err *err);

/* Selection (reference filter_by_score): keep the top int(n*keep_fraction) by score (ties go
 * to the lower index) or every score >= threshold; optionally a second stage keeps, among the
 * survivors, the top int(n*second_fraction) by second[] (NormSim), n being the whole pool. */
typedef struct jaclip_filter_params {
    double keep_fraction;   /* in [0,1]; < 0: use threshold */
    double threshold;       /* used when keep_fraction < 0 */
    const float *second;    /* optional second-stage scores (n floats) or NULL */
    double second_fraction; /* of the whole pool; ignored when second is NULL */
} jaclip_filter_params;

jaclip_filter_params jaclip_filter_default_params(void);

/* keep[i] = 1 for kept pairs, 0 otherwise; *n_kept receives the count. Uses O(1) extra
 * memory (radix selection over the scores). NaN scores are an error. */
jaclip_status jaclip_filter_select(const float *scores, int64_t n, const jaclip_filter_params *p,
                                   uint8_t *keep, int64_t *n_kept, jaclip_err *err);

/* Filtering WebDataset shards end to end (tasks/filter_shards.c): embeds every (image, txt)
 * sample of the input shards with the model, scores all pairs globally, and writes the kept
 * samples (all their fields) to OUT/<same shard name>, adding <key>.json with the scores.
 * State lives in OUT/.jaclip-filter/ so that a rerun resumes where it stopped; every file is
 * written atomically, so an interruption never leaves a partial shard. */
typedef struct jaclip_filter_shards_params {
    const char *const *in_shards; /* .tar paths */
    int n_in;
    const char *out_dir;
    int use_clipscore;            /* 0: negCLIPLoss, 1: CLIP score */
    double keep_fraction;
    jaclip_negclip_params negclip; /* temperature <= 0: the model's own */
    int embed_batch;              /* samples per model call (default 32) */
    int quiet;
} jaclip_filter_shards_params;

typedef struct jaclip_filter_shards_result {
    int64_t n_pairs, n_kept, n_skipped; /* skipped: samples without image/txt or undecodable */
    int shards_embedded, shards_cached, shards_written, shards_existing;
} jaclip_filter_shards_result;

jaclip_filter_shards_params jaclip_filter_shards_default_params(void);
jaclip_status jaclip_filter_shards(jaclip_model *m, const jaclip_filter_shards_params *p,
                                   jaclip_filter_shards_result *res, jaclip_err *err);

#ifdef __cplusplus
}
#endif
#endif /* JACLIP_H */
