/*
 * pending_deps.c — TEMPORARY. The tokenizer (branch `text`) and the image decoder (branch
 * `image`) are written in parallel; until they are merged into `engine`, these weak
 * placeholders let the engine link. They never pretend to work: tokenizing or decoding
 * returns JACLIP_ERR_UNSUPPORTED. Delete this file when merging `text` and `image`.
 */
#include <stdlib.h>

#include "base/base.h"

struct jaclip_tokenizer { int unused; };

__attribute__((weak)) jaclip_status jaclip_tokenizer_load(const char *spm_path, jaclip_tokenizer **out, jaclip_err *err)
{
    *out = NULL;
    if (!jc_file_exists(spm_path)) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open tokenizer", spm_path);
    *out = calloc(1, sizeof **out);
    return *out ? JACLIP_OK : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
}

__attribute__((weak)) void jaclip_tokenizer_free(jaclip_tokenizer *tok) { free(tok); }

__attribute__((weak)) jaclip_status jaclip_tokenize(const jaclip_tokenizer *tok, const char *text, size_t len,
                                                    int32_t *ids, int max_ids, int *n_ids, jaclip_err *err)
{
    (void)tok, (void)text, (void)len, (void)ids, (void)max_ids;
    *n_ids = 0;
    return jc_err(err, JACLIP_ERR_UNSUPPORTED, "this build has no tokenizer yet (branch `text` not merged)");
}

__attribute__((weak)) jaclip_status jaclip_image_letterbox_file(const char *path, const jaclip_image_params *p,
                                                                uint8_t *rgb_out, jaclip_err *err)
{
    (void)p, (void)rgb_out;
    return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: this build has no image decoder yet (branch `image` not merged)",
                  path);
}

__attribute__((weak)) void jaclip_image_normalize(const uint8_t *rgb, int size, const float mean[3],
                                                  const float std[3], float *chw_out)
{
    size_t n = (size_t)size * size;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) chw_out[c * n + i] = ((float)rgb[i * 3 + c] / 255.0f - mean[c]) / std[c];
}
