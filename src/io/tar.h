/*
 * tar.h — WebDataset shards: a zero-copy reader of (ustar/GNU/pax) tar files that groups
 * consecutive members into samples by key, a writer that produces shards atomically, and
 * the CLIP_benchmark directory layout (ROOT/{split}/N.tar + nshards.txt).
 *
 * WebDataset's key rule: the key is the member path up to the first '.' of its basename,
 * the extension is everything after it ("a/b.c.jpg" -> key "a/b", ext "c.jpg").
 */
#ifndef JACLIP_IO_TAR_H
#define JACLIP_IO_TAR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define JC_TAR_NAME_MAX 1024

typedef struct jc_tar_entry {
    char name[JC_TAR_NAME_MAX];
    const uint8_t *data; /* points into the mapping; valid until jc_tar_close */
    size_t size;
    uint64_t offset;     /* offset of the member's header in the file */
} jc_tar_entry;

typedef struct jc_tar_reader {
    jc_map map;
    char *path;
    size_t pos;
    bool has_peek;       /* an entry read ahead by jc_wds_next */
    jc_tar_entry peek;
} jc_tar_reader;

jaclip_status jc_tar_open(const char *path, jc_tar_reader *r, jaclip_err *err);
void jc_tar_close(jc_tar_reader *r);
/* Next regular-file member. *end is set (and OK returned) at the end of the archive.
 * Directories, links and metadata members are skipped; a truncated or corrupt header is
 * an error naming the file and the offset. */
jaclip_status jc_tar_next(jc_tar_reader *r, jc_tar_entry *e, bool *end, jaclip_err *err);

#define JC_WDS_MAX_FIELDS 16
typedef struct jc_wds_field {
    char ext[64];
    const uint8_t *data;
    size_t size;
} jc_wds_field;

typedef struct jc_wds_sample {
    char key[JC_TAR_NAME_MAX];
    int n_fields;
    jc_wds_field fields[JC_WDS_MAX_FIELDS];
    uint64_t offset; /* offset of the sample's first member */
} jc_wds_sample;

/* Next sample (consecutive members sharing a key). */
jaclip_status jc_wds_next(jc_tar_reader *r, jc_wds_sample *s, bool *end, jaclip_err *err);
/* Field by extension ("jpg", "txt", "cls"...), case-sensitive; NULL if absent. */
const jc_wds_field *jc_wds_get(const jc_wds_sample *s, const char *ext);
/* The first image field (jpg, jpeg, png, webp), or NULL. */
const jc_wds_field *jc_wds_image(const jc_wds_sample *s);

/* Splits a member name into WebDataset key and extension (buffers of JC_TAR_NAME_MAX). */
void jc_wds_split_name(const char *name, char *key, char *ext, size_t ext_cap);

typedef struct jc_tar_writer {
    jc_atomic_file af;
    uint64_t bytes;
    int64_t members;
} jc_tar_writer;

/* Opens PATH for writing via a temp file; it appears under PATH only on close. */
jaclip_status jc_tar_writer_open(const char *path, jc_tar_writer *w, jaclip_err *err);
jaclip_status jc_tar_write(jc_tar_writer *w, const char *name, const void *data, size_t size, jaclip_err *err);
jaclip_status jc_tar_writer_close(jc_tar_writer *w, jaclip_err *err);
void jc_tar_writer_abort(jc_tar_writer *w);

/* CLIP_benchmark layout: reads ROOT/SPLIT/nshards.txt and returns n malloc'd paths
 * ROOT/SPLIT/0.tar ... (each checked to exist). Free with jc_free_strings. */
jaclip_status jc_wds_split_shards(const char *root, const char *split, char ***paths, int *n, jaclip_err *err);
void jc_free_strings(char **v, int n);

#endif
