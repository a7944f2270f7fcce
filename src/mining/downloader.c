/*
 * downloader.c — `jaclip download`: the img2dataset step. Rows of a pairs file (JSONL or
 * JSONL.gz with url/caption columns) become WebDataset shards: NNNNN.tar holding KEY.jpg
 * (or .png/.webp, the bytes as served), KEY.txt (the caption) and KEY.json (the row plus
 * key/status/size/sha256), and NNNNN_stats.json with the counts per status and error.
 *
 * One libcurl multi handle runs up to `parallel` transfers; rows are dispatched in input
 * order and samples are written to their shard as they complete, so memory holds only the
 * transfers in flight. Shard i holds input rows [i*S, (i+1)*S) whatever happens, which is
 * what makes resuming simple: a shard is finished iff NNNNN_stats.json exists. The tar is
 * renamed into place first and the stats file second, each via temp file + rename, so a
 * killed run never leaves a shard that looks finished but is not; on restart the finished
 * shards are skipped and unfinished ones are downloaded again from scratch.
 *
 * Checks per row: http(s) only (also across redirects, at most 5), total timeout, retries
 * with exponential back-off for transient failures (timeouts, connection errors, 429/5xx,
 * truncated bodies), size limit (Content-Length and streamed bytes), Content-Type must be
 * image/... or octet-stream, X-Robots-Tag noai/noimageai/noindex/noimageindex is honoured as
 * img2dataset does, and the bytes must be a complete JPEG/PNG/WebP (imgsniff.c).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <zlib.h>

#include <jpeglib.h>

#include "base/base.h"
#include "image/image.h"
#include "io/tar.h"
#include "mining/mining.h"

enum {
    R_HTTP,
    R_TIMEOUT,
    R_CONNECT,
    R_TOO_LARGE,
    R_CONTENT_TYPE,
    R_NOT_IMAGE,
    R_UNSUPPORTED,
    R_TRUNCATED,
    R_ROBOTS,
    R_BAD_URL,
    R_REDIRECTS,
    R_BAD_ROW,
    R_DECODE,
    R_OTHER,
    R_N
};

static const char *const reason_names[R_N] = {
    "http error",  "timeout",         "connection failed", "too large", "content-type not an image",
    "not an image", "unsupported format", "truncated",      "x-robots-tag", "bad url",
    "too many redirects", "bad input row", "cannot decode", "other"};

const char *jc_download_reason_name(int i) { return i >= 0 && i < R_N ? reason_names[i] : NULL; }

jc_download_params jc_download_default_params(void)
{
    jc_download_params p;
    memset(&p, 0, sizeof p);
    p.shard_size = 10000;
    p.parallel = 64;
    p.timeout = 10;
    p.connect_timeout = 5;
    p.retries = 2;
    p.backoff = 0.5;
    p.max_size = (int64_t)20 << 20;
    p.oom_shard_count = 5;
    p.check_robots = true;
    p.jpeg_quality = 95;
    p.user_agent = "Mozilla/5.0 (compatible; jaclip/0.1; +https://github.com/rom1504/img2dataset)";
    p.url_col = "url";
    p.caption_col = "caption";
    return p;
}

/* ---- shards -------------------------------------------------------------------------------- */

typedef struct shard {
    int64_t id;
    jc_tar_writer tw;
    bool open;
    int64_t rows, done;  /* rows dispatched / finished */
    bool sealed;         /* every row of the shard has been dispatched */
    int64_t success, failed, bytes;
    int64_t by_reason[R_N];
    cJSON *errors;       /* error message -> count */
    double t0;
    struct shard *next;
} shard;

typedef struct job {
    CURL *h;
    shard *sh;
    int64_t idx;         /* row index inside the shard */
    cJSON *row;          /* the input row (owned) */
    const char *url, *caption;
    uint8_t *data;
    size_t len, cap;
    int attempt;
    int64_t max_size;
    double not_before;
    bool too_large, bad_ctype, robots, check_robots;
    char ctype[128];
    char errbuf[CURL_ERROR_SIZE];
    char sha256[65];     /* of the downloaded bytes */
    size_t orig_len;
    struct job *next;    /* retry queue */
    struct job *run_next; /* list of transfers in the multi handle */
} job;

typedef struct dl {
    const jc_download_params *p;
    const char *dir;
    jc_download_stats *st;
    CURLM *multi;
    shard *shards;
    job *retry;
    job *running;
    int active;
    int oom_sample;
    int64_t total_rows;
    jc_progress prog;
    jaclip_err *err;
    jaclip_status status;
} dl;

static char *shard_path(const dl *d, int64_t id, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "%0*lld%s", d->p->oom_shard_count, (long long)id, suffix);
    return jc_path_join(d->dir, name);
}

/* Finished = the stats file and the tar exist, and the stats count the rows this shard has in
 * the input now (rows appended to the input since the last run make a short last shard
 * unfinished again). */
static bool shard_finished_on_disk(const dl *d, int64_t id)
{
    char *s = shard_path(d, id, "_stats.json"), *t = shard_path(d, id, ".tar");
    bool done = s && t && jc_file_exists(s) && jc_file_exists(t);
    if (done) {
        char *txt = NULL;
        size_t len;
        jaclip_err e;
        done = false;
        if (jc_read_file(s, 1 << 20, &txt, &len, &e) == JACLIP_OK) {
            cJSON *o = cJSON_ParseWithLength(txt, len);
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "count");
            int64_t expect = d->total_rows - id * d->p->shard_size;
            if (expect > d->p->shard_size) expect = d->p->shard_size;
            done = cJSON_IsNumber(c) && (int64_t)c->valuedouble == expect;
            cJSON_Delete(o);
            free(txt);
        }
    }
    free(s);
    free(t);
    return done;
}

static shard *shard_get(dl *d, int64_t id)
{
    for (shard *s = d->shards; s; s = s->next)
        if (s->id == id) return s;
    shard *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    s->errors = cJSON_CreateObject();
    s->t0 = jc_now();
    char *path = shard_path(d, id, ".tar");
    jaclip_err e;
    if (!path || jc_tar_writer_open(path, &s->tw, &e) != JACLIP_OK) {
        if (d->status == JACLIP_OK) {
            d->status = path ? e.code : JACLIP_ERR_NOMEM;
            if (d->err) *d->err = e;
        }
        free(path);
        cJSON_Delete(s->errors);
        free(s);
        return NULL;
    }
    free(path);
    s->open = true;
    s->next = d->shards;
    d->shards = s;
    return s;
}

static void shard_free(dl *d, shard *s)
{
    shard **pp = &d->shards;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    if (s->open) jc_tar_writer_abort(&s->tw);
    cJSON_Delete(s->errors);
    free(s);
}

/* Commits the tar, then the stats file: the order that makes "stats exists" mean "done". */
static void shard_close(dl *d, shard *s)
{
    jaclip_err e;
    jaclip_status st = jc_tar_writer_close(&s->tw, &e);
    s->open = false;
    if (st == JACLIP_OK) {
        char name[32];
        snprintf(name, sizeof name, "%0*lld", d->p->oom_shard_count, (long long)s->id);
        double t1 = jc_now();
        cJSON *o = cJSON_CreateObject(), *sd = cJSON_CreateObject(), *rd = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "shard", name);
        cJSON_AddNumberToObject(o, "count", (double)s->rows);
        cJSON_AddNumberToObject(o, "successes", (double)s->success);
        int64_t dl_fail = 0, dec_fail = 0;
        for (int r = 0; r < R_N; r++) {
            if (r == R_NOT_IMAGE || r == R_UNSUPPORTED || r == R_TRUNCATED || r == R_DECODE) dec_fail += s->by_reason[r];
            else dl_fail += s->by_reason[r];
            if (s->by_reason[r]) cJSON_AddNumberToObject(rd, reason_names[r], (double)s->by_reason[r]);
        }
        cJSON_AddNumberToObject(o, "failed_to_download", (double)dl_fail);
        cJSON_AddNumberToObject(o, "failed_to_decode", (double)dec_fail);
        cJSON_AddNumberToObject(sd, "success", (double)s->success);
        if (dl_fail) cJSON_AddNumberToObject(sd, "failed_to_download", (double)dl_fail);
        if (dec_fail) cJSON_AddNumberToObject(sd, "failed_to_decode", (double)dec_fail);
        cJSON_AddItemToObject(o, "status_dict", sd);
        cJSON_AddItemToObject(o, "failures_by_reason", rd);
        cJSON_AddItemToObject(o, "error_messages", s->errors);
        s->errors = NULL;
        cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
        cJSON_AddNumberToObject(o, "duration", t1 - s->t0);
        char *txt = cJSON_Print(o);
        cJSON_Delete(o);
        char *path = shard_path(d, s->id, "_stats.json");
        if (!txt || !path) st = jc_err(&e, JACLIP_ERR_NOMEM, "out of memory");
        else st = jc_write_file_atomic(path, txt, strlen(txt), &e);
        free(txt);
        free(path);
    }
    if (st != JACLIP_OK && d->status == JACLIP_OK) {
        d->status = st;
        if (d->err) *d->err = e;
    }
    if (st == JACLIP_OK) d->st->shards_written++;
    shard_free(d, s);
}

static void shard_maybe_close(dl *d, shard *s)
{
    if (s->sealed && s->done == s->rows) shard_close(d, s);
}

/* ---- results ---------------------------------------------------------------------------------- */

static void count_error(shard *s, const char *msg)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(s->errors, msg);
    if (c) cJSON_SetNumberValue(c, c->valuedouble + 1);
    else cJSON_AddNumberToObject(s->errors, msg, 1);
}

static void key_of(const dl *d, const shard *s, int64_t idx, char *key, size_t n)
{
    long long v = (long long)s->id;
    for (int i = 0; i < d->oom_sample; i++) v *= 10;
    snprintf(key, n, "%0*lld", d->oom_sample + d->p->oom_shard_count, v + (long long)idx);
}

static void finish_row(dl *d, shard *s)
{
    s->done++;
    jc_progress_add(&d->prog, 1);
    shard_maybe_close(d, s);
}

static void row_failed(dl *d, shard *s, int reason, const char *msg)
{
    s->failed++;
    s->by_reason[reason]++;
    d->st->failed++;
    d->st->by_reason[reason]++;
    count_error(s, msg);
    finish_row(d, s);
}

typedef struct img_out {
    const char *ext, *mime;
    int w, h, ow, oh; /* stored size and original size */
} img_out;

static void row_success(dl *d, job *j, const img_out *sn)
{
    shard *s = j->sh;
    char key[64], name[96];
    const char *sha = j->sha256;
    key_of(d, s, j->idx, key, sizeof key);
    cJSON *meta = j->row; /* the row's columns, plus what img2dataset adds */
    j->row = NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "key");
    cJSON_AddStringToObject(meta, "key", key);
    cJSON_AddStringToObject(meta, "status", "success");
    cJSON_AddNullToObject(meta, "error_message");
    cJSON_AddNumberToObject(meta, "width", sn->w);
    cJSON_AddNumberToObject(meta, "height", sn->h);
    cJSON_AddNumberToObject(meta, "original_width", sn->ow);
    cJSON_AddNumberToObject(meta, "original_height", sn->oh);
    cJSON_AddStringToObject(meta, "mime", sn->mime);
    cJSON_AddNumberToObject(meta, "size", (double)j->orig_len);
    cJSON_AddStringToObject(meta, "sha256", sha); /* of the bytes as downloaded, as img2dataset */
    char *js = cJSON_PrintUnformatted(meta);
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(meta, d->p->caption_col);
    const char *caption = cJSON_IsString(cap) ? cap->valuestring : "";
    jaclip_err e;
    jaclip_status st = JACLIP_OK;
    snprintf(name, sizeof name, "%s.%s", key, sn->ext);
    st = js ? jc_tar_write(&s->tw, name, j->data, j->len, &e) : jc_err(&e, JACLIP_ERR_NOMEM, "out of memory");
    if (st == JACLIP_OK) {
        snprintf(name, sizeof name, "%s.txt", key);
        st = jc_tar_write(&s->tw, name, caption, strlen(caption), &e);
    }
    if (st == JACLIP_OK) {
        snprintf(name, sizeof name, "%s.json", key);
        st = jc_tar_write(&s->tw, name, js, strlen(js), &e);
    }
    free(js);
    cJSON_Delete(meta);
    if (st != JACLIP_OK && d->status == JACLIP_OK) {
        d->status = st;
        if (d->err) *d->err = e;
    }
    s->success++;
    s->bytes += (int64_t)j->len;
    d->st->success++;
    d->st->bytes += j->len;
    finish_row(d, s);
}

/* ---- curl callbacks ---------------------------------------------------------------------------- */

static bool ctype_ok(const char *ct)
{
    return !ct || !*ct || strncasecmp(ct, "image/", 6) == 0 || strncasecmp(ct, "application/octet-stream", 24) == 0 ||
           strncasecmp(ct, "binary/octet-stream", 19) == 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    job *j = ud;
    size_t n = size * nmemb;
    if (j->len == 0) {
        char *ct = NULL;
        long code = 0;
        curl_easy_getinfo(j->h, CURLINFO_CONTENT_TYPE, &ct);
        curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300 && !ctype_ok(ct)) {
            snprintf(j->ctype, sizeof j->ctype, "%s", ct);
            j->bad_ctype = true;
            return 0; /* abort: do not download web pages */
        }
        if (code >= 200 && code < 300 && j->robots) return 0;
    }
    if ((int64_t)(j->len + n) > j->max_size) {
        j->too_large = true;
        return 0;
    }
    if (j->len + n > j->cap) {
        size_t nc = j->cap ? j->cap : 65536;
        while (nc < j->len + n) nc *= 2;
        uint8_t *nd = realloc(j->data, nc);
        if (!nd) return 0;
        j->data = nd;
        j->cap = nc;
    }
    memcpy(j->data + j->len, ptr, n);
    j->len += n;
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    job *j = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) j->robots = false; /* a new response (redirect) */
    if (j->check_robots && n > 13 && strncasecmp(buf, "X-Robots-Tag:", 13) == 0) {
        char v[256];
        size_t k = n - 13 < sizeof v - 1 ? n - 13 : sizeof v - 1;
        memcpy(v, buf + 13, k);
        v[k] = 0;
        for (char *c = v; *c; c++) *c = (char)tolower((unsigned char)*c);
        /* "noai", "noimageai", "noindex", "noimageindex", possibly scoped "otherbot: noindex" */
        static const char *const bad[] = {"noai", "noimageai", "noindex", "noimageindex"};
        const char *tok = v;
        bool scoped_other = false;
        const char *colon = strchr(v, ':');
        if (colon) {
            /* a user-agent scope: only "*"-like scopes or ours apply */
            char scope[64];
            size_t sl = (size_t)(colon - v) < sizeof scope - 1 ? (size_t)(colon - v) : sizeof scope - 1;
            memcpy(scope, v, sl);
            scope[sl] = 0;
            scoped_other = !strstr(scope, "jaclip") && !strstr(scope, "img2dataset") && !strchr(scope, '*');
            tok = colon + 1;
        }
        for (size_t i = 0; !scoped_other && i < 4; i++) {
            const char *f = strstr(tok, bad[i]);
            size_t bl = strlen(bad[i]);
            if (f && (f == tok || !isalnum((unsigned char)f[-1])) && !isalnum((unsigned char)f[bl])) j->robots = true;
        }
    }
    return n;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static void job_free(job *j)
{
    if (!j) return;
    if (j->h) curl_easy_cleanup(j->h);
    cJSON_Delete(j->row);
    free(j->data);
    free(j);
}

static bool job_start(dl *d, job *j)
{
    const jc_download_params *p = d->p;
    j->len = 0;
    j->too_large = j->bad_ctype = j->robots = false;
    j->errbuf[0] = 0;
    if (!j->h && !(j->h = curl_easy_init())) return false;
    else curl_easy_reset(j->h);
    CURL *h = j->h;
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(p->timeout * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->max_size);
    curl_easy_setopt(h, CURLOPT_USERAGENT, p->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "identity");
    j->max_size = p->max_size;
    j->check_robots = p->check_robots;
    if (curl_multi_add_handle(d->multi, h) != CURLM_OK) return false;
    d->active++;
    j->run_next = d->running;
    d->running = j;
    return true;
}

/* Classifies a finished transfer: -1 success, else a reason; *transient says whether a retry
 * may help. msg receives the error message stored in the stats. */
static int classify(job *j, CURLcode rc, const jc_img_sniff *sn, bool *transient, char *msg, size_t msg_size)
{
    *transient = false;
    long code = 0;
    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &code);
    if (j->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(msg, msg_size, "larger than the size limit");
        return R_TOO_LARGE;
    }
    if (j->bad_ctype) {
        snprintf(msg, msg_size, "content-type %s", j->ctype);
        return R_CONTENT_TYPE;
    }
    if (j->robots && code >= 200 && code < 300) {
        snprintf(msg, msg_size, "X-Robots-Tag forbids AI use");
        return R_ROBOTS;
    }
    switch (rc) {
    case CURLE_OK: break;
    case CURLE_OPERATION_TIMEDOUT:
        *transient = true;
        snprintf(msg, msg_size, "timeout");
        return R_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        *transient = true;
        snprintf(msg, msg_size, "%s", curl_easy_strerror(rc));
        return R_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(msg, msg_size, "%s", curl_easy_strerror(rc));
        return R_CONNECT;
    case CURLE_PARTIAL_FILE:
        *transient = true;
        snprintf(msg, msg_size, "truncated body (shorter than Content-Length)");
        return R_TRUNCATED;
    case CURLE_TOO_MANY_REDIRECTS:
        snprintf(msg, msg_size, "too many redirects");
        return R_REDIRECTS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        snprintf(msg, msg_size, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
        return R_BAD_URL;
    default:
        snprintf(msg, msg_size, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
        return R_OTHER;
    }
    if (code < 200 || code >= 300) {
        *transient = code == 429 || code >= 500;
        snprintf(msg, msg_size, "http %ld", code);
        return R_HTTP;
    }
    if (!sn->ext) {
        snprintf(msg, msg_size, "not an image (unknown bytes)");
        return R_NOT_IMAGE;
    }
    if (strcmp(sn->ext, "gif") == 0) {
        snprintf(msg, msg_size, "unsupported format gif");
        return R_UNSUPPORTED;
    }
    if (!sn->complete || sn->width <= 0 || sn->height <= 0) {
        *transient = true;
        snprintf(msg, msg_size, "truncated or corrupt %s", sn->ext);
        return R_TRUNCATED;
    }
    return -1;
}

/* libjpeg error handling without exit(): longjmp back */
#include <setjmp.h>
typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} jerr;
static void jerr_exit(j_common_ptr c) { longjmp(((jerr *)c->err)->jb, 1); }

/* RGB (w*h*3) -> JPEG in a malloc'd buffer. */
static bool encode_jpeg(const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *out_len)
{
    struct jpeg_compress_struct c;
    jerr je;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jerr_exit;
    if (setjmp(je.jb)) {
        jpeg_destroy_compress(&c);
        free(buf);
        return false;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = buf;
    *out_len = len;
    return true;
}

/* The decode check with the image layer's decoders (the ones training and inference use),
 * and with --resize the model's letterbox to a square re-encoded as JPEG. Returns -1 when
 * the image is usable, else a failure reason with msg. */
static int decode_check(dl *d, job *j, img_out *io, char *msg, size_t msg_size)
{
    jaclip_err e;
    jaclip_image_params ip = jaclip_image_default_params();
    const char *why;
    if (d->p->resize > 0) {
        ip.image_size = d->p->resize;
        size_t n = (size_t)ip.image_size * (size_t)ip.image_size * 3;
        uint8_t *rgb = malloc(n), *jpg = NULL;
        size_t jl = 0;
        if (!rgb) {
            snprintf(msg, msg_size, "out of memory");
            return R_OTHER;
        }
        if (jaclip_image_letterbox_mem(j->data, j->len, j->url, &ip, rgb, &e) != JACLIP_OK) {
            free(rgb);
            goto bad;
        }
        bool ok = encode_jpeg(rgb, ip.image_size, ip.image_size, d->p->jpeg_quality, &jpg, &jl);
        free(rgb);
        if (!ok) {
            snprintf(msg, msg_size, "cannot encode the resized image");
            return R_OTHER;
        }
        free(j->data);
        j->data = jpg;
        j->len = j->cap = jl;
        io->ext = "jpg";
        io->mime = "image/jpeg";
        io->w = io->h = ip.image_size;
        return -1;
    }
    jc_image img;
    if (jc_image_decode(j->data, j->len, j->url, ip.max_pixels, 0, &img, &e) != JACLIP_OK) goto bad;
    io->w = io->ow = img.w;
    io->h = io->oh = img.h;
    jc_image_free(&img);
    return -1;
bad:
    /* messages start with the URL; keep the part after it so the stats group by cause */
    why = strncmp(e.msg, j->url, strlen(j->url)) == 0 ? e.msg + strlen(j->url) : e.msg;
    while (*why == ':' || *why == ' ') why++;
    snprintf(msg, msg_size, "cannot decode: %.200s", why);
    return R_DECODE;
}

static void job_done(dl *d, job *j, CURLcode rc)
{
    curl_multi_remove_handle(d->multi, j->h);
    d->active--;
    for (job **pp = &d->running; *pp; pp = &(*pp)->run_next)
        if (*pp == j) {
            *pp = j->run_next;
            break;
        }
    jc_img_sniff sn;
    jc_img_sniff_buf(j->data, j->len, &sn);
    bool transient;
    char msg[256];
    int r = classify(j, rc, &sn, &transient, msg, sizeof msg);
    if (r < 0) {
        img_out io = {sn.ext, sn.mime, sn.width, sn.height, sn.width, sn.height};
        jc_sha256_hex(j->data, j->len, j->sha256);
        j->orig_len = j->len;
        r = decode_check(d, j, &io, msg, sizeof msg);
        if (r < 0) {
            row_success(d, j, &io);
            job_free(j);
            return;
        }
        transient = false;
    }
    if (transient && j->attempt < d->p->retries) {
        j->not_before = jc_now() + d->p->backoff * pow(2.0, j->attempt);
        j->attempt++;
        d->st->retries++;
        j->next = d->retry;
        d->retry = j;
        return;
    }
    row_failed(d, j->sh, r, msg);
    job_free(j);
}

/* ---- input ---------------------------------------------------------------------------------- */

typedef struct line_reader {
    gzFile gz;
    char *buf;
    size_t cap;
} line_reader;

/* Reads one line (without the newline) into r->buf; false at the end. */
static bool read_line(line_reader *r, size_t *len)
{
    size_t n = 0;
    for (;;) {
        if (r->cap - n < 4096) {
            size_t nc = r->cap ? r->cap * 2 : 65536;
            char *nb = realloc(r->buf, nc);
            if (!nb) return false;
            r->buf = nb;
            r->cap = nc;
        }
        if (!gzgets(r->gz, r->buf + n, (int)(r->cap - n))) {
            *len = n;
            r->buf[n] = 0;
            return n > 0;
        }
        n += strlen(r->buf + n);
        if (n && r->buf[n - 1] == '\n') {
            r->buf[--n] = 0;
            if (n && r->buf[n - 1] == '\r') r->buf[--n] = 0;
            *len = n;
            return true;
        }
    }
}

/* Removes temp files of shards left by a killed run (only those whose process is gone). */
static void clean_stale_temps(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t || !isdigit((unsigned char)e->d_name[0])) continue;
        if (!strstr(e->d_name, ".tar.tmp.") && !strstr(e->d_name, "_stats.json.tmp.")) continue;
        long pid = strtol(t + 5, NULL, 10);
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue;
        char *p = jc_path_join(dir, e->d_name);
        if (p) unlink(p);
        free(p);
    }
    closedir(dh);
}

jaclip_status jc_download(const char *pairs_path, const char *out_dir, const jc_download_params *p,
                          jc_download_stats *st, jaclip_err *err)
{
    memset(st, 0, sizeof *st);
    if (p->shard_size < 1 || p->parallel < 1 || p->oom_shard_count < 1 || p->oom_shard_count > 12)
        return jc_err(err, JACLIP_ERR_ARG, "download: shard size, parallelism and shard digits must be positive");
    /* count rows first: progress with an ETA, and a clear error for an unreadable file */
    line_reader lr = {0};
    lr.gz = gzopen(pairs_path, "rb");
    if (!lr.gz) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open: %s", pairs_path, strerror(errno));
    gzbuffer(lr.gz, 1 << 17);
    int64_t total = 0;
    size_t len;
    while (read_line(&lr, &len))
        if (len) total++;
    int zerr;
    const char *zmsg = gzerror(lr.gz, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        jaclip_status s = jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot read: %s", pairs_path, zmsg);
        gzclose(lr.gz);
        free(lr.buf);
        return s;
    }
    gzrewind(lr.gz);
    jaclip_status s = jc_mkdirs(out_dir, err);
    if (s) {
        gzclose(lr.gz);
        free(lr.buf);
        return s;
    }
    clean_stale_temps(out_dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dl d;
    memset(&d, 0, sizeof d);
    d.p = p;
    d.dir = out_dir;
    d.st = st;
    d.err = err;
    d.multi = curl_multi_init();
    for (int64_t v = 1; v < p->shard_size; v *= 10) d.oom_sample++;
    d.total_rows = total;
    curl_multi_setopt(d.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)p->parallel);
    jc_progress_start(&d.prog, "download", "rows", total, p->quiet);

    int64_t row = -1;
    bool eof = false;
    shard *cur = NULL;
    int64_t cur_id = -1;
    bool cur_skipped = false;
    while (d.status == JACLIP_OK) {
        /* start due retries, then new rows, up to `parallel` transfers */
        double now = jc_now();
        for (job **pp = &d.retry; *pp && d.active < p->parallel;) {
            job *j = *pp;
            if (j->not_before <= now) {
                *pp = j->next;
                if (!job_start(&d, j)) {
                    row_failed(&d, j->sh, R_OTHER, "cannot start a transfer");
                    job_free(j);
                }
            } else pp = &j->next;
        }
        while (!eof && d.active < p->parallel && d.status == JACLIP_OK) {
            if (!read_line(&lr, &len)) {
                eof = true;
                if (cur) {
                    cur->sealed = true;
                    shard *c = cur;
                    cur = NULL;
                    shard_maybe_close(&d, c);
                }
                break;
            }
            if (!len) continue;
            row++;
            st->rows++;
            int64_t id = row / p->shard_size;
            if (id != cur_id) {
                if (cur) {
                    cur->sealed = true;
                    shard *c = cur;
                    cur = NULL;
                    shard_maybe_close(&d, c);
                }
                cur_id = id;
                cur_skipped = shard_finished_on_disk(&d, id);
                if (cur_skipped) st->shards_skipped++;
                else if (!(cur = shard_get(&d, id))) break;
            }
            if (cur_skipped) {
                jc_progress_add(&d.prog, 1);
                continue;
            }
            cur->rows++;
            cJSON *rowj = cJSON_ParseWithLength(lr.buf, len);
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(rowj, p->url_col);
            if (!cJSON_IsObject(rowj) || !cJSON_IsString(u)) {
                cJSON_Delete(rowj);
                char m[96];
                snprintf(m, sizeof m, "row %lld: not a JSON object with a \"%s\" string", (long long)row + 1, p->url_col);
                row_failed(&d, cur, R_BAD_ROW, m);
                continue;
            }
            job *j = calloc(1, sizeof *j);
            if (!j) {
                cJSON_Delete(rowj);
                s = jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
                d.status = s;
                break;
            }
            j->sh = cur;
            j->idx = row % p->shard_size;
            j->row = rowj;
            j->url = u->valuestring;
            if (!jc_url_is_http(j->url)) {
                row_failed(&d, cur, R_BAD_URL, "not an http(s) URL");
                job_free(j);
                continue;
            }
            if (!job_start(&d, j)) {
                row_failed(&d, cur, R_OTHER, "cannot start a transfer");
                job_free(j);
            }
        }
        if (d.status != JACLIP_OK) break;
        if (eof && d.active == 0 && !d.retry) break;
        int running = 0;
        curl_multi_perform(d.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(d.multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            job *j = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            job_done(&d, j, m->data.result);
        }
        int wait_ms = 200;
        if (d.retry && d.active == 0) {
            double next = d.retry->not_before;
            for (job *j = d.retry; j; j = j->next)
                if (j->not_before < next) next = j->not_before;
            double w = (next - jc_now()) * 1000;
            wait_ms = w < 1 ? 1 : w > 200 ? 200 : (int)w;
        }
        if (d.active > 0 || d.retry) curl_multi_poll(d.multi, NULL, 0, wait_ms, NULL);
    }
    jc_progress_finish(&d.prog);
    /* on error: abandon unfinished shards (their temp files are removed, nothing looks done) */
    while (d.retry) {
        job *j = d.retry;
        d.retry = j->next;
        job_free(j);
    }
    while (d.running) { /* transfers still in flight after an error */
        job *j = d.running;
        d.running = j->run_next;
        curl_multi_remove_handle(d.multi, j->h);
        job_free(j);
    }
    while (d.shards) shard_free(&d, d.shards);
    curl_multi_cleanup(d.multi);
    gzclose(lr.gz);
    free(lr.buf);
    return d.status;
}
