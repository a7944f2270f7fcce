/*
 * tar.c — WebDataset tar shards (see tar.h). The reader maps the shard and walks 512-byte
 * headers, validating checksums, sizes and that every member fits in the file, so a
 * truncated or corrupt shard is reported with its offset instead of being read past its
 * end. GNU long names ('L') and pax path records ('x') are honoured, as Python's tarfile
 * and GNU tar write them. The writer emits ustar headers (GNU 'L' records for names over
 * 100 bytes) through an atomic temp file.
 */
#include "io/tar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t parse_octal(const uint8_t *p, size_t n, bool *ok)
{
    /* GNU base-256 for big sizes */
    if (n && (p[0] & 0x80)) {
        uint64_t v = p[0] & 0x7f;
        for (size_t i = 1; i < n; i++) {
            if (v >> 56) { *ok = false; return 0; }
            v = (v << 8) | p[i];
        }
        return v;
    }
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == 0)) i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60) { *ok = false; return 0; }
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != 0) { *ok = false; return 0; }
    return v;
}

jaclip_status jc_tar_open(const char *path, jc_tar_reader *r, jaclip_err *err)
{
    memset(r, 0, sizeof *r);
    jaclip_status st = jc_map_file(path, &r->map, err);
    if (st) return st;
    r->path = jc_strdup(path);
    if (!r->path) {
        jc_unmap(&r->map);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    return JACLIP_OK;
}

void jc_tar_close(jc_tar_reader *r)
{
    jc_unmap(&r->map);
    free(r->path);
    memset(r, 0, sizeof *r);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* Extracts "path=" from a pax extended header body. */
static bool pax_path(const uint8_t *d, size_t n, char *out)
{
    size_t i = 0;
    bool found = false;
    while (i < n) {
        size_t len = 0, j = i;
        while (j < n && d[j] >= '0' && d[j] <= '9' && len < n) len = len * 10 + (size_t)(d[j++] - '0');
        if (j >= n || d[j] != ' ' || len == 0 || len > n - i) return found;
        const char *kv = (const char *)d + j + 1;
        size_t kvlen = len - (j + 1 - i);
        if (kvlen > 5 && memcmp(kv, "path=", 5) == 0) {
            size_t vl = kvlen - 5;
            if (vl && kv[5 + vl - 1] == '\n') vl--;
            if (vl < JC_TAR_NAME_MAX) {
                memcpy(out, kv + 5, vl);
                out[vl] = 0;
                found = true;
            }
        }
        i += len;
    }
    return found;
}

jaclip_status jc_tar_next(jc_tar_reader *r, jc_tar_entry *e, bool *end, jaclip_err *err)
{
    *end = false;
    if (r->has_peek) {
        *e = r->peek;
        r->has_peek = false;
        return JACLIP_OK;
    }
    char longname[JC_TAR_NAME_MAX];
    bool have_long = false;
    for (;;) {
        const uint8_t *d = r->map.data;
        size_t n = r->map.size;
        if (r->pos == n) { /* no end-of-archive blocks: accept, as tarfile does */
            *end = true;
            return JACLIP_OK;
        }
        if (n - r->pos < 512)
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: truncated tar header at offset %zu", r->path, r->pos);
        const uint8_t *h = d + r->pos;
        if (all_zero(h, 512)) {
            *end = true;
            return JACLIP_OK;
        }
        bool ok = true;
        uint64_t chk = parse_octal(h + 148, 8, &ok);
        uint64_t sum = 0;
        for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (!ok || chk != sum)
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: corrupt tar header (bad checksum) at offset %zu", r->path, r->pos);
        uint64_t size = parse_octal(h + 124, 12, &ok);
        if (!ok) return jc_err(err, JACLIP_ERR_FORMAT, "%s: corrupt tar size field at offset %zu", r->path, r->pos);
        uint64_t padded = (size + 511) & ~(uint64_t)511;
        if (size > n || padded > n - r->pos - 512) {
            return jc_err(err, JACLIP_ERR_FORMAT,
                          "%s: tar member at offset %zu claims %llu bytes but the file ends first (truncated shard)",
                          r->path, r->pos, (unsigned long long)size);
        }
        const uint8_t *body = h + 512;
        char type = (char)h[156];
        size_t hdr_off = r->pos;
        r->pos += 512 + (size_t)padded;
        if (type == 'L') {
            size_t l = size < JC_TAR_NAME_MAX - 1 ? (size_t)size : JC_TAR_NAME_MAX - 1;
            memcpy(longname, body, l);
            longname[l] = 0;
            have_long = true;
            continue;
        }
        if (type == 'x') {
            if (pax_path(body, (size_t)size, longname)) have_long = true;
            continue;
        }
        if (type != '0' && type != 0 && type != '7') { /* dirs, links, global headers... */
            have_long = false;
            continue;
        }
        if (have_long) {
            snprintf(e->name, sizeof e->name, "%s", longname);
        } else {
            char nm[101], prefix[156];
            memcpy(nm, h, 100);
            nm[100] = 0;
            prefix[0] = 0;
            if (memcmp(h + 257, "ustar", 5) == 0) {
                memcpy(prefix, h + 345, 155);
                prefix[155] = 0;
            }
            if (prefix[0]) snprintf(e->name, sizeof e->name, "%s/%s", prefix, nm);
            else snprintf(e->name, sizeof e->name, "%s", nm);
        }
        e->data = body;
        e->size = (size_t)size;
        e->offset = hdr_off;
        return JACLIP_OK;
    }
}

void jc_wds_split_name(const char *name, char *key, char *ext, size_t ext_cap)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    size_t kl = dot ? (size_t)(dot - name) : strlen(name);
    if (kl >= JC_TAR_NAME_MAX) kl = JC_TAR_NAME_MAX - 1;
    memcpy(key, name, kl);
    key[kl] = 0;
    snprintf(ext, ext_cap, "%s", dot ? dot + 1 : "");
}

jaclip_status jc_wds_next(jc_tar_reader *r, jc_wds_sample *s, bool *end, jaclip_err *err)
{
    s->n_fields = 0;
    s->key[0] = 0;
    *end = false;
    for (;;) {
        jc_tar_entry e;
        bool eof;
        jaclip_status st = jc_tar_next(r, &e, &eof, err);
        if (st) return st;
        if (eof) {
            if (s->n_fields == 0) *end = true;
            return JACLIP_OK;
        }
        char key[JC_TAR_NAME_MAX], ext[64];
        jc_wds_split_name(e.name, key, ext, sizeof ext);
        if (s->n_fields > 0 && strcmp(key, s->key) != 0) {
            r->peek = e;
            r->has_peek = true;
            return JACLIP_OK;
        }
        if (s->n_fields == 0) {
            memcpy(s->key, key, sizeof s->key);
            s->offset = e.offset;
        }
        if (s->n_fields == JC_WDS_MAX_FIELDS)
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: sample '%s' has more than %d members", r->path, key,
                          JC_WDS_MAX_FIELDS);
        jc_wds_field *f = &s->fields[s->n_fields++];
        snprintf(f->ext, sizeof f->ext, "%s", ext);
        f->data = e.data;
        f->size = e.size;
    }
}

const jc_wds_field *jc_wds_get(const jc_wds_sample *s, const char *ext)
{
    for (int i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].ext, ext) == 0) return &s->fields[i];
    return NULL;
}

const jc_wds_field *jc_wds_image(const jc_wds_sample *s)
{
    static const char *exts[] = {"jpg", "jpeg", "png", "webp"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        const jc_wds_field *f = jc_wds_get(s, exts[i]);
        if (f) return f;
    }
    return NULL;
}

static void put_octal(uint8_t *p, size_t n, uint64_t v)
{
    /* n-1 octal digits, NUL-terminated */
    p[n - 1] = 0;
    for (size_t i = n - 1; i-- > 0;) {
        p[i] = (uint8_t)('0' + (v & 7));
        v >>= 3;
    }
}

static jaclip_status write_header(jc_tar_writer *w, const char *name, size_t nlen, uint64_t size, char type,
                                  jaclip_err *err)
{
    uint8_t h[512];
    memset(h, 0, sizeof h);
    memcpy(h, name, nlen < 100 ? nlen : 100);
    put_octal(h + 100, 8, 0644);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_octal(h + 124, 12, size);
    put_octal(h + 136, 12, 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    uint64_t sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    put_octal(h + 148, 7, sum);
    h[155] = ' ';
    if (fwrite(h, 1, 512, w->af.f) != 512)
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", w->af.path, strerror(errno));
    w->bytes += 512;
    return JACLIP_OK;
}

static jaclip_status write_body(jc_tar_writer *w, const void *data, size_t size, jaclip_err *err)
{
    static const uint8_t zeros[512];
    size_t pad = (512 - size % 512) % 512;
    if ((size && fwrite(data, 1, size, w->af.f) != size) || (pad && fwrite(zeros, 1, pad, w->af.f) != pad))
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", w->af.path, strerror(errno));
    w->bytes += size + pad;
    return JACLIP_OK;
}

jaclip_status jc_tar_writer_open(const char *path, jc_tar_writer *w, jaclip_err *err)
{
    memset(w, 0, sizeof *w);
    return jc_atomic_open(path, &w->af, err);
}

jaclip_status jc_tar_write(jc_tar_writer *w, const char *name, const void *data, size_t size, jaclip_err *err)
{
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= JC_TAR_NAME_MAX)
        return jc_err(err, JACLIP_ERR_ARG, "%s: bad tar member name length %zu", w->af.path, nlen);
    jaclip_status st;
    if (nlen > 100) {
        if ((st = write_header(w, "././@LongLink", 13, nlen + 1, 'L', err))) return st;
        if ((st = write_body(w, name, nlen + 1, err))) return st;
    }
    if ((st = write_header(w, name, nlen, size, '0', err))) return st;
    if ((st = write_body(w, data, size, err))) return st;
    w->members++;
    return JACLIP_OK;
}

jaclip_status jc_tar_writer_close(jc_tar_writer *w, jaclip_err *err)
{
    static const uint8_t zeros[1024];
    if (fwrite(zeros, 1, sizeof zeros, w->af.f) != sizeof zeros) {
        jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", w->af.path, strerror(errno));
        jc_atomic_abort(&w->af);
        return st;
    }
    return jc_atomic_commit(&w->af, err);
}

void jc_tar_writer_abort(jc_tar_writer *w) { jc_atomic_abort(&w->af); }

void jc_free_strings(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

jaclip_status jc_wds_split_shards(const char *root, const char *split, char ***paths, int *n, jaclip_err *err)
{
    *paths = NULL;
    *n = 0;
    char *dir = jc_path_join(root, split);
    char *ns = dir ? jc_path_join(dir, "nshards.txt") : NULL;
    if (!ns) {
        free(dir);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    if (!jc_is_dir(dir)) {
        jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: split directory not found (expected ROOT/%s/N.tar + nshards.txt)", dir, split);
        free(dir);
        free(ns);
        return st;
    }
    char *txt;
    jaclip_status st = jc_read_file(ns, 64, &txt, NULL, err);
    if (st) {
        jc_err_prefix(err, "dataset layout");
        free(dir);
        free(ns);
        return st;
    }
    char *end;
    errno = 0;
    long k = strtol(txt, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r') end++;
    if (errno || end == txt || *end || k <= 0 || k > 1000000) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: expected a positive shard count, got '%.20s'", ns, txt);
        free(txt);
        free(dir);
        free(ns);
        return st;
    }
    free(txt);
    char **v = calloc((size_t)k, sizeof *v);
    if (!v) {
        free(dir);
        free(ns);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < k; i++) {
        char name[32];
        snprintf(name, sizeof name, "%ld.tar", i);
        v[i] = jc_path_join(dir, name);
        if (!v[i] || !jc_file_exists(v[i])) {
            st = v[i] ? jc_err(err, JACLIP_ERR_IO, "%s: shard listed by %s (%ld shards) does not exist", v[i], ns, k)
                      : jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
            jc_free_strings(v, (int)k);
            free(dir);
            free(ns);
            return st;
        }
    }
    free(dir);
    free(ns);
    *paths = v;
    *n = (int)k;
    return JACLIP_OK;
}
