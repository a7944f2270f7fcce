/*
 * data.c — dataset index and background loader (see data.h).
 */
#include "train/data.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return mix(mix(mix(a) ^ b) ^ c); }

/* Reads a UTF-8 file into non-empty lines (trailing whitespace trimmed). */
static jaclip_status read_lines(const char *path, char ***out, int *n, jaclip_err *err)
{
    char *txt;
    size_t len;
    jaclip_status rc = jc_read_file(path, 1 << 24, &txt, &len, err);
    if (rc) return rc;
    int cap = 16, k = 0;
    char **v = malloc(sizeof *v * (size_t)cap);
    for (char *p = txt; v && p < txt + len;) {
        char *e = memchr(p, '\n', (size_t)(txt + len - p));
        if (!e) e = txt + len;
        char *q = e;
        while (q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t')) q--;
        if (q > p) {
            if (k == cap) {
                char **nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
                if (!nv) break;
                v = nv;
            }
            v[k] = malloc((size_t)(q - p) + 1);
            if (!v[k]) break;
            memcpy(v[k], p, (size_t)(q - p));
            v[k++][q - p] = 0;
        }
        p = e + 1;
    }
    free(txt);
    *out = v;
    *n = k;
    return v ? JACLIP_OK : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
}

jaclip_status jc_dataset_open(const char *root, const char *split, jc_dataset *ds, jaclip_err *err)
{
    memset(ds, 0, sizeof *ds);
    ds->root = jc_strdup(root);
    ds->split = jc_strdup(split);
    jaclip_status rc = jc_wds_split_shards(root, split, &ds->shard_paths, &ds->n_shards, err);
    if (rc) return rc;
    char *cn = jc_path_join(root, "classnames.txt"), *tp = jc_path_join(root, "zeroshot_classification_templates.txt");
    if (jc_file_exists(cn)) rc = read_lines(cn, &ds->classnames, &ds->n_classes, err);
    if (!rc && jc_file_exists(tp)) rc = read_lines(tp, &ds->templates, &ds->n_templates, err);
    free(cn);
    free(tp);
    if (rc) return rc;
    ds->tars = jc_calloc((size_t)ds->n_shards, sizeof *ds->tars);
    if (!ds->tars) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    int cap = 1024;
    ds->s = malloc(sizeof *ds->s * (size_t)cap);
    if (!ds->s) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jc_wds_sample *smp = malloc(sizeof *smp);
    if (!smp) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    for (int k = 0; !rc && k < ds->n_shards; k++) {
        rc = jc_tar_open(ds->shard_paths[k], &ds->tars[k], err);
        for (bool end = false; !rc;) {
            rc = jc_wds_next(&ds->tars[k], smp, &end, err);
            if (rc || end) break;
            const jc_wds_field *im = jc_wds_image(smp), *tx = jc_wds_get(smp, "txt"), *cl = jc_wds_get(smp, "cls");
            if (!im) {
                rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has no image (jpg, png, webp)",
                            ds->shard_paths[k], smp->key);
                break;
            }
            jc_sample s = {im->data, im->size, NULL, 0, -1, k, smp->offset};
            if (tx) {
                s.txt = (const char *)tx->data, s.txt_len = tx->size;
                while (s.txt_len && (s.txt[s.txt_len - 1] == '\n' || s.txt[s.txt_len - 1] == '\r')) s.txt_len--;
            } else if (cl) {
                char b[32];
                size_t m = cl->size < 31 ? cl->size : 31;
                memcpy(b, cl->data, m);
                b[m] = 0;
                char *e;
                long v = strtol(b, &e, 10);
                while (*e == '\n' || *e == ' ' || *e == '\r') e++;
                if (e == b || *e || v < 0 || v >= ds->n_classes) {
                    rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s': class '%s' is not in 0..%d (%s/classnames.txt)",
                                ds->shard_paths[k], smp->key, b, ds->n_classes - 1, root);
                    break;
                }
                if (ds->n_templates == 0) {
                    rc = jc_err(err, JACLIP_ERR_FORMAT,
                                "%s: samples have class labels but %s/zeroshot_classification_templates.txt is missing",
                                ds->shard_paths[k], root);
                    break;
                }
                s.cls = (int)v;
            } else {
                rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has neither a caption (.txt) nor a class (.cls)",
                            ds->shard_paths[k], smp->key);
                break;
            }
            if (ds->n == cap) {
                jc_sample *ns = realloc(ds->s, sizeof *ns * (size_t)(cap *= 2));
                if (!ns) {
                    rc = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
                    break;
                }
                ds->s = ns;
            }
            ds->s[ds->n++] = s;
        }
    }
    free(smp);
    if (!rc && ds->n == 0) rc = jc_err(err, JACLIP_ERR_FORMAT, "%s/%s: no samples", root, split);
    return rc;
}

void jc_dataset_close(jc_dataset *ds)
{
    for (int k = 0; ds->tars && k < ds->n_shards; k++)
        if (ds->tars[k].path) jc_tar_close(&ds->tars[k]);
    free(ds->tars);
    if (ds->shard_paths) jc_free_strings(ds->shard_paths, ds->n_shards);
    for (int i = 0; i < ds->n_classes; i++) free(ds->classnames[i]);
    for (int i = 0; i < ds->n_templates; i++) free(ds->templates[i]);
    free(ds->classnames);
    free(ds->templates);
    free(ds->s);
    free(ds->root);
    free(ds->split);
    memset(ds, 0, sizeof *ds);
}

char *jc_dataset_caption(const jc_dataset *ds, int i, int t)
{
    const jc_sample *s = &ds->s[i];
    if (s->txt) {
        char *r = malloc(s->txt_len + 1);
        if (r) memcpy(r, s->txt, s->txt_len), r[s->txt_len] = 0;
        return r;
    }
    const char *tpl = ds->templates[t % ds->n_templates], *name = ds->classnames[s->cls];
    size_t nl = strlen(name), cap = strlen(tpl) + 1;
    for (const char *p = strstr(tpl, "{c}"); p; p = strstr(p + 3, "{c}")) cap += nl;
    char *r = malloc(cap), *o = r;
    if (!r) return NULL;
    for (const char *p = tpl; *p;) {
        if (strncmp(p, "{c}", 3) == 0) {
            memcpy(o, name, nl), o += nl, p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return r;
}

jaclip_status jc_dataset_pixels(const jc_dataset *ds, int i, const jaclip_image_params *ip, bool flip, uint8_t *rgb,
                                float *chw, jaclip_err *err)
{
    const jc_sample *s = &ds->s[i];
    char name[1200];
    snprintf(name, sizeof name, "%s@%llu", ds->shard_paths[s->shard], (unsigned long long)s->offset);
    jaclip_status rc = jaclip_image_letterbox_mem(s->img, s->img_size, name, ip, rgb, err);
    if (rc) return rc;
    int S = ip->image_size;
    if (flip)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S / 2; x++)
                for (int ch = 0; ch < 3; ch++) {
                    uint8_t *a = rgb + ((size_t)y * S + x) * 3 + ch, *b = rgb + ((size_t)y * S + (S - 1 - x)) * 3 + ch;
                    uint8_t t = *a;
                    *a = *b, *b = t;
                }
    jaclip_image_normalize(rgb, S, ip->mean, ip->std, chw);
    return JACLIP_OK;
}

/* ---- loader ------------------------------------------------------------------------------ */
#define NSLOT 3

typedef struct slot {
    int64_t index; /* micro-batch held, -1 when free */
    bool ready;
    jaclip_status rc;
    jaclip_err err;
    jc_batch b;
} slot;

struct jc_loader {
    jc_loader_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, started;
    int64_t next_consume;
    slot slots[NSLOT];
    int64_t perm_epoch;
    int *perm;
    uint8_t *rgb;
};

int64_t jc_loader_per_epoch(const jc_dataset *ds, int micro_batch) { return ds->n / micro_batch; }

static void make_perm(jc_loader *L, int64_t epoch)
{
    int n = L->o.ds->n;
    for (int i = 0; i < n; i++) L->perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(hash3(L->o.seed, (uint64_t)epoch, (uint64_t)i) % (uint64_t)(i + 1));
        int t = L->perm[i];
        L->perm[i] = L->perm[j], L->perm[j] = t;
    }
    L->perm_epoch = epoch;
}

static jaclip_status fill(jc_loader *L, int64_t j, jc_batch *b, jaclip_err *err)
{
    const jc_dataset *ds = L->o.ds;
    int mb = L->o.micro_batch, S = L->o.image.image_size;
    int64_t per = jc_loader_per_epoch(ds, mb), epoch = j / per, pos = j % per;
    if (L->perm_epoch != epoch) make_perm(L, epoch);
    b->seg[0] = 0;
    for (int k = 0; k < mb; k++) {
        int i = L->perm[pos * mb + k];
        uint64_t h = hash3(L->o.seed ^ 0x5bd1e995u, (uint64_t)epoch, (uint64_t)i);
        bool flip = L->o.hflip && (h >> 63);
        jaclip_status rc = jc_dataset_pixels(ds, i, &L->o.image, flip, L->rgb, b->pixels + (size_t)k * 3 * S * S, err);
        if (rc) return rc;
        char *cap = jc_dataset_caption(ds, i, (int)(h % 1000003u));
        if (!cap) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        int n;
        rc = jaclip_tokenize(L->o.tok, cap, strlen(cap), b->ids + b->seg[k], JACLIP_MAX_TEXT_LEN, &n, err);
        free(cap);
        if (rc) return jc_err_prefix(err, "caption of sample %d", i);
        b->seg[k + 1] = b->seg[k] + n;
    }
    return JACLIP_OK;
}

static void *loader_main(void *arg)
{
    jc_loader *L = arg;
    for (int64_t j = L->o.first;; j++) {
        slot *s = &L->slots[j % NSLOT];
        pthread_mutex_lock(&L->mu);
        while (!L->stop && s->index != -1) pthread_cond_wait(&L->cv, &L->mu);
        bool stop = L->stop;
        pthread_mutex_unlock(&L->mu);
        if (stop) break;
        jaclip_err e = {0};
        jaclip_status rc = fill(L, j, &s->b, &e);
        pthread_mutex_lock(&L->mu);
        s->index = j;
        s->rc = rc;
        s->err = e;
        s->ready = true;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (rc) break;
    }
    return NULL;
}

jaclip_status jc_loader_start(const jc_loader_opts *o, jc_loader **out, jaclip_err *err)
{
    *out = NULL;
    if (jc_loader_per_epoch(o->ds, o->micro_batch) < 1)
        return jc_err(err, JACLIP_ERR_ARG, "%s/%s has %d samples, fewer than one batch of %d", o->ds->root,
                      o->ds->split, o->ds->n, o->micro_batch);
    jc_loader *L = jc_calloc(1, sizeof *L);
    if (!L) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    L->o = *o;
    int S = o->image.image_size, mb = o->micro_batch;
    L->perm = malloc(sizeof(int) * (size_t)o->ds->n);
    L->rgb = malloc((size_t)S * S * 3);
    L->perm_epoch = -1;
    bool ok = L->perm && L->rgb;
    for (int k = 0; k < NSLOT; k++) {
        L->slots[k].index = -1;
        L->slots[k].b.B = mb;
        L->slots[k].b.pixels = jc_malloc_array((size_t)mb * 3 * S * S, sizeof(float));
        L->slots[k].b.ids = jc_malloc_array((size_t)mb * JACLIP_MAX_TEXT_LEN, sizeof(int32_t));
        L->slots[k].b.seg = jc_malloc_array((size_t)mb + 1, sizeof(int));
        ok = ok && L->slots[k].b.pixels && L->slots[k].b.ids && L->slots[k].b.seg;
    }
    L->next_consume = o->first;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    if (!ok || pthread_create(&L->th, NULL, loader_main, L) != 0) {
        jc_loader_stop(L);
        return jc_err(err, JACLIP_ERR_NOMEM, "cannot start the data loader");
    }
    L->started = true;
    *out = L;
    return JACLIP_OK;
}

jaclip_status jc_loader_next(jc_loader *L, const jc_batch **b, jaclip_err *err)
{
    pthread_mutex_lock(&L->mu);
    if (L->next_consume > L->o.first) { /* release the previous micro-batch */
        slot *p = &L->slots[(L->next_consume - 1) % NSLOT];
        p->index = -1;
        p->ready = false;
        pthread_cond_broadcast(&L->cv);
    }
    slot *s = &L->slots[L->next_consume % NSLOT];
    while (!(s->ready && s->index == L->next_consume)) pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    if (s->rc) {
        if (err) *err = s->err;
        return s->rc;
    }
    L->next_consume++;
    *b = &s->b;
    return JACLIP_OK;
}

void jc_loader_stop(jc_loader *L)
{
    if (!L) return;
    if (L->started) {
        pthread_mutex_lock(&L->mu);
        L->stop = true;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        pthread_join(L->th, NULL);
    }
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    for (int k = 0; k < NSLOT; k++) {
        free(L->slots[k].b.pixels);
        free(L->slots[k].b.ids);
        free(L->slots[k].b.seg);
    }
    free(L->perm);
    free(L->rgb);
    free(L);
}
