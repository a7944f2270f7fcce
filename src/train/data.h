/*
 * data.h — training data from WebDataset shards in the CLIP_benchmark layout
 * (ROOT/SPLIT/N.tar + nshards.txt): every sample's image and its caption, either the
 * sample's key.txt or, for classification sets, its key.cls label turned into a Japanese
 * caption from ROOT/classnames.txt × ROOT/zeroshot_classification_templates.txt.
 *
 * The loader is a background thread that decodes, letterboxes, normalises and tokenises
 * micro-batches ahead of compute. Micro-batch j is a pure function of (seed, j): the epoch's
 * shuffle, the template drawn for each sample and the optional flip all come from hashes,
 * so a run resumed at step s sees exactly the batches an uninterrupted run would.
 */
#ifndef JACLIP_TRAIN_DATA_H
#define JACLIP_TRAIN_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "io/tar.h"
#include "train/train.h"

typedef struct jc_sample {
    const uint8_t *img;
    size_t img_size;
    const char *txt; /* caption (points into the mapping, not NUL-terminated) or NULL */
    size_t txt_len;
    int cls;         /* class label, -1 when none */
    int shard;
    uint64_t offset; /* for error messages */
} jc_sample;

typedef struct jc_dataset {
    char *root, *split;
    int n_shards;
    char **shard_paths;
    jc_tar_reader *tars;
    int n;
    jc_sample *s;
    char **classnames;
    int n_classes;
    char **templates;
    int n_templates;
} jc_dataset;

/* Opens ROOT/SPLIT and indexes every sample (an image plus txt or cls is required). */
jaclip_status jc_dataset_open(const char *root, const char *split, jc_dataset *ds, jaclip_err *err);
void jc_dataset_close(jc_dataset *ds);
/* Caption of sample i: its txt, or template t of its class (malloc'd). */
char *jc_dataset_caption(const jc_dataset *ds, int i, int t);
/* Decodes sample i into normalised CHW pixels (flipped horizontally when flip). */
jaclip_status jc_dataset_pixels(const jc_dataset *ds, int i, const jaclip_image_params *ip, bool flip, uint8_t *rgb,
                                float *chw, jaclip_err *err);

typedef struct jc_loader jc_loader;
typedef struct jc_loader_opts {
    const jc_dataset *ds;
    const jaclip_tokenizer *tok;
    jaclip_image_params image;
    int micro_batch;
    uint64_t seed;
    bool hflip;
    int64_t first; /* index of the first micro-batch to produce */
} jc_loader_opts;

/* Micro-batches per epoch (the last partial one of each epoch is dropped). */
int64_t jc_loader_per_epoch(const jc_dataset *ds, int micro_batch);
jaclip_status jc_loader_start(const jc_loader_opts *o, jc_loader **out, jaclip_err *err);
/* The next micro-batch in order; valid until the next call. Decoding errors surface here. */
jaclip_status jc_loader_next(jc_loader *L, const jc_batch **b, jaclip_err *err);
void jc_loader_stop(jc_loader *L);

#endif
