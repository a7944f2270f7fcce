/*
 * safetensors.c — validating .safetensors reader (see safetensors.h).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data section; offsets are relative to its start. Everything in the header is
 * untrusted: lengths are checked before use, products of shapes are overflow-checked and
 * each tensor's byte count must equal its shape times its element size.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u << 20) /* a 458-tensor header is ~50 kB; refuse absurd ones */

static size_t dtype_size(const char *s, jc_st_dtype *dt)
{
    static const struct { const char *name; size_t size; jc_st_dtype dt; } tab[] = {
        {"F32", 4, JC_ST_F32},   {"F16", 2, JC_ST_F16},   {"BF16", 2, JC_ST_BF16}, {"F64", 8, JC_ST_OTHER},
        {"I64", 8, JC_ST_OTHER}, {"I32", 4, JC_ST_OTHER}, {"I16", 2, JC_ST_OTHER}, {"I8", 1, JC_ST_OTHER},
        {"U8", 1, JC_ST_OTHER},  {"U16", 2, JC_ST_OTHER}, {"U32", 4, JC_ST_OTHER}, {"U64", 8, JC_ST_OTHER},
        {"BOOL", 1, JC_ST_OTHER}, {"F8_E4M3", 1, JC_ST_OTHER}, {"F8_E5M2", 1, JC_ST_OTHER},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0) {
            *dt = tab[i].dt;
            return tab[i].size;
        }
    return 0;
}

const char *jc_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "(");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < size) snprintf(buf + o, size - o, ")");
    return buf;
}

void jc_st_close(jc_safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    jc_unmap(&st->map);
    memset(st, 0, sizeof *st);
}

static bool get_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

jaclip_status jc_st_open(const char *path, jc_safetensors *st, jaclip_err *err)
{
    memset(st, 0, sizeof *st);
    jaclip_status rc = jc_map_file(path, &st->map, err);
    if (rc) return rc;
    st->path = jc_strdup(path);
    if (!st->path) {
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", path);
    }
    const uint8_t *d = st->map.data;
    size_t fsize = st->map.size;
    if (fsize < 8) {
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes, the header length alone needs 8)",
                      path, fsize);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | d[i];
    if (hlen > fsize - 8) {
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_FORMAT,
                      "%s: safetensors header length %llu goes beyond the end of the file (%zu bytes)", path,
                      (unsigned long long)hlen, fsize);
    }
    if (hlen < 2 || hlen > ST_MAX_HEADER) {
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: implausible safetensors header length %llu", path,
                      (unsigned long long)hlen);
    }
    cJSON *root = cJSON_ParseWithLength((const char *)d + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: safetensors header is not a JSON object", path);
    }
    st->data = d + 8 + hlen;
    st->data_size = fsize - 8 - (size_t)hlen;
    int n = cJSON_GetArraySize(root);
    st->tensors = jc_calloc((size_t)(n > 0 ? n : 1), sizeof *st->tensors);
    if (!st->tensors) {
        cJSON_Delete(root);
        jc_st_close(st);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", path);
    }
    rc = JACLIP_OK;
    for (cJSON *e = root->child; e; e = e->next) {
        const char *name = e->string ? e->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        jc_st_tensor *t = &st->tensors[st->n];
        cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsObject(e) || !cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
            cJSON_GetArraySize(jo) != 2) {
            rc = jc_err(err, JACLIP_ERR_FORMAT,
                        "%s: tensor '%s': header entry needs \"dtype\", \"shape\" and two \"data_offsets\"", path, name);
            break;
        }
        size_t es = dtype_size(jd->valuestring, &t->dtype);
        if (!es) {
            rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name, jd->valuestring);
            break;
        }
        snprintf(t->dtype_name, sizeof t->dtype_name, "%s", jd->valuestring);
        t->ndim = cJSON_GetArraySize(js);
        if (t->ndim > JC_ST_MAX_DIMS) {
            rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d supported)", path, name,
                        t->ndim, JC_ST_MAX_DIMS);
            break;
        }
        uint64_t count = 1;
        bool ok = true;
        for (int i = 0; i < t->ndim; i++) {
            uint64_t v;
            if (!get_u64(cJSON_GetArrayItem(js, i), &v) || v > (1ull << 40)) {
                ok = false;
                break;
            }
            t->shape[i] = (int64_t)v;
            if (v && count > UINT64_MAX / v) ok = false;
            count *= v;
        }
        uint64_t b0, b1;
        if (!ok) {
            rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: tensor '%s': invalid shape", path, name);
            break;
        }
        if (!get_u64(cJSON_GetArrayItem(jo, 0), &b0) || !get_u64(cJSON_GetArrayItem(jo, 1), &b1) || b0 > b1) {
            rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: tensor '%s': invalid data_offsets", path, name);
            break;
        }
        if (b1 > st->data_size) {
            rc = jc_err(err, JACLIP_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] out of range: the data section has %zu bytes "
                        "(file truncated or corrupt)",
                        path, name, (unsigned long long)b0, (unsigned long long)b1, st->data_size);
            break;
        }
        if (count > UINT64_MAX / es || count * es != b1 - b0) {
            char sb[128];
            rc = jc_err(err, JACLIP_ERR_FORMAT,
                        "%s: tensor '%s': %s %s needs %llu bytes but data_offsets span %llu", path, name,
                        t->dtype_name, jc_st_shape_str(t->shape, t->ndim, sb, sizeof sb),
                        (unsigned long long)(count * es), (unsigned long long)(b1 - b0));
            break;
        }
        t->offset = (size_t)b0;
        t->nbytes = (size_t)(b1 - b0);
        t->name = jc_strdup(name);
        if (!t->name) {
            rc = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        st->n++;
    }
    cJSON_Delete(root);
    if (rc) jc_st_close(st);
    return rc;
}

const jc_st_tensor *jc_st_find(const jc_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

jaclip_status jc_st_get_f32(const jc_safetensors *st, const char *name, int ndim, const int64_t *shape,
                            const float **out, float **owned, jaclip_err *err)
{
    *out = NULL;
    *owned = NULL;
    char eb[128], fb[128];
    const jc_st_tensor *t = jc_st_find(st, name);
    if (!t)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", st->path, name,
                      jc_st_shape_str(shape, ndim, eb, sizeof eb));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                      jc_st_shape_str(t->shape, t->ndim, fb, sizeof fb), jc_st_shape_str(shape, ndim, eb, sizeof eb));
    if (t->dtype == JC_ST_OTHER)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s; expected F32, F16 or BF16", st->path,
                      name, t->dtype_name);
    const uint8_t *src = st->data + t->offset;
    size_t count = t->nbytes / (t->dtype == JC_ST_F32 ? 4 : 2);
    if (t->dtype == JC_ST_F32 && ((uintptr_t)src & 3) == 0) {
        *out = (const float *)(const void *)src;
        return JACLIP_OK;
    }
    float *buf = jc_malloc_array(count ? count : 1, sizeof(float));
    if (!buf) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory converting '%s'", st->path, name);
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == JC_ST_F32) {
            memcpy(&buf[i], src + 4 * i, 4);
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            buf[i] = t->dtype == JC_ST_F16 ? jc_f16_to_f32(h) : jc_bf16_to_f32(h);
        }
    }
    *out = buf;
    *owned = buf;
    return JACLIP_OK;
}
