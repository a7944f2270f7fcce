/*
 * safetensors.h — reader for Hugging Face .safetensors files: the file is mapped read-only,
 * the JSON header is parsed and every entry's dtype, shape and data_offsets are validated
 * against the file size before any tensor is handed out. F32 tensors are returned as
 * pointers into the mapping (zero copy); F16 and BF16 tensors are converted to float32 into
 * a buffer the caller owns. Tensors are looked up by name with the shape the architecture
 * expects, so a mismatch is reported with the key, the expected and the found shape.
 */
#ifndef JACLIP_IO_SAFETENSORS_H
#define JACLIP_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define JC_ST_MAX_DIMS 8

typedef enum jc_st_dtype { JC_ST_F32, JC_ST_F16, JC_ST_BF16, JC_ST_OTHER } jc_st_dtype;

typedef struct jc_st_tensor {
    char *name;
    jc_st_dtype dtype;
    char dtype_name[16]; /* as written in the header ("F32", "I64", ...) */
    int ndim;
    int64_t shape[JC_ST_MAX_DIMS];
    size_t offset, nbytes; /* relative to the start of the data section */
} jc_st_tensor;

typedef struct jc_safetensors {
    char *path;
    jc_map map;
    const uint8_t *data; /* start of the data section */
    size_t data_size;
    int n;
    jc_st_tensor *tensors;
} jc_safetensors;

/* Maps and validates a .safetensors file. */
jaclip_status jc_st_open(const char *path, jc_safetensors *st, jaclip_err *err);
void jc_st_close(jc_safetensors *st);

/* NULL when the file has no tensor of that name. */
const jc_st_tensor *jc_st_find(const jc_safetensors *st, const char *name);

/* Formats a shape as "(a, b, c)" ("()" for a scalar) into buf. */
const char *jc_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

/* Returns tensor `name` as float32, requiring exactly the given shape. For F32 data aligned
 * to 4 bytes, *out points into the mapping and *owned is NULL; otherwise the values are
 * converted into *owned (malloc'd; the caller frees it) and *out == *owned. */
jaclip_status jc_st_get_f32(const jc_safetensors *st, const char *name, int ndim, const int64_t *shape,
                            const float **out, float **owned, jaclip_err *err);

#endif
