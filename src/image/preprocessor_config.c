/*
 * preprocessor_config.c — reads the two fields of a model directory's
 * preprocessor_config.json that decide preprocessing: image_size and normalization_type
 * (CLYPImageProcessor). v1 says "imagenet"; v2 is believed to say "openai_clip" (model-spec
 * §7), which is why the file, not a default, must decide.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "image/image.h"

jaclip_status jc_image_params_from_config(const char *path, jaclip_image_params *p, char *norm_name,
                                          size_t norm_name_size, jaclip_err *err)
{
    char *text = NULL;
    size_t len = 0;
    jaclip_status st = jc_read_file(path, 1 << 20, &text, &len, err);
    if (st != JACLIP_OK) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(root, "image_size");
    if (sz) {
        /* older processors write {"height": H, "width": W} or {"shortest_edge": N} */
        const cJSON *v = sz;
        if (cJSON_IsObject(sz)) {
            const cJSON *hh = cJSON_GetObjectItemCaseSensitive(sz, "height");
            const cJSON *ww = cJSON_GetObjectItemCaseSensitive(sz, "width");
            if (cJSON_IsNumber(hh) && cJSON_IsNumber(ww) && hh->valuedouble != ww->valuedouble) {
                cJSON_Delete(root);
                return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: image_size must be square", path);
            }
            v = cJSON_IsNumber(hh) ? hh : cJSON_GetObjectItemCaseSensitive(sz, "shortest_edge");
        }
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 16384 ||
            v->valuedouble != (double)(int)v->valuedouble) {
            cJSON_Delete(root);
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: image_size must be an integer in 1..16384", path);
        }
        p->image_size = (int)v->valuedouble;
    }
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(root, "normalization_type");
    if (nt) {
        if (!cJSON_IsString(nt)) {
            cJSON_Delete(root);
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: normalization_type must be a string", path);
        }
        st = jaclip_image_set_normalization(p, nt->valuestring, err);
        if (st != JACLIP_OK) {
            cJSON_Delete(root);
            return jc_err_prefix(err, "%s", path);
        }
        if (norm_name && norm_name_size) snprintf(norm_name, norm_name_size, "%s", nt->valuestring);
    } else {
        jc_warn("%s: no normalization_type; keeping %s", path, "the current mean/std");
    }
    cJSON_Delete(root);
    return JACLIP_OK;
}
