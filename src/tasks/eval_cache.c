/*
 * eval_cache.c — image and caption features cached per (dataset, model), so that a second
 * evaluation with other templates does not embed 50,000 images again, and an interrupted
 * run picks up where it stopped.
 *
 * Layout: CACHE_ROOT/<16 hex digits = hash of the identity string>/
 *   id.txt              the identity string (dataset source, split, keys hash, model path,
 *                       weight size and mtime), checked on reuse
 *   keys.txt            the key of each row, one a line (image key, or the text itself)
 *   chunk-000000.npy    rows [0, CHUNK) as (rows, dim) float32, L2-normalised
 *   chunk-000001.npy    ...
 * Each chunk is written atomically (temp + rename) the moment it is complete; a chunk
 * whose shape is wrong (another dim, a damaged file) is recomputed.
 */
#include "tasks/eval.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_CHUNK 2048

uint64_t jc_hash64(uint64_t h, const void *data, size_t n)
{
    if (h == 0) h = 1469598103934665603ull;
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

char *jc_cache_default_root(void)
{
    const char *e = getenv("JACLIP_CACHE");
    if (e && *e) return jc_strdup(e);
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) return jc_path_join(e, "jaclip/features");
    e = getenv("HOME");
    if (e && *e) return jc_path_join(e, ".cache/jaclip/features");
    return NULL;
}

char *jc_model_identity(const char *model_dir, const char *tokenizer)
{
    char *real = realpath(model_dir, NULL);
    char *w = jc_path_join(model_dir, "model.safetensors");
    struct stat sb = {0};
    if (w) stat(w, &sb);
    char *tr = tokenizer ? realpath(tokenizer, NULL) : NULL;
    size_t n = 2 * PATH_MAX + 128;
    char *id = malloc(n);
    if (id)
        snprintf(id, n, "model=%s weights=%lld@%lld.%09ld tokenizer=%s", real ? real : model_dir, (long long)sb.st_size,
                 (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec, tr ? tr : tokenizer ? tokenizer : "(model dir)");
    free(real);
    free(w);
    free(tr);
    return id;
}

static void write_keys(const char *dir, const char *const *keys, int64_t n)
{
    char *p = jc_path_join(dir, "keys.txt");
    jc_atomic_file af;
    if (!p || jc_file_exists(p) || jc_atomic_open(p, &af, NULL)) {
        free(p);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        /* one line per row: line breaks inside a key (a caption) are written as spaces */
        for (const char *c = keys[i]; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, af.f);
        fputc('\n', af.f);
    }
    if (jc_atomic_commit(&af, NULL)) jc_warn("%s: could not write the cache key index", p);
    free(p);
}

jaclip_status jc_cache_features(const char *cache_root, const char *id, int64_t n, int dim, const char *const *keys,
                                jc_rows_fn fn, void *ctx, float *out, int64_t *reused, jaclip_err *err)
{
    *reused = 0;
    if (!cache_root) return fn(ctx, 0, n, out, err);
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)jc_hash64(0, id, strlen(id)));
    char *dir = jc_path_join(cache_root, hex);
    char *idp = dir ? jc_path_join(dir, "id.txt") : NULL;
    if (!idp) {
        free(dir);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    jaclip_status st = jc_mkdirs(dir, err);
    if (!st) {
        char *old = NULL;
        size_t len;
        if (jc_file_exists(idp) && jc_read_file(idp, 1 << 20, &old, &len, NULL) == JACLIP_OK && strcmp(old, id) != 0) {
            /* a hash collision or a foreign directory: do not trust it */
            jc_warn("%s: cache directory belongs to other features; not using the cache", dir);
            free(old);
            free(dir);
            free(idp);
            return fn(ctx, 0, n, out, err);
        }
        free(old);
        if (!jc_file_exists(idp)) st = jc_write_file_atomic(idp, id, strlen(id), err);
        if (!st && keys) write_keys(dir, keys, n);
    }
    for (int64_t c0 = 0; c0 < n && !st; c0 += CACHE_CHUNK) {
        int64_t c1 = c0 + CACHE_CHUNK < n ? c0 + CACHE_CHUNK : n;
        char name[48];
        snprintf(name, sizeof name, "chunk-%06lld.npy", (long long)(c0 / CACHE_CHUNK));
        char *cp = jc_path_join(dir, name);
        if (!cp) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            break;
        }
        bool hit = false;
        if (jc_file_exists(cp)) {
            jc_npy a;
            if (jc_npy_map(cp, &a, NULL) == JACLIP_OK) {
                if (!strcmp(a.descr, "<f4") && a.ndim == 2 && a.shape[0] == c1 - c0 && a.shape[1] == dim) {
                    memcpy(out + (size_t)c0 * (size_t)dim, a.data, (size_t)(c1 - c0) * (size_t)dim * sizeof(float));
                    hit = true;
                    *reused += c1 - c0;
                }
                jc_npy_unmap(&a);
            }
            if (!hit) jc_warn("%s: damaged or stale cache chunk; recomputing it", cp);
        }
        if (!hit) {
            st = fn(ctx, c0, c1, out + (size_t)c0 * (size_t)dim, err);
            if (!st) {
                int64_t shape[2] = {c1 - c0, dim};
                jaclip_err werr = {0};
                if (jc_npy_write(cp, "<f4", shape, 2, out + (size_t)c0 * (size_t)dim, &werr))
                    jc_warn("cannot write the feature cache (%s); continuing without it", werr.msg);
            }
        }
        free(cp);
    }
    free(dir);
    free(idp);
    return st;
}
