/*
 * miner.c — the mining driver behind `jaclip mine`: WARC/WAT files in, one JSON line per
 * (image URL, caption) pair out, with img2dataset's column names (url, caption, page_url,
 * title, source, offset) so that img2dataset and `jaclip download` read each other's files.
 *
 * Per record: extract candidates (wat.c for WAT metadata, html_img.c for WARC responses),
 * resolve the URL against <base>/page URL (http(s) only), decode entities and normalise the
 * caption, apply the length and file-name rules, the Japanese rule, then the dedup set.
 * Output is written through a temp file and renamed when complete; the dedup set is
 * committed only after that, so a killed run leaves neither a partial output nor keys for
 * pairs that were never delivered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/base.h"
#include "io/warc.h"
#include "mining/mining.h"

jc_mine_params jc_mine_default_params(void)
{
    jc_mine_params p;
    memset(&p, 0, sizeof p);
    p.ja = jc_ja_default_params();
    p.min_chars = 2;
    p.max_chars = 256;
    p.max_html = (size_t)8 << 20;
    return p;
}

/* ---- caption rules ------------------------------------------------------------------------ */

static bool looks_like_filename(const char *s)
{
    size_t n = strlen(s);
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".svg", ".tif", ".tiff"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcasecmp(s + n - k, ext[i]) == 0 && !strchr(s, ' ')) return true;
    }
    return false;
}

typedef struct emit_ctx {
    const jc_mine_params *p;
    const char *source;
    uint64_t offset;
    const char *page_url;
    char *base;        /* resolved base URL (malloc'd) */
    const char *title; /* normalised page title */
    jc_page_lang lang;
    jc_pair_fn cb;
    void *cb_ctx;
    jc_mine_stats *st;
    bool unescape; /* WAT values: older WATs kept entities; HTML attributes are decoded already */
} emit_ctx;

static void emit(emit_ctx *e, const char *src, const char *alt)
{
    jc_mine_stats *st = e->st;
    st->images++;
    if ((!alt || !*alt) && !e->p->allow_empty_alt) {
        st->no_alt++;
        return;
    }
    if (!alt) alt = "";
    char *url = jc_url_resolve(e->base ? e->base : e->page_url, src);
    if (!url || !jc_url_is_http(url)) {
        st->bad_url++;
        free(url);
        return;
    }
    char *cap = jc_strdup(alt);
    if (!cap) {
        free(url);
        return;
    }
    size_t n = strlen(cap);
    if (e->unescape) n = jc_html_unescape(cap, n);
    jc_text_normalize(cap, n);
    size_t chars = jc_mn_utf8_count(cap);
    if (chars == 0 && e->p->allow_empty_alt) {
        st->no_alt++;
        if (e->p->lang_any) {
            jc_pair pair = {url, cap, e->page_url, e->title ? e->title : "", e->source, e->offset, false};
            e->cb(e->cb_ctx, &pair);
        }
    } else if (chars == 0) st->no_alt++;
    else if ((int)chars < e->p->min_chars) st->too_short++;
    else if ((int)chars > e->p->max_chars) st->too_long++;
    else if (looks_like_filename(cap)) st->filename++;
    else {
        st->pairs++;
        bool ja = jc_is_japanese(cap, e->lang, &e->p->ja, NULL);
        if (ja) st->japanese++;
        if (ja || e->p->lang_any) {
            jc_pair pair = {url, cap, e->page_url, e->title ? e->title : "", e->source, e->offset, ja};
            e->cb(e->cb_ctx, &pair);
        } else st->not_japanese++;
    }
    free(cap);
    free(url);
}

/* ---- WAT route ------------------------------------------------------------------------------ */

typedef struct wat_ctx {
    emit_ctx *e;
    bool page_set;
    char *title;
} wat_ctx;

static void on_wat_image(void *ctx, const jc_wat_page *page, const char *src, const char *alt)
{
    wat_ctx *w = ctx;
    emit_ctx *e = w->e;
    if (!w->page_set) {
        w->page_set = true;
        e->page_url = page->page_url ? page->page_url : "";
        e->lang = page->lang;
        if (page->base) e->base = jc_url_resolve(page->page_url, page->base);
        if (page->title) {
            w->title = jc_strdup(page->title);
            if (w->title) {
                size_t n = jc_html_unescape(w->title, strlen(w->title));
                jc_text_normalize(w->title, n);
            }
            e->title = w->title;
        }
        e->st->pages++;
    }
    emit(e, src, alt);
}

/* ---- HTML route ----------------------------------------------------------------------------- */

/* Undoes "Transfer-Encoding: chunked"; false (leaving the body alone) when the framing is
 * broken, which happens in real captures (see warcio's bad-non-chunked sample). */
static bool dechunk(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t *o = malloc(len + 1);
    if (!o) return false;
    size_t r = 0, w = 0;
    for (;;) {
        size_t v = 0, digits = 0;
        while (r < len) {
            uint8_t c = in[r];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) break;
            if (v > (SIZE_MAX >> 4)) goto bad;
            v = v * 16 + (size_t)d;
            digits++;
            r++;
        }
        if (!digits) goto bad;
        const uint8_t *nl = memchr(in + r, '\n', len - r);
        if (!nl) goto bad;
        r = (size_t)(nl - in) + 1;
        if (v == 0) break;
        if (v > len - r) { /* clipped record: keep what is there */
            memcpy(o + w, in + r, len - r);
            w += len - r;
            break;
        }
        memcpy(o + w, in + r, v);
        w += v;
        r += v;
        if (r < len && in[r] == '\r') r++;
        if (r < len && in[r] == '\n') r++;
        if (r >= len) break;
    }
    *out = o;
    *out_len = w;
    return true;
bad:
    free(o);
    return false;
}

/* gzip/deflate Content-Encoding; at most max bytes of output. */
static bool inflate_body(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return false; /* auto-detect zlib/gzip */
    size_t cap = len * 4 + 4096;
    if (cap > max) cap = max;
    uint8_t *o = malloc(cap + 1);
    if (!o) {
        inflateEnd(&z);
        return false;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    size_t w = 0;
    int ret = Z_OK;
    while (ret == Z_OK) {
        if (w == cap) {
            if (cap >= max) break;
            size_t nc = cap * 2 > max ? max : cap * 2;
            uint8_t *no = realloc(o, nc + 1);
            if (!no) break;
            o = no;
            cap = nc;
        }
        z.next_out = o + w;
        z.avail_out = (uInt)(cap - w);
        ret = inflate(&z, Z_NO_FLUSH);
        w = cap - z.avail_out;
        if (ret == Z_BUF_ERROR && z.avail_in == 0) break; /* clipped body: keep what we have */
    }
    inflateEnd(&z);
    if (w == 0) {
        free(o);
        return false;
    }
    *out = o;
    *out_len = w;
    return true;
}

typedef struct html_ctx {
    emit_ctx *e;
} html_ctx;

static void on_html_image(void *ctx, const jc_html_img *img)
{
    html_ctx *h = ctx;
    char buf[4096];
    const char *src = jc_img_pick_url(img, buf, sizeof buf);
    if (!src) {
        h->e->st->images++;
        h->e->st->bad_url++;
        return;
    }
    emit(h->e, src, img->alt);
}

static void mine_html(emit_ctx *e, const jc_warc_record *rec)
{
    const uint8_t *headers, *body;
    size_t hl, bl;
    int status;
    bool is_http = strncasecmp(rec->content_type, "application/http", 16) == 0;
    char ctype[256] = "", tenc[64] = "", cenc[64] = "";
    if (is_http) {
        if (!jc_http_split(rec->block, rec->block_len, &status, &headers, &hl, &body, &bl)) return;
        if (status < 200 || status >= 300) return;
        jc_http_header(headers, hl, "Content-Type", ctype, sizeof ctype);
        jc_http_header(headers, hl, "Transfer-Encoding", tenc, sizeof tenc);
        jc_http_header(headers, hl, "Content-Encoding", cenc, sizeof cenc);
    } else {
        snprintf(ctype, sizeof ctype, "%s", rec->content_type);
        body = rec->block;
        bl = rec->block_len;
    }
    if (ctype[0] && !strcasestr(ctype, "html")) return;
    if (!ctype[0] && !(bl > 0 && memchr(body, '<', bl < 512 ? bl : 512))) return;
    uint8_t *owned = NULL, *owned2 = NULL;
    if (strcasestr(tenc, "chunked")) {
        size_t n;
        if (dechunk(body, bl, &owned, &n)) body = owned, bl = n;
    }
    if (strcasestr(cenc, "gzip") || strcasestr(cenc, "deflate")) {
        size_t n;
        if (inflate_body(body, bl, e->p->max_html, &owned2, &n)) body = owned2, bl = n;
        else {
            free(owned);
            return; /* compressed and unreadable: nothing to parse */
        }
    }
    if (bl > e->p->max_html) bl = e->p->max_html;
    const char *cs = strcasestr(ctype, "charset=");
    char http_cs[64] = "";
    if (cs) {
        cs += 8;
        size_t k = 0;
        while (cs[k] && cs[k] != ';' && cs[k] != ' ' && k < sizeof http_cs - 1) k++;
        memcpy(http_cs, cs, k);
        http_cs[k] = 0;
    }
    char charset[64];
    jc_html_charset(body, bl, http_cs[0] ? http_cs : NULL, charset, sizeof charset);
    size_t ulen;
    char *utf8 = jc_to_utf8(body, bl, charset, &ulen);
    free(owned);
    free(owned2);
    if (!utf8) return;
    /* first pass: page facts (base, title, language) come before we can judge any image */
    jc_html_info info;
    int n = jc_html_images(utf8, ulen, &info, NULL, NULL);
    if (n > 0) {
        e->st->pages++;
        e->page_url = rec->target_uri;
        e->lang = jc_page_language(info.lang, charset, &info.text, &e->p->ja);
        if (info.base) e->base = jc_url_resolve(rec->target_uri, info.base);
        e->title = info.title;
        html_ctx h = {e};
        jc_html_info again;
        jc_html_images(utf8, ulen, &again, on_html_image, &h);
        jc_html_info_free(&again);
    }
    jc_html_info_free(&info);
    free(utf8);
}

void jc_mine_record(const jc_mine_params *p, const char *source, const void *record, jc_pair_fn cb, void *ctx,
                    jc_mine_stats *st)
{
    const jc_warc_record *rec = record;
    emit_ctx e = {p, source, rec->offset, rec->target_uri, NULL, NULL, JC_LANG_UNKNOWN, cb, ctx, st, !p->from_html};
    if (p->from_html) {
        if (strcmp(rec->type, "response") == 0 || strcmp(rec->type, "resource") == 0) mine_html(&e, rec);
    } else if (strcmp(rec->type, "metadata") == 0 && rec->block_len > 0 && rec->block[0] == '{') {
        wat_ctx w = {&e, false, NULL};
        jc_wat_images((const char *)rec->block, rec->block_len, rec->target_uri, &p->ja, on_wat_image, &w);
        free(w.title);
    }
    free(e.base);
}

/* ---- output ---------------------------------------------------------------------------------- */

typedef struct out_file {
    jc_atomic_file af;
    bool gz;
    z_stream z;
    uint8_t zbuf[1 << 16];
    char *line;
    size_t line_len, line_cap;
    bool failed;
} out_file;

static void line_put(out_file *o, const char *s, size_t n)
{
    if (o->line_len + n + 1 > o->line_cap) {
        size_t nc = (o->line_len + n + 1) * 2;
        char *nl = realloc(o->line, nc);
        if (!nl) {
            o->failed = true;
            return;
        }
        o->line = nl;
        o->line_cap = nc;
    }
    memcpy(o->line + o->line_len, s, n);
    o->line_len += n;
}

static void json_str(out_file *o, const char *s)
{
    line_put(o, "\"", 1);
    const uint8_t *u = (const uint8_t *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint8_t c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            line_put(o, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            line_put(o, e, 6);
            i++;
        } else if (c < 0x80) {
            line_put(o, (const char *)u + i, 1);
            i++;
        } else {
            uint32_t cp;
            int k = jc_mn_utf8_decode(u + i, n - i, &cp);
            if (cp == 0xFFFD && k == 1) line_put(o, "\\ufffd", 6);
            else line_put(o, (const char *)u + i, (size_t)k);
            i += (size_t)k;
        }
    }
    line_put(o, "\"", 1);
}

static bool out_write(out_file *o, const void *data, size_t n, int flush)
{
    if (!o->gz) return fwrite(data, 1, n, o->af.f) == n;
    o->z.next_in = (Bytef *)data;
    o->z.avail_in = (uInt)n;
    do {
        o->z.next_out = o->zbuf;
        o->z.avail_out = sizeof o->zbuf;
        int r = deflate(&o->z, flush);
        if (r == Z_STREAM_ERROR) return false;
        size_t have = sizeof o->zbuf - o->z.avail_out;
        if (have && fwrite(o->zbuf, 1, have, o->af.f) != have) return false;
    } while (o->z.avail_out == 0 || (flush == Z_FINISH && o->z.avail_in > 0));
    return true;
}

static void on_pair_write(void *ctx, const jc_pair *pr)
{
    out_file *o = ctx;
    o->line_len = 0;
    line_put(o, "{\"url\":", 7);
    json_str(o, pr->url);
    line_put(o, ",\"caption\":", 11);
    json_str(o, pr->caption);
    line_put(o, ",\"page_url\":", 12);
    json_str(o, pr->page_url);
    line_put(o, ",\"title\":", 9);
    json_str(o, pr->title);
    line_put(o, ",\"source\":", 10);
    json_str(o, pr->source);
    char num[48];
    int k = snprintf(num, sizeof num, ",\"offset\":%llu}\n", (unsigned long long)pr->offset);
    line_put(o, num, (size_t)k);
    if (!o->failed && !out_write(o, o->line, o->line_len, Z_NO_FLUSH)) o->failed = true;
}

typedef struct driver {
    out_file *out;
    jc_dedup *dedup;
    const jc_mine_params *p;
    jc_mine_stats *st;
} driver;

static void on_pair(void *ctx, const jc_pair *pr)
{
    driver *d = ctx;
    if (!jc_dedup_add(d->dedup, pr->url, d->p->dedup_url_alt ? pr->caption : NULL)) {
        d->st->duplicates++;
        return;
    }
    d->st->written++;
    on_pair_write(d->out, pr);
}

/* ---- one file, on a pool thread --------------------------------------------------------------- */

typedef struct pair_rec {
    size_t url, caption, page_url, title; /* offsets into the job's arena */
    uint64_t offset;
    bool japanese;
} pair_rec;

typedef struct file_job {
    const char *path, *base;
    char *arena;
    size_t arena_len, arena_cap;
    pair_rec *pairs;
    size_t n_pairs, cap_pairs;
    bool oom;
    jc_mine_stats st;
    jaclip_status status;
    jaclip_err err;
} file_job;

typedef struct file_ctx {
    driver *direct; /* one thread: pairs go straight to the writer (memory independent of the
                       file), else they are collected per file and replayed in order */
    const jc_mine_params *p;
    const char *const *files;
    file_job *jobs;
    jc_progress *prog;
    int first;
    _Atomic uint64_t bytes; /* input bytes read by all threads, for the progress line */
} file_ctx;

static size_t arena_put(file_job *j, const char *str)
{
    size_t n = strlen(str) + 1;
    if (j->arena_len + n > j->arena_cap) {
        size_t nc = j->arena_cap ? j->arena_cap * 2 : 1 << 16;
        while (nc < j->arena_len + n) nc *= 2;
        char *na = realloc(j->arena, nc);
        if (!na) {
            j->oom = true;
            return 0;
        }
        j->arena = na;
        j->arena_cap = nc;
    }
    memcpy(j->arena + j->arena_len, str, n);
    j->arena_len += n;
    return j->arena_len - n;
}

static void on_pair_collect(void *ctx, const jc_pair *pr)
{
    file_job *j = ctx;
    if (j->oom) return;
    if (j->n_pairs == j->cap_pairs) {
        size_t nc = j->cap_pairs ? j->cap_pairs * 2 : 1024;
        pair_rec *np = realloc(j->pairs, nc * sizeof *np);
        if (!np) {
            j->oom = true;
            return;
        }
        j->pairs = np;
        j->cap_pairs = nc;
    }
    pair_rec r;
    r.url = arena_put(j, pr->url);
    r.caption = arena_put(j, pr->caption);
    r.page_url = arena_put(j, pr->page_url);
    r.title = arena_put(j, pr->title);
    r.offset = pr->offset;
    r.japanese = pr->japanese;
    if (!j->oom) j->pairs[j->n_pairs++] = r;
}

static void mine_file_task(void *vctx, int task, int thread)
{
    file_ctx *fc = vctx;
    file_job *j = &fc->jobs[task];
    jc_warc_params wp = jc_warc_default_params();
    wp.quiet = fc->p->quiet;
    const char *b = strrchr(j->path, '/');
    j->base = b ? b + 1 : j->path;
    jc_warc_reader *r;
    if ((j->status = jc_warc_open(j->path, &wp, &r, &j->err))) return;
    jc_warc_record rec;
    bool eof = false;
    uint64_t seen = 0;
    while ((j->status = jc_warc_next(r, &rec, &eof, &j->err)) == JACLIP_OK && !eof) {
        j->st.records++;
        if (fc->direct) jc_mine_record(fc->p, j->base, &rec, on_pair, fc->direct, &j->st);
        else jc_mine_record(fc->p, j->base, &rec, on_pair_collect, j, &j->st);
        uint64_t now = jc_warc_get_stats(r)->bytes_in;
        if (now - seen >= (1u << 20)) {
            uint64_t all = atomic_fetch_add(&fc->bytes, now - seen) + (now - seen);
            seen = now;
            /* only the caller's thread draws the progress line (jc_progress is not shared) */
            if (thread == 0 && (int64_t)(all >> 20) > fc->prog->done)
                jc_progress_add(fc->prog, (int64_t)(all >> 20) - fc->prog->done);
        }
        if (j->oom) {
            j->status = jc_err(&j->err, JACLIP_ERR_NOMEM, "%s: out of memory holding the pairs of this file", j->path);
            break;
        }
    }
    uint64_t now = jc_warc_get_stats(r)->bytes_in;
    atomic_fetch_add(&fc->bytes, now - seen);
    j->st.bytes_in = now;
    j->st.damaged = jc_warc_get_stats(r)->warnings;
    j->st.files = 1;
    jc_warc_close(r);
}

static void add_stats(jc_mine_stats *a, const jc_mine_stats *b)
{
    uint64_t *x = (uint64_t *)a;
    const uint64_t *y = (const uint64_t *)b;
    for (size_t i = 0; i < sizeof *a / sizeof(uint64_t); i++) x[i] += y[i];
}

jaclip_status jc_mine_files(const char *const *files, int n_files, const char *out_path, const jc_mine_params *p,
                            jc_mine_stats *st, jaclip_err *err)
{
    memset(st, 0, sizeof *st);
    uint64_t total = 0;
    for (int i = 0; i < n_files; i++) {
        struct stat sb;
        if (stat(files[i], &sb) != 0)
            return jc_err(err, JACLIP_ERR_IO, "%s: cannot open: %s", files[i], strerror(errno));
        if (!S_ISREG(sb.st_mode)) return jc_err(err, JACLIP_ERR_IO, "%s: not a regular file", files[i]);
        total += (uint64_t)sb.st_size;
    }
    jc_dedup *dedup;
    jaclip_status s = jc_dedup_open(p->dedup_db, &dedup, err);
    if (s) return s;
    out_file *o = calloc(1, sizeof *o);
    if (!o) {
        jc_dedup_free(dedup);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    size_t ol = strlen(out_path);
    o->gz = ol > 3 && strcmp(out_path + ol - 3, ".gz") == 0;
    if ((s = jc_atomic_open(out_path, &o->af, err))) {
        free(o);
        jc_dedup_free(dedup);
        return s;
    }
    if (o->gz && deflateInit2(&o->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) o->failed = true;
    driver d = {o, dedup, p, st};
    jc_progress prog;
    jc_progress_start(&prog, "mine", "MiB", (int64_t)((total + (1 << 20) - 1) >> 20), p->quiet);
    int n_threads = p->pool ? jaclip_pool_size(p->pool) : 1;
    if (n_threads > n_files) n_threads = n_files;
    file_ctx fc = {n_threads == 1 ? &d : NULL, p, files, NULL, &prog, 0, 0};
    fc.jobs = calloc((size_t)n_threads, sizeof *fc.jobs);
    if (!fc.jobs) s = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    /* files are mined n_threads at a time, each into its own buffer; the buffers are then
     * replayed in file order through the dedup set and the writer, so the output does not
     * depend on the number of threads */
    for (int f0 = 0; f0 < n_files && s == JACLIP_OK && !o->failed; f0 += n_threads) {
        int nb = n_files - f0 < n_threads ? n_files - f0 : n_threads;
        fc.first = f0;
        for (int k = 0; k < nb; k++) {
            memset(&fc.jobs[k], 0, sizeof fc.jobs[k]);
            fc.jobs[k].path = files[f0 + k];
        }
        jc_pool_run(p->pool, nb, mine_file_task, &fc);
        for (int k = 0; k < nb; k++) {
            file_job *j = &fc.jobs[k];
            if (s == JACLIP_OK && j->status != JACLIP_OK) {
                s = j->status;
                if (err) *err = j->err;
            }
            if (s == JACLIP_OK)
                for (size_t i = 0; i < j->n_pairs && !o->failed; i++) {
                    const pair_rec *r = &j->pairs[i];
                    jc_pair pr = {j->arena + r->url, j->arena + r->caption, j->arena + r->page_url, j->arena + r->title,
                                  j->base, r->offset, r->japanese};
                    on_pair(&d, &pr);
                }
            add_stats(st, &j->st);
            free(j->arena);
            free(j->pairs);
        }
    }
    free(fc.jobs);
    jc_progress_finish(&prog);
    if (s == JACLIP_OK && !o->failed && o->gz && !out_write(o, "", 0, Z_FINISH)) o->failed = true;
    if (o->gz) deflateEnd(&o->z);
    if (s == JACLIP_OK && o->failed) s = jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", out_path, strerror(errno));
    if (s == JACLIP_OK) s = jc_atomic_commit(&o->af, err);
    else jc_atomic_abort(&o->af);
    if (s == JACLIP_OK) s = jc_dedup_commit(dedup, err);
    free(o->line);
    free(o);
    jc_dedup_free(dedup);
    return s;
}
