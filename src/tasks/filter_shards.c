/*
 * filter_shards.c — `jaclip filter-shards`: WebDataset shards in, filtered shards out.
 *
 *  1. embed   every sample with an image field and a .txt caption, shard by shard, into
 *             OUT/.jaclip-filter/emb-<i>.npy ((n_i, 2D): raw image | text features) and
 *             keys-<i>.txt (the sample keys, in shard order). Samples without image or text,
 *             or whose image does not decode, are skipped with a warning (counted).
 *  2. score   all pairs of all shards together (a global ranking, as the reference ranks the
 *             whole pool): scores.npy, negCLIPLoss or CLIP score.
 *  3. select  the top int(N * F) (tasks/filter.c).
 *  4. write   OUT/<name of input shard i>: every field of each kept sample, unchanged, plus
 *             <key>.json = the sample's own JSON (if any) with "score", "clipscore", "method"
 *             added.
 *
 * Resuming: each step's outputs are written atomically (temp + rename) and skipped when
 * present, so a rerun after an interruption (kill, power loss) continues where it stopped and
 * a shard is either complete or absent: no kept pair is lost or duplicated. params.json guards
 * against resuming with different inputs or settings. At the end the number of kept samples
 * in the output shards is recounted and must equal the selection.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "io/tar.h"
#include "tasks/score.h"

jaclip_filter_shards_params jaclip_filter_shards_default_params(void)
{
    jaclip_filter_shards_params p = {0};
    p.keep_fraction = 0.3;
    p.negclip = jaclip_negclip_default_params();
    p.negclip.temperature = 0; /* the model's */
    p.embed_batch = 32;
    return p;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *state_path(const char *out, const char *fmt, int i)
{
    char name[64];
    snprintf(name, sizeof name, fmt, i);
    char *st = jc_path_join(out, ".jaclip-filter");
    char *p = st ? jc_path_join(st, name) : NULL;
    free(st);
    return p;
}

/* ---- step 1: embedding one shard ---------------------------------------------------------- */
typedef struct emb_buf {
    float *rows; /* n x 2D */
    int64_t n, cap;
    char *keys;  /* "key\n" ... */
    size_t klen, kcap;
} emb_buf;

static int emb_grow(emb_buf *b, int D)
{
    if (b->n < b->cap) return 1;
    int64_t nc = b->cap ? b->cap * 2 : 1024;
    float *r = realloc(b->rows, (size_t)nc * 2 * D * sizeof(float));
    if (!r) return 0;
    b->rows = r;
    b->cap = nc;
    return 1;
}

static int keys_add(emb_buf *b, const char *key)
{
    size_t l = strlen(key);
    if (b->klen + l + 2 > b->kcap) {
        size_t nc = (b->kcap + l + 2) * 2;
        char *k = realloc(b->keys, nc);
        if (!k) return 0;
        b->keys = k;
        b->kcap = nc;
    }
    memcpy(b->keys + b->klen, key, l);
    b->klen += l;
    b->keys[b->klen++] = '\n';
    return 1;
}

typedef struct pending {
    int n, cap, D, S;
    float *chw;   /* cap * 3*S*S */
    uint8_t *rgb; /* S*S*3 */
    char **texts; /* cap */
    float *feat;  /* cap * D */
} pending;

static jaclip_status flush_pending(jaclip_model *m, pending *pd, emb_buf *b, jaclip_err *err)
{
    if (pd->n == 0) return JACLIP_OK;
    int D = pd->D;
    jaclip_status st = jaclip_embed_pixels(m, pd->chw, pd->n, pd->feat, err);
    if (st) return st;
    for (int i = 0; i < pd->n; i++) memcpy(b->rows + (size_t)(b->n - pd->n + i) * 2 * D, pd->feat + (size_t)i * D, (size_t)D * sizeof(float));
    if ((st = jaclip_embed_texts(m, (const char *const *)pd->texts, pd->n, pd->feat, err))) return st;
    for (int i = 0; i < pd->n; i++) {
        memcpy(b->rows + (size_t)(b->n - pd->n + i) * 2 * D + D, pd->feat + (size_t)i * D, (size_t)D * sizeof(float));
        free(pd->texts[i]);
        pd->texts[i] = NULL;
    }
    pd->n = 0;
    return JACLIP_OK;
}

static jaclip_status embed_shard(jaclip_model *m, const char *shard, const char *emb_path, const char *keys_path,
                                 pending *pd, jc_progress *prog, int64_t *skipped, jaclip_err *err)
{
    jc_tar_reader r;
    jaclip_status st = jc_tar_open(shard, &r, err);
    if (st) return st;
    emb_buf b = {0};
    const jaclip_image_params *ip = jaclip_model_image_params(m);
    int S = ip->image_size, D = pd->D;
    jc_wds_sample *s = malloc(sizeof *s);
    if (!s) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        bool end;
        if ((st = jc_wds_next(&r, s, &end, err))) goto done;
        if (end) break;
        const jc_wds_field *img = jc_wds_image(s), *txt = jc_wds_get(s, "txt");
        if (!img || !txt || strchr(s->key, '\n')) {
            jc_warn("%s: sample '%s' has no %s; skipped", shard, s->key, !img ? "image" : !txt ? ".txt caption" : "usable key");
            ++*skipped;
            continue;
        }
        char name[JC_TAR_NAME_MAX + 1100];
        snprintf(name, sizeof name, "%s:%s.%s", shard, s->key, img->ext);
        jaclip_err ie = {0};
        if (jaclip_image_letterbox_mem(img->data, img->size, name, ip, pd->rgb, &ie)) {
            jc_warn("%s; sample skipped", ie.msg);
            ++*skipped;
            continue;
        }
        jaclip_image_normalize(pd->rgb, S, ip->mean, ip->std, pd->chw + (size_t)pd->n * 3 * S * S);
        char *t = malloc(txt->size + 1);
        if (!t || !emb_grow(&b, D) || !keys_add(&b, s->key)) {
            free(t);
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(t, txt->data, txt->size);
        t[txt->size] = 0;
        pd->texts[pd->n++] = t;
        b.n++;
        if (pd->n == pd->cap) {
            if ((st = flush_pending(m, pd, &b, err))) goto done;
            jc_progress_add(prog, pd->cap);
        }
    }
    int left = pd->n;
    if ((st = flush_pending(m, pd, &b, err))) goto done;
    jc_progress_add(prog, left);
    if ((st = jc_write_file_atomic(keys_path, b.keys ? b.keys : "", b.klen, err))) goto done;
    int64_t shape[2] = {b.n, 2 * (int64_t)D};
    float dummy = 0;
    st = jc_npy_write(emb_path, "<f4", shape, 2, b.rows ? (const void *)b.rows : (const void *)&dummy, err);
done:
    for (int i = 0; i < pd->n; i++) {
        free(pd->texts[i]);
        pd->texts[i] = NULL;
    }
    pd->n = 0;
    free(s);
    free(b.rows);
    free(b.keys);
    jc_tar_close(&r);
    if (st) jc_err_prefix(err, "%s", shard);
    return st;
}

/* ---- step 4: writing one output shard ----------------------------------------------------- */
static char *sample_json(const jc_wds_sample *s, const char *method, float score, float cosv)
{
    const jc_wds_field *js = jc_wds_get(s, "json");
    cJSON *o = NULL;
    if (js) {
        o = cJSON_ParseWithLength((const char *)js->data, js->size);
        if (o && !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (!o) o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_DeleteItemFromObject(o, "key");
    cJSON_DeleteItemFromObject(o, "score");
    cJSON_DeleteItemFromObject(o, "clipscore");
    cJSON_DeleteItemFromObject(o, "method");
    cJSON_AddStringToObject(o, "key", s->key);
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddNumberToObject(o, "score", (double)score);
    cJSON_AddNumberToObject(o, "clipscore", (double)cosv);
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

static float pair_cos(const float *x, const float *y, int D)
{
    double a = 0, b = 0, ab = 0;
    for (int k = 0; k < D; k++) {
        a += (double)x[k] * x[k];
        b += (double)y[k] * y[k];
        ab += (double)x[k] * y[k];
    }
    return (float)(ab / sqrt(a * b));
}

static jaclip_status write_shard(const char *in, const char *out, const char *keys, const float *img, const float *txt, int D,
                                 const float *scores, const uint8_t *keep, int64_t n_i, const char *method,
                                 int64_t *written, jaclip_err *err)
{
    jc_tar_reader r;
    jaclip_status st = jc_tar_open(in, &r, err);
    if (st) return st;
    jc_tar_writer w;
    if ((st = jc_tar_writer_open(out, &w, err))) {
        jc_tar_close(&r);
        return st;
    }
    jc_wds_sample *s = malloc(sizeof *s);
    char *name = malloc(2 * JC_TAR_NAME_MAX + 80);
    const char *kp = keys;
    int64_t j = 0;
    *written = 0;
    if (!s || !name) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (;;) {
        bool end;
        if ((st = jc_wds_next(&r, s, &end, err))) goto fail;
        if (end) break;
        const char *nl = j < n_i ? strchr(kp, '\n') : NULL;
        if (!nl || (size_t)(nl - kp) != strlen(s->key) || memcmp(kp, s->key, (size_t)(nl - kp)) != 0)
            continue; /* a sample skipped while embedding */
        kp = nl + 1;
        int64_t idx = j++;
        if (!keep[idx]) continue;
        for (int f = 0; f < s->n_fields; f++) {
            if (strcmp(s->fields[f].ext, "json") == 0) continue;
            snprintf(name, 2 * JC_TAR_NAME_MAX + 80, "%s.%s", s->key, s->fields[f].ext);
            if ((st = jc_tar_write(&w, name, s->fields[f].data, s->fields[f].size, err))) goto fail;
        }
        char *js = sample_json(s, method, scores[idx], pair_cos(img + (size_t)idx * D, txt + (size_t)idx * D, D));
        if (!js) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto fail;
        }
        snprintf(name, 2 * JC_TAR_NAME_MAX + 80, "%s.json", s->key);
        st = jc_tar_write(&w, name, js, strlen(js), err);
        free(js);
        if (st) goto fail;
        ++*written;
    }
    if (j != n_i) {
        st = jc_err(err, JACLIP_ERR_FORMAT,
                    "%s changed since it was embedded (%lld of %lld recorded samples found); remove %s/.jaclip-filter to "
                    "start over", in, (long long)j, (long long)n_i, out);
        goto fail;
    }
    free(s);
    free(name);
    jc_tar_close(&r);
    return jc_tar_writer_close(&w, err);
fail:
    free(s);
    free(name);
    jc_tar_writer_abort(&w);
    jc_tar_close(&r);
    return st;
}

static jaclip_status count_samples(const char *path, int64_t *n, jaclip_err *err)
{
    jc_tar_reader r;
    jaclip_status st = jc_tar_open(path, &r, err);
    if (st) return st;
    jc_wds_sample *s = malloc(sizeof *s);
    *n = 0;
    if (!s) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    while (!st) {
        bool end;
        if ((st = jc_wds_next(&r, s, &end, err)) || end) break;
        ++*n;
    }
    free(s);
    jc_tar_close(&r);
    return st;
}

/* ---- the pipeline ------------------------------------------------------------------------- */
static char *params_json(jaclip_model *m, const jaclip_filter_shards_params *p, float tau)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "inputs");
    for (int i = 0; i < p->n_in; i++) cJSON_AddItemToArray(a, cJSON_CreateString(p->in_shards[i]));
    cJSON_AddNumberToObject(o, "dim", jaclip_model_dim(m));
    cJSON_AddStringToObject(o, "method", p->use_clipscore ? "clipscore" : "negclip");
    cJSON_AddNumberToObject(o, "batch", (double)p->negclip.batch);
    cJSON_AddNumberToObject(o, "repeats", p->negclip.repeats);
    cJSON_AddNumberToObject(o, "temperature", (double)tau);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->negclip.seed);
    cJSON_AddStringToObject(o, "seed", seed);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

jaclip_status jaclip_filter_shards(jaclip_model *m, const jaclip_filter_shards_params *p,
                                   jaclip_filter_shards_result *res, jaclip_err *err)
{
    memset(res, 0, sizeof *res);
    if (!p || !p->out_dir || p->n_in < 1) return jc_err(err, JACLIP_ERR_ARG, "filter-shards: no input shards or no output");
    if (!(p->keep_fraction >= 0 && p->keep_fraction <= 1))
        return jc_err(err, JACLIP_ERR_ARG, "filter-shards: keep fraction must be in [0, 1]");
    for (int i = 0; i < p->n_in; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(base_name(p->in_shards[i]), base_name(p->in_shards[k])) == 0)
                return jc_err(err, JACLIP_ERR_ARG, "input shards %s and %s have the same name; output shards keep the input names",
                              p->in_shards[k], p->in_shards[i]);
    const int D = jaclip_model_dim(m);
    float tau = p->negclip.temperature > 0 ? p->negclip.temperature : jaclip_model_temperature(m);
    const char *method = p->use_clipscore ? "clipscore" : "negclip";
    jaclip_status st;
    char *state = jc_path_join(p->out_dir, ".jaclip-filter"), *pj = params_json(m, p, tau);
    char *ppath = state_path(p->out_dir, "params.json", 0), *scores_path = state_path(p->out_dir, "scores.npy", 0);
    char **emb_paths = calloc((size_t)p->n_in, sizeof *emb_paths), **key_paths = calloc((size_t)p->n_in, sizeof *key_paths);
    int64_t *n_of = calloc((size_t)p->n_in, sizeof *n_of);
    float *img = NULL, *txt = NULL, *scores = NULL;
    uint8_t *keep = NULL;
    jc_npy sc = {0};
    pending pd = {0};
    if (!state || !pj || !ppath || !scores_path || !emb_paths || !key_paths || !n_of) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = jc_mkdirs(state, err))) goto done;
    if (jc_file_exists(ppath)) {
        char *old;
        size_t ol;
        if ((st = jc_read_file(ppath, 1 << 24, &old, &ol, err))) goto done;
        int same = strcmp(old, pj) == 0;
        free(old);
        if (!same) {
            st = jc_err(err, JACLIP_ERR_ARG,
                        "%s holds a run with other inputs or settings (%s); use another --out or remove it",
                        p->out_dir, ppath);
            goto done;
        }
    } else if ((st = jc_write_file_atomic(ppath, pj, strlen(pj), err))) {
        goto done;
    }

    /* 1. embed */
    pd.cap = p->embed_batch > 0 ? p->embed_batch : 32;
    pd.D = D;
    pd.S = jaclip_model_image_params(m)->image_size;
    pd.chw = malloc((size_t)pd.cap * 3 * pd.S * pd.S * sizeof(float));
    pd.rgb = malloc((size_t)pd.S * pd.S * 3);
    pd.texts = calloc((size_t)pd.cap, sizeof *pd.texts);
    pd.feat = malloc((size_t)pd.cap * D * sizeof(float));
    if (!pd.chw || !pd.rgb || !pd.texts || !pd.feat) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    jc_progress prog;
    jc_progress_start(&prog, "embedding", "pairs", 0, p->quiet);
    for (int i = 0; i < p->n_in; i++) {
        emb_paths[i] = state_path(p->out_dir, "emb-%d.npy", i);
        key_paths[i] = state_path(p->out_dir, "keys-%d.txt", i);
        if (!emb_paths[i] || !key_paths[i]) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (jc_file_exists(emb_paths[i]) && jc_file_exists(key_paths[i])) {
            res->shards_cached++;
            continue;
        }
        if ((st = embed_shard(m, p->in_shards[i], emb_paths[i], key_paths[i], &pd, &prog, &res->n_skipped, err))) goto done;
        res->shards_embedded++;
    }
    jc_progress_finish(&prog);

    /* gather the pairs of all shards: image and text rows, N x D floats each, in memory */
    int64_t N = 0;
    for (int i = 0; i < p->n_in; i++) {
        jc_npy e;
        if ((st = jc_npy_map(emb_paths[i], &e, err))) goto done;
        if (e.ndim != 2 || e.shape[1] != 2 * D || strcmp(e.descr, "<f4")) {
            jc_npy_unmap(&e);
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: not the embeddings of this model (D = %d); remove %s", emb_paths[i], D,
                        state);
            goto done;
        }
        n_of[i] = e.shape[0];
        N += e.shape[0];
        jc_npy_unmap(&e);
    }
    res->n_pairs = N;
    if (N == 0) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "the input shards hold no (image, .txt) pairs");
        goto done;
    }
    img = jc_malloc_array((size_t)N, (size_t)D * sizeof(float));
    txt = jc_malloc_array((size_t)N, (size_t)D * sizeof(float));
    if (!img || !txt) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory for %lld pairs", (long long)N);
        goto done;
    }
    for (int64_t i = 0, off = 0; i < p->n_in; i++) {
        jc_npy e;
        if ((st = jc_npy_map(emb_paths[i], &e, err))) goto done;
        const float *rows = e.data;
        for (int64_t k = 0; k < n_of[i]; k++) {
            memcpy(img + (size_t)(off + k) * D, rows + (size_t)k * 2 * D, (size_t)D * sizeof(float));
            memcpy(txt + (size_t)(off + k) * D, rows + (size_t)k * 2 * D + D, (size_t)D * sizeof(float));
        }
        off += n_of[i];
        jc_npy_unmap(&e);
    }

    /* 2. score (cached) */
    if (jc_file_exists(scores_path)) {
        if ((st = jc_npy_map(scores_path, &sc, err))) goto done;
        if (sc.ndim != 1 || sc.shape[0] != N || strcmp(sc.descr, "<f4")) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s does not match the %lld embedded pairs; remove %s", scores_path,
                        (long long)N, state);
            goto done;
        }
        scores = malloc((size_t)N * sizeof(float));
        if (!scores) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(scores, sc.data, (size_t)N * sizeof(float));
    } else {
        scores = malloc((size_t)N * sizeof(float));
        if (!scores) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        jaclip_emb_view vi = {img, N, D, JACLIP_F32, "image embeddings"}, vt = {txt, N, D, JACLIP_F32, "text embeddings"};
        jaclip_negclip_params np = p->negclip;
        np.temperature = tau;
        np.quiet = p->quiet;
        st = p->use_clipscore ? jaclip_score_clip(&vi, &vt, scores, err) : jaclip_score_negclip(&vi, &vt, &np, scores, err);
        if (st) goto done;
        int64_t shape[1] = {N};
        if ((st = jc_npy_write(scores_path, "<f4", shape, 1, scores, err))) goto done;
    }

    /* 3. select */
    keep = malloc((size_t)N);
    if (!keep) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    jaclip_filter_params fp = jaclip_filter_default_params();
    fp.keep_fraction = p->keep_fraction;
    if ((st = jaclip_filter_select(scores, N, &fp, keep, &res->n_kept, err))) goto done;

    /* 4. write (each output shard atomically; existing ones are complete) */
    int64_t total = 0;
    int64_t off = 0;
    for (int i = 0; i < p->n_in; off += n_of[i], i++) {
        char *out = jc_path_join(p->out_dir, base_name(p->in_shards[i]));
        if (!out) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            goto done;
        }
        int64_t want = 0, got = 0;
        for (int64_t k = 0; k < n_of[i]; k++) want += keep[off + k];
        if (jc_file_exists(out)) {
            st = count_samples(out, &got, err);
            res->shards_existing++;
        } else {
            char *keys;
            size_t kl;
            st = jc_read_file(key_paths[i], (size_t)1 << 34, &keys, &kl, err);
            if (!st) {
                st = write_shard(p->in_shards[i], out, keys, img + (size_t)off * D, txt + (size_t)off * D, D, scores + off, keep + off,
                                 n_of[i], method, &got, err);
                free(keys);
                res->shards_written++;
            }
        }
        if (!st && got != want)
            st = jc_err(err, JACLIP_ERR_INTERNAL, "%s holds %lld samples but %lld were selected from %s; remove it and rerun",
                        out, (long long)got, (long long)want, p->in_shards[i]);
        free(out);
        if (st) goto done;
        total += got;
    }
    if (total != res->n_kept)
        st = jc_err(err, JACLIP_ERR_INTERNAL, "the output shards hold %lld samples, %lld were selected", (long long)total,
                    (long long)res->n_kept);
done:
    if (emb_paths)
        for (int i = 0; i < p->n_in; i++) free(emb_paths[i]);
    if (key_paths)
        for (int i = 0; i < p->n_in; i++) free(key_paths[i]);
    free(emb_paths);
    free(key_paths);
    free(n_of);
    free(img);
    free(txt);
    free(scores);
    free(keep);
    jc_npy_unmap(&sc);
    free(pd.chw);
    free(pd.rgb);
    if (pd.texts)
        for (int i = 0; i < pd.cap; i++) free(pd.texts[i]);
    free(pd.texts);
    free(pd.feat);
    free(state);
    free(ppath);
    free(scores_path);
    cJSON_free(pj);
    return st;
}
