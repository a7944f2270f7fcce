/*
 * fuzz_config.c — libFuzzer target for config.json / preprocessor_config.json parsing: the
 * input is split at its first NUL byte into the two JSON texts (no NUL: the whole input is
 * config.json and a fixed preprocessor_config.json is used).
 */
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t n = strlen(buf);
    const char *pp = n < size ? buf + n + 1 : "{\"image_size\":224,\"normalization_type\":\"openai_clip\"}";
    jc_clyp_config cfg = {0};
    cfg.allow_unknown_keys = size > 0 && (data[0] & 1);
    jaclip_err err;
    jc_config_parse(buf, "config.json", pp, "preprocessor_config.json", &cfg, &err);
    free(buf);
    return 0;
}
