/*
 * eval_data.c — the dataset layouts users already hold, read into a jc_image_set:
 *  - CLIP_benchmark WebDataset splits: ROOT/{split}/nshards.txt + 0.tar..N-1.tar; classification
 *    samples are KEY.{jpg,png,webp,jpeg} + KEY.cls (integer label as text), retrieval samples
 *    KEY.<image> + KEY.txt (captions, one a line: CLIP_benchmark applies str.splitlines);
 *    ROOT/classnames.txt and ROOT/zeroshot_classification_templates.txt ({c} placeholder).
 *  - COCO caption JSON (STAIR Captions uses it) with an image directory.
 *  - Plain image files or a list file.
 * Every problem is reported with the file and the sample key or JSON id it concerns.
 */
#include "tasks/eval.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void jc_image_set_free(jc_image_set *s)
{
    if (!s) return;
    for (int64_t i = 0; s->keys && i < s->n; i++) free(s->keys[i]);
    for (int64_t i = 0; s->caps && i < s->n_caps; i++) free(s->caps[i]);
    free(s->keys);
    free(s->data);
    free(s->size);
    free(s->label);
    free(s->cap_first);
    free(s->caps);
    free(s->source);
    for (int i = 0; s->tars && i < s->n_tars; i++) jc_tar_close(&s->tars[i]);
    free(s->tars);
    memset(s, 0, sizeof *s);
}

/* Growable arrays for building a set. */
typedef struct builder {
    jc_image_set *s;
    int64_t cap, caps_cap;
    bool labels, captions;
} builder;

static bool grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static bool regrow(void **p, int64_t n, size_t elem)
{
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) return false;
    *p = q;
    return true;
}

static jaclip_status b_add(builder *b, const char *key, const uint8_t *data, size_t size, int32_t label, jaclip_err *err)
{
    jc_image_set *s = b->s;
    if (s->n + 2 > b->cap) { /* every per-image array has room for cap (+1) entries */
        int64_t c = b->cap ? b->cap * 2 : 256;
        bool ok = regrow((void **)&s->keys, c, sizeof *s->keys) && regrow((void **)&s->data, c, sizeof *s->data) &&
                  regrow((void **)&s->size, c, sizeof *s->size) &&
                  (!b->labels || regrow((void **)&s->label, c, sizeof *s->label)) &&
                  (!b->captions || regrow((void **)&s->cap_first, c + 1, sizeof *s->cap_first));
        if (!ok) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        b->cap = c;
    }
    char *k = jc_strdup(key);
    if (!k) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    s->keys[s->n] = k;
    s->data[s->n] = data;
    s->size[s->n] = size;
    if (b->labels) s->label[s->n] = label;
    if (b->captions) {
        if (s->n == 0) s->cap_first[0] = 0;
        s->cap_first[s->n + 1] = s->n_caps;
    }
    s->n++;
    return JACLIP_OK;
}

/* Adds one caption to the image being built (call before b_add of that image). */
static jaclip_status b_caption(builder *b, const char *text, size_t len, jaclip_err *err)
{
    jc_image_set *s = b->s;
    if (!grow((void **)&s->caps, &b->caps_cap, s->n_caps + 1, sizeof *s->caps))
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    char *c = malloc(len + 1);
    if (!c) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    memcpy(c, text, len);
    c[len] = 0;
    s->caps[s->n_caps++] = c;
    return JACLIP_OK;
}

jaclip_status jc_image_set_from_files(const char *const *paths, int64_t n, jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    builder b = {.s = out};
    for (int64_t i = 0; i < n; i++) {
        jaclip_status st = b_add(&b, paths[i], NULL, 0, -1, err);
        if (st) {
            jc_image_set_free(out);
            return st;
        }
    }
    out->source = jc_strdup("files");
    return JACLIP_OK;
}

jaclip_status jc_read_lines(const char *path, char ***lines, int *n, jaclip_err *err)
{
    *lines = NULL;
    *n = 0;
    char *text;
    size_t len;
    jaclip_status st = jc_read_file(path, (size_t)1 << 30, &text, &len, err);
    if (st) return st;
    int cap = 0, cnt = 0;
    char **v = NULL;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *le = e;
        if (le > p && le[-1] == '\r') le--;
        if (le > p) {
            if (cnt == cap) {
                cap = cap ? cap * 2 : 64;
                char **nv = realloc(v, (size_t)cap * sizeof *v);
                if (!nv) goto oom;
                v = nv;
            }
            v[cnt] = malloc((size_t)(le - p) + 1);
            if (!v[cnt]) goto oom;
            memcpy(v[cnt], p, (size_t)(le - p));
            v[cnt][le - p] = 0;
            cnt++;
        }
        p = nl ? nl + 1 : end;
    }
    free(text);
    *lines = v;
    *n = cnt;
    return JACLIP_OK;
oom:
    jc_free_strings(v, cnt);
    free(text);
    return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
}

jaclip_status jc_image_set_from_list(const char *list_path, jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    char **lines;
    int n;
    jaclip_status st = jc_read_lines(list_path, &lines, &n, err);
    if (st) return st;
    builder b = {.s = out};
    for (int i = 0; i < n && !st; i++)
        if (lines[i][0] != '#') st = b_add(&b, lines[i], NULL, 0, -1, err);
    jc_free_strings(lines, n);
    if (!st && out->n == 0) st = jc_err(err, JACLIP_ERR_ARG, "%s: lists no images", list_path);
    if (!st && !(out->source = jc_strdup(list_path))) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    if (st) jc_image_set_free(out);
    return st;
}

static bool parse_label(const uint8_t *d, size_t n, long *out)
{
    char buf[32];
    while (n && (d[n - 1] == '\n' || d[n - 1] == '\r' || d[n - 1] == ' ')) n--;
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, d, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    long v = strtol(buf, &e, 10);
    if (errno || *e || e == buf) return false;
    *out = v;
    return true;
}

jaclip_status jc_image_set_from_shards(char *const *tar_paths, int n_tars, unsigned need, int n_classes,
                                       jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    builder b = {.s = out, .labels = (need & JC_NEED_CLS) != 0, .captions = (need & JC_NEED_TXT) != 0};
    out->tars = calloc((size_t)n_tars + 1, sizeof *out->tars);
    if (!out->tars) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jaclip_status st = JACLIP_OK;
    char key[JC_TAR_NAME_MAX + 512];
    for (int t = 0; t < n_tars && !st; t++) {
        st = jc_tar_open(tar_paths[t], &out->tars[t], err);
        if (st) break;
        out->n_tars++;
        jc_wds_sample smp;
        for (;;) {
            bool end;
            st = jc_wds_next(&out->tars[t], &smp, &end, err);
            if (st || end) break;
            const jc_wds_field *im = jc_wds_image(&smp);
            if (!im) {
                /* CLIP_benchmark's to_tuple would fail on it too; say which sample */
                st = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has no image (.jpg/.jpeg/.png/.webp)", tar_paths[t], smp.key);
                break;
            }
            long label = -1;
            if (need & JC_NEED_CLS) {
                const jc_wds_field *c = jc_wds_get(&smp, "cls");
                if (!c) {
                    st = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has no .cls member (class label)", tar_paths[t], smp.key);
                    break;
                }
                if (!parse_label(c->data, c->size, &label) || label < 0 || (n_classes > 0 && label >= n_classes)) {
                    st = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s': .cls '%.*s' is not a class index in [0, %d)", tar_paths[t],
                                smp.key, (int)(c->size < 20 ? c->size : 20), (const char *)c->data, n_classes);
                    break;
                }
            }
            if (need & JC_NEED_TXT) {
                const jc_wds_field *tx = jc_wds_get(&smp, "txt");
                if (!tx) {
                    st = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has no .txt member (captions)", tar_paths[t], smp.key);
                    break;
                }
                const char *p = (const char *)tx->data, *e = p + tx->size;
                int64_t before = out->n_caps;
                while (p < e && !st) {
                    const char *nl = memchr(p, '\n', (size_t)(e - p));
                    const char *le = nl ? nl : e;
                    const char *l2 = le;
                    if (l2 > p && l2[-1] == '\r') l2--;
                    if (l2 > p) st = b_caption(&b, p, (size_t)(l2 - p), err);
                    p = nl ? nl + 1 : e;
                }
                if (!st && out->n_caps == before) {
                    st = jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s': .txt holds no caption", tar_paths[t], smp.key);
                    break;
                }
                if (st) break;
            }
            const char *base = strrchr(tar_paths[t], '/');
            snprintf(key, sizeof key, "%s/%s", base ? base + 1 : tar_paths[t], smp.key);
            st = b_add(&b, key, im->data, im->size, (int32_t)label, err);
        }
    }
    if (!st && out->n == 0) st = jc_err(err, JACLIP_ERR_FORMAT, "%s: no samples in the shards", n_tars ? tar_paths[0] : "(none)");
    if (st) jc_image_set_free(out);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

jaclip_status jc_image_set_from_shard_dir(const char *dir, jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    jaclip_status st = JACLIP_OK;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".tar") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[n] = jc_path_join(dir, e->d_name))) {
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!st && n == 0) st = jc_err(err, JACLIP_ERR_ARG, "%s: no .tar shards here", dir);
    if (!st) {
        qsort(v, (size_t)n, sizeof *v, cmp_str);
        st = jc_image_set_from_shards(v, n, 0, 0, out, err);
    }
    if (!st && !(out->source = jc_strdup(dir))) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jc_free_strings(v, n);
    return st;
}

jaclip_status jc_image_set_from_split(const char *root, const char *split, unsigned need, int n_classes,
                                      jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    char **paths;
    int n;
    jaclip_status st = jc_wds_split_shards(root, split, &paths, &n, err);
    if (st) return st;
    st = jc_image_set_from_shards(paths, n, need, n_classes, out, err);
    jc_free_strings(paths, n);
    if (!st) {
        size_t l = strlen(root) + strlen(split) + 2;
        out->source = malloc(l);
        if (out->source) snprintf(out->source, l, "%s/%s", root, split);
        else {
            jc_image_set_free(out);
            st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        }
    }
    return st;
}

/* ---- COCO / STAIR caption JSON ----------------------------------------------------------- */

typedef struct coco_img {
    int64_t id;
    const char *file;
    int64_t n_caps, first; /* captions collected per image */
    bool skip;             /* left out by the image list */
} coco_img;

static int cmp_coco_id(const void *a, const void *b)
{
    int64_t x = ((const coco_img *)a)->id, y = ((const coco_img *)b)->id;
    return x < y ? -1 : x > y;
}

static coco_img *find_img(coco_img *v, int64_t n, int64_t id)
{
    coco_img k = {.id = id};
    return bsearch(&k, v, (size_t)n, sizeof *v, cmp_coco_id);
}

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

static int cmp_base(const void *a, const void *b)
{
    return strcmp(base_name((*(const coco_img *const *)a)->file), base_name((*(const coco_img *const *)b)->file));
}

/* Keeps only the images named in list_path (COCO ids or file names, one a line). */
static jaclip_status apply_image_list(const char *list_path, const char *captions_json, coco_img *imgs, int64_t n_img,
                                      jaclip_err *err)
{
    char **lines;
    int n;
    jaclip_status st = jc_read_lines(list_path, &lines, &n, err);
    if (st) return st;
    coco_img **byname = malloc(((size_t)n_img + 1) * sizeof *byname);
    if (!byname) {
        jc_free_strings(lines, n);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < n_img; k++) {
        byname[k] = &imgs[k];
        imgs[k].skip = true;
    }
    qsort(byname, (size_t)n_img, sizeof *byname, cmp_base);
    for (int i = 0; i < n && !st; i++) {
        const char *l = lines[i];
        while (*l == ' ' || *l == '\t') l++;
        if (!*l || *l == '#') continue;
        char *end;
        long long id = strtoll(l, &end, 10);
        coco_img *hit = NULL;
        if (end != l && (*end == 0 || *end == ' ' || *end == '\t')) {
            hit = find_img(imgs, n_img, id);
        } else {
            coco_img key = {.file = l}, *kp = &key;
            coco_img **h = bsearch(&kp, byname, (size_t)n_img, sizeof *byname, cmp_base);
            hit = h ? *h : NULL;
        }
        if (!hit)
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: line %d: '%s' is neither an image id nor a file_name of %s", list_path,
                        i + 1, l, captions_json);
        else
            hit->skip = false;
    }
    free(byname);
    jc_free_strings(lines, n);
    return st;
}

jaclip_status jc_image_set_from_coco(const char *images_dir, const char *captions_json, const char *image_list,
                                     jc_image_set *out, jaclip_err *err)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    jaclip_status st = jc_read_file(captions_json, (size_t)2 << 30, &text, &len, err);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) return jc_err(err, JACLIP_ERR_FORMAT, "%s: not valid JSON", captions_json);
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(j, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(j, "annotations");
    coco_img *imgs = NULL;
    int64_t *ann_img = NULL; /* per annotation: index into imgs */
    const char **ann_txt = NULL;
    int64_t n_img = 0, n_ann = 0;
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns)) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: expected COCO caption JSON with \"images\" and \"annotations\" arrays", captions_json);
        goto done;
    }
    n_img = cJSON_GetArraySize(images);
    n_ann = cJSON_GetArraySize(anns);
    imgs = calloc((size_t)n_img + 1, sizeof *imgs);
    ann_img = calloc((size_t)n_ann + 1, sizeof *ann_img);
    ann_txt = calloc((size_t)n_ann + 1, sizeof *ann_txt);
    if (!imgs || !ann_img || !ann_txt) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, images)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "file_name");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(fn) || !fn->valuestring[0]) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: images[%lld] lacks a numeric \"id\" or a \"file_name\"", captions_json, (long long)i);
            goto done;
        }
        imgs[i].id = (int64_t)id->valuedouble;
        imgs[i].file = fn->valuestring;
        i++;
    }
    qsort(imgs, (size_t)n_img, sizeof *imgs, cmp_coco_id);
    for (int64_t k = 1; k < n_img; k++)
        if (imgs[k].id == imgs[k - 1].id) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: image id %lld appears twice in \"images\"", captions_json, (long long)imgs[k].id);
            goto done;
        }
    i = 0;
    cJSON_ArrayForEach(it, anns)
    {
        const cJSON *iid = cJSON_GetObjectItemCaseSensitive(it, "image_id");
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(it, "caption");
        const cJSON *aid = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsNumber(iid) || !cJSON_IsString(cap)) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: annotations[%lld] lacks a numeric \"image_id\" or a \"caption\"", captions_json, (long long)i);
            goto done;
        }
        coco_img *im = find_img(imgs, n_img, (int64_t)iid->valuedouble);
        if (!im) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: annotation %lld (annotations[%lld]) refers to image_id %lld, which is not in \"images\"",
                        captions_json, cJSON_IsNumber(aid) ? (long long)aid->valuedouble : -1LL, (long long)i,
                        (long long)iid->valuedouble);
            goto done;
        }
        ann_img[i] = im - imgs;
        ann_txt[i] = cap->valuestring;
        im->n_caps++;
        i++;
    }
    if (image_list && (st = apply_image_list(image_list, captions_json, imgs, n_img, err))) goto done;
    /* Images in id order, captions in file order within each image. */
    builder b = {.s = out, .captions = true};
    int64_t kept = 0, dropped = 0;
    for (int64_t k = 0; k < n_img; k++) {
        if (imgs[k].skip) {
            imgs[k].n_caps = 0;
            continue;
        }
        if (imgs[k].n_caps == 0) {
            dropped++;
            continue;
        }
        imgs[k].first = kept++;
    }
    if (dropped) jc_warn("%s: %lld images have no caption and are left out", captions_json, (long long)dropped);
    if (kept == 0) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: no image has a caption", captions_json);
        goto done;
    }
    /* order captions by image: counting sort over kept images */
    int64_t *pos = calloc((size_t)kept + 1, sizeof *pos);
    const char **sorted = calloc((size_t)n_ann + 1, sizeof *sorted);
    if (!pos || !sorted) {
        free(pos);
        free(sorted);
        st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t k = 0; k < n_img; k++)
        if (imgs[k].n_caps) pos[imgs[k].first + 1] = imgs[k].n_caps;
    for (int64_t k = 0; k < kept; k++) pos[k + 1] += pos[k];
    for (int64_t a = 0; a < n_ann; a++)
        if (imgs[ann_img[a]].n_caps) sorted[pos[imgs[ann_img[a]].first]++] = ann_txt[a];
    int64_t c = 0;
    for (int64_t k = 0; k < n_img && !st; k++) {
        if (!imgs[k].n_caps) continue;
        for (int64_t q = 0; q < imgs[k].n_caps && !st; q++, c++) st = b_caption(&b, sorted[c], strlen(sorted[c]), err);
        char *path = jc_path_join(images_dir, imgs[k].file);
        if (!path) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
        if (!st) st = b_add(&b, path, NULL, 0, -1, err);
        free(path);
    }
    free(pos);
    free(sorted);
    if (!st && !(out->source = jc_strdup(captions_json))) st = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
done:
    cJSON_Delete(j);
    free(imgs);
    free(ann_img);
    free(ann_txt);
    if (st) jc_image_set_free(out);
    return st;
}

/* ---- class names and templates ----------------------------------------------------------- */

jaclip_status jc_read_classnames(const char *root, char ***names, int *n, jaclip_err *err)
{
    char *p = jc_path_join(root, "classnames.txt");
    if (!p) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    jaclip_status st;
    if (!jc_file_exists(p)) st = jc_err(err, JACLIP_ERR_IO, "%s: missing (a CLIP_benchmark classification dataset lists its class names there, one a line)", p);
    else st = jc_read_lines(p, names, n, err);
    if (!st && *n == 0) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: no class names", p);
        jc_free_strings(*names, 0);
    }
    free(p);
    return st;
}

jaclip_status jc_read_templates(const char *path, char ***templates, int *n, jaclip_err *err)
{
    jaclip_status st = jc_read_lines(path, templates, n, err);
    if (st) return st;
    if (*n == 0) st = jc_err(err, JACLIP_ERR_FORMAT, "%s: no templates", path);
    for (int i = 0; i < *n && !st; i++)
        if (!strstr((*templates)[i], "{c}"))
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: line %d ('%s') has no {c} placeholder", path, i + 1, (*templates)[i]);
    if (st) {
        jc_free_strings(*templates, *n);
        *templates = NULL;
        *n = 0;
    }
    return st;
}

char *jc_format_template(const char *tmpl, const char *name)
{
    size_t cnt = 0, ln = strlen(name);
    for (const char *p = tmpl; (p = strstr(p, "{c}")); p += 3) cnt++;
    char *out = malloc(strlen(tmpl) + cnt * ln + 1);
    if (!out) return NULL;
    char *o = out;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '{' && p[1] == 'c' && p[2] == '}') {
            memcpy(o, name, ln);
            o += ln;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}
