/*
 * warc.c — streaming WARC reader (see warc.h for the contract).
 *
 * The reader keeps a window of the *decompressed* stream in r->buf[pos, len). Records are
 * framed on that stream only (header, blank line, Content-Length bytes, CRLF CRLF), so gzip
 * member boundaries do not matter for framing; they only matter for the record offset, which
 * is the compressed offset of the member holding the record's first byte (a small table of
 * member starts maps decompressed positions back to file offsets).
 *
 * Damage handling, in one place: whenever the bytes at the read position are not a record
 * header, or a block is not followed by its terminator, the reader scans forward for a line
 * starting with "WARC/1." and continues from there. A corrupt gzip member is skipped by
 * scanning the compressed input for the next gzip magic (1f 8b 08).
 */
#include "io/warc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "base/base.h"

#define IN_CHUNK (256u << 10)
#define MAX_HEADER (256u << 10)
#define SLACK 64

typedef struct member_start {
    uint64_t abs; /* decompressed position of the member's first byte */
    uint64_t off; /* its compressed file offset */
} member_start;

struct jc_warc_reader {
    char *name;
    jc_warc_params p;
    jc_warc_stats st;
    /* input: a file descriptor or a memory buffer */
    int fd;
    const uint8_t *mem;
    size_t mem_size, mem_pos;
    bool gzip, in_eof, stream_eof, in_member;
    z_stream zs;
    bool z_init;
    uint8_t *in;
    size_t in_len, in_pos;
    uint64_t in_off; /* file offset of in[0] */
    /* decompressed window */
    uint8_t *buf;
    size_t cap, pos, len, cap_limit;
    uint64_t buf_abs; /* decompressed position of buf[0] */
    member_start *ms;
    size_t n_ms, cap_ms;
    /* a copy of the current header, split into NUL-terminated lines */
    char *hdr;
    size_t hdr_cap;
    bool io_failed;
    jaclip_err io_err;
};

jc_warc_params jc_warc_default_params(void)
{
    jc_warc_params p;
    memset(&p, 0, sizeof p);
    p.max_record = (size_t)64 << 20;
    p.max_warnings = 20;
    return p;
}

static void warnf(jc_warc_reader *r, uint64_t *counter, const char *fmt, ...) JC_PRINTF(3, 4);
static void warnf(jc_warc_reader *r, uint64_t *counter, const char *fmt, ...)
{
    if (counter) (*counter)++;
    r->st.warnings++;
    if (r->p.quiet || r->st.warnings > (uint64_t)r->p.max_warnings) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jc_warn("%s: %s%s", r->name, msg,
            r->st.warnings == (uint64_t)r->p.max_warnings ? " (further warnings for this file are counted, not shown)" : "");
}

/* ---- input ------------------------------------------------------------------------------ */

/* Makes at least n bytes available at in[in_pos] unless the input ends first. */
static void in_ensure(jc_warc_reader *r, size_t n)
{
    if (r->in_len - r->in_pos >= n || r->in_eof) return;
    if (r->in_pos > 0) {
        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
        r->in_off += r->in_pos;
        r->in_len -= r->in_pos;
        r->in_pos = 0;
    }
    while (r->in_len < n && !r->in_eof) {
        size_t room = IN_CHUNK - r->in_len, got;
        if (r->mem) {
            got = r->mem_size - r->mem_pos < room ? r->mem_size - r->mem_pos : room;
            memcpy(r->in + r->in_len, r->mem + r->mem_pos, got);
            r->mem_pos += got;
        } else {
            ssize_t k = read(r->fd, r->in + r->in_len, room);
            if (k < 0) {
                if (errno == EINTR) continue;
                r->io_failed = true;
                jc_err(&r->io_err, JACLIP_ERR_IO, "%s: read error: %s", r->name, strerror(errno));
                got = 0;
            } else got = (size_t)k;
        }
        if (got == 0) r->in_eof = true;
        r->in_len += got;
        r->st.bytes_in += got;
    }
}

static void add_member_start(jc_warc_reader *r, uint64_t abs, uint64_t off)
{
    if (r->n_ms == r->cap_ms) {
        size_t nc = r->cap_ms ? r->cap_ms * 2 : 64;
        member_start *n = realloc(r->ms, nc * sizeof *n);
        if (!n) return; /* offsets degrade to the previous member; not fatal */
        r->ms = n;
        r->cap_ms = nc;
    }
    r->ms[r->n_ms++] = (member_start){abs, off};
}

static uint64_t offset_of(const jc_warc_reader *r, uint64_t abs)
{
    if (!r->gzip) return abs;
    uint64_t off = 0;
    for (size_t i = 0; i < r->n_ms && r->ms[i].abs <= abs; i++) off = r->ms[i].off;
    return off;
}

/* Drops member starts that lie wholly before the window (keeps the one covering buf_abs). */
static void prune_members(jc_warc_reader *r)
{
    size_t k = 0;
    while (k + 1 < r->n_ms && r->ms[k + 1].abs <= r->buf_abs + r->pos) k++;
    if (k) {
        memmove(r->ms, r->ms + k, (r->n_ms - k) * sizeof *r->ms);
        r->n_ms -= k;
    }
}

/* Appends decompressed bytes to buf[len, cap). Returns the number produced; 0 means the
 * stream has ended (or cap == len). */
static size_t produce(jc_warc_reader *r)
{
    size_t room = r->cap - r->len;
    if (room == 0 || r->stream_eof) return 0;
    if (!r->gzip) {
        in_ensure(r, 1);
        size_t n = r->in_len - r->in_pos;
        if (n == 0) {
            r->stream_eof = true;
            return 0;
        }
        if (n > room) n = room;
        memcpy(r->buf + r->len, r->in + r->in_pos, n);
        r->in_pos += n;
        r->len += n;
        r->st.bytes_out += n;
        return n;
    }
    for (;;) {
        if (!r->in_member) {
            /* a new member must start here: find the gzip magic, skipping garbage */
            uint64_t skipped = 0;
            bool zeros = true; /* zero padding at the very end of a file is harmless */
            for (;;) {
                in_ensure(r, 3);
                size_t n = r->in_len - r->in_pos;
                if (n < 3) {
                    for (size_t k = 0; k < n; k++) zeros &= r->in[r->in_pos + k] == 0;
                    skipped += n;
                    r->in_pos = r->in_len;
                    if (r->in_eof) break;
                    continue;
                }
                const uint8_t *s = r->in + r->in_pos;
                if (s[0] == 0x1f && s[1] == 0x8b && s[2] == 8) break;
                const uint8_t *q = memchr(s + 1, 0x1f, n - 1);
                size_t adv = q ? (size_t)(q - s) : n - 2;
                for (size_t k = 0; k < adv && zeros; k++) zeros = s[k] == 0;
                skipped += adv;
                r->in_pos += adv;
            }
            bool at_end = r->in_len - r->in_pos < 3;
            if (skipped && zeros && at_end) {
                r->st.garbage_bytes += skipped;
            } else if (skipped) {
                r->st.garbage_bytes += skipped;
                warnf(r, &r->st.gzip_errors, "%llu bytes that are not a gzip member skipped before offset %llu",
                      (unsigned long long)skipped, (unsigned long long)(r->in_off + r->in_pos));
            }
            if (r->in_len - r->in_pos < 3) {
                r->stream_eof = true;
                return 0;
            }
            if (inflateReset(&r->zs) != Z_OK) {
                r->stream_eof = true;
                return 0;
            }
            r->in_member = true;
            add_member_start(r, r->buf_abs + r->len, r->in_off + r->in_pos);
        }
        in_ensure(r, 1);
        if (r->in_len == r->in_pos) {
            warnf(r, &r->st.gzip_errors, "gzip member starting at offset %llu is truncated (file ends inside it)",
                  (unsigned long long)(r->n_ms ? r->ms[r->n_ms - 1].off : 0));
            r->in_member = false;
            r->stream_eof = true;
            return 0;
        }
        r->zs.next_in = r->in + r->in_pos;
        r->zs.avail_in = (uInt)(r->in_len - r->in_pos);
        r->zs.next_out = r->buf + r->len;
        r->zs.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
        uInt out_before = r->zs.avail_out, in_before = r->zs.avail_in;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        size_t produced = out_before - r->zs.avail_out;
        r->in_pos += in_before - r->zs.avail_in;
        r->len += produced;
        r->st.bytes_out += produced;
        if (ret == Z_STREAM_END) {
            r->in_member = false;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            uint64_t start = r->n_ms ? r->ms[r->n_ms - 1].off : 0;
            warnf(r, &r->st.gzip_errors, "corrupt gzip member at offset %llu (%s); skipping to the next member",
                  (unsigned long long)start, r->zs.msg ? r->zs.msg : "inflate error");
            r->in_member = false;
            /* resume scanning just after the damaged member's start if still buffered */
            if (start >= r->in_off && start + 1 <= r->in_off + r->in_len) r->in_pos = (size_t)(start - r->in_off) + 1;
        }
        if (produced) return produced;
    }
}

/* Makes at least need bytes available at buf[pos] unless the stream ends; returns the
 * number available. need must not exceed cap_limit. */
static size_t ensure_avail(jc_warc_reader *r, size_t need)
{
    while (r->len - r->pos < need && !r->stream_eof && !r->io_failed) {
        if (r->pos > 0 && (r->cap - r->pos < need || r->cap - r->len < (64u << 10))) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->buf_abs += r->pos;
            r->len -= r->pos;
            r->pos = 0;
            prune_members(r);
        }
        if (r->cap - r->pos < need || r->cap - r->len < (16u << 10)) {
            size_t nc = r->cap * 2;
            if (nc < need + (64u << 10)) nc = need + (64u << 10);
            if (nc > r->cap_limit) nc = r->cap_limit;
            if (nc > r->cap) {
                uint8_t *nb = realloc(r->buf, nc);
                if (!nb) {
                    r->io_failed = true;
                    jc_err(&r->io_err, JACLIP_ERR_NOMEM, "%s: out of memory for a %zu-byte record buffer", r->name, nc);
                    break;
                }
                r->buf = nb;
                r->cap = nc;
            }
        }
        if (produce(r) == 0 && r->cap == r->len) break;
    }
    return r->len - r->pos;
}

/* Discards n bytes from the stream (used for records over max_record). */
static void skip_bytes(jc_warc_reader *r, uint64_t n)
{
    while (n > 0) {
        size_t avail = r->len - r->pos;
        if (avail == 0 && (avail = ensure_avail(r, 1)) == 0) return;
        size_t d = avail < n ? avail : (size_t)n;
        r->pos += d;
        n -= d;
    }
}

static bool is_record_start(const uint8_t *s, size_t n) { return n >= 7 && memcmp(s, "WARC/1.", 7) == 0; }

/* Skips to the next line that begins with "WARC/1." (or to the end), counting the skipped
 * bytes. The current position is never a valid start (that is why we are here). */
static void resync(jc_warc_reader *r)
{
    if (ensure_avail(r, 1) == 0) return;
    r->pos++;
    r->st.garbage_bytes++;
    for (;;) {
        size_t avail = ensure_avail(r, 8);
        if (avail == 0) return;
        const uint8_t *s = r->buf + r->pos;
        const uint8_t *nl = memchr(s, '\n', avail);
        size_t i = nl ? (size_t)(nl - s) + 1 : avail;
        r->st.garbage_bytes += i;
        r->pos += i;
        if (!nl) continue;
        avail = ensure_avail(r, 8);
        if (is_record_start(r->buf + r->pos, avail)) return;
    }
}

/* ---- header parsing --------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Splits the header copy into fields. Returns false when the copy cannot be made. */
static bool parse_header(jc_warc_reader *r, const uint8_t *h, size_t n, jc_warc_record *rec)
{
    if (n + 1 > r->hdr_cap) {
        size_t nc = n + 1 > 4096 ? n + 1 : 4096;
        char *nh = realloc(r->hdr, nc);
        if (!nh) return false;
        r->hdr = nh;
        r->hdr_cap = nc;
    }
    memcpy(r->hdr, h, n);
    r->hdr[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (r->hdr[i] == 0) r->hdr[i] = ' '; /* NULs inside a header would cut values short */
    rec->n_fields = 0;
    rec->type = rec->target_uri = rec->content_type = "";
    char *line = r->hdr, *prev_end = NULL;
    bool first = true;
    while (*line) {
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : line + strlen(line);
        if (nl) *nl = 0;
        if (first) {
            rec->version = trim(line);
            first = false;
        } else if ((line[0] == ' ' || line[0] == '\t') && prev_end) {
            /* folded continuation line: join it to the previous value */
            for (char *p = prev_end; p < line; p++)
                if (*p == 0 || *p == '\r') *p = ' ';
            trim(line);
            prev_end = line + strlen(line);
        } else {
            char *colon = strchr(line, ':');
            if (colon && rec->n_fields < JC_WARC_MAX_FIELDS) {
                *colon = 0;
                jc_warc_field *f = &rec->fields[rec->n_fields++];
                f->name = trim(line);
                f->value = trim(colon + 1);
                prev_end = (char *)f->value + strlen(f->value);
            } else prev_end = NULL;
        }
        line = next;
    }
    /* trims above may have left values that a later fold extended; re-trim the ends */
    for (int i = 0; i < rec->n_fields; i++) rec->fields[i].value = trim((char *)rec->fields[i].value);
    const char *v;
    if ((v = jc_warc_field_get(rec, "WARC-Type"))) rec->type = v;
    if ((v = jc_warc_field_get(rec, "WARC-Target-URI"))) {
        /* WARC/1.0 writers sometimes wrap the URI in <> */
        if (v[0] == '<') {
            char *e = strrchr((char *)v, '>');
            if (e) *e = 0;
            v++;
        }
        rec->target_uri = v;
    }
    if ((v = jc_warc_field_get(rec, "Content-Type"))) rec->content_type = v;
    return true;
}

const char *jc_warc_field_get(const jc_warc_record *rec, const char *name)
{
    for (int i = 0; i < rec->n_fields; i++)
        if (strcasecmp(rec->fields[i].name, name) == 0) return rec->fields[i].value;
    return NULL;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* ---- records ---------------------------------------------------------------------------- */

jaclip_status jc_warc_next(jc_warc_reader *r, jc_warc_record *rec, bool *eof, jaclip_err *err)
{
    *eof = false;
    for (;;) {
        if (r->io_failed) {
            if (err) *err = r->io_err;
            return r->io_err.code;
        }
        /* whitespace between records (the CRLF CRLF terminator, stray newlines, NUL padding) */
        for (;;) {
            size_t avail = ensure_avail(r, 1);
            if (avail == 0) break;
            uint8_t c = r->buf[r->pos];
            if (c != '\r' && c != '\n' && c != 0 && c != ' ' && c != '\t') break;
            r->pos++;
        }
        if (r->io_failed) continue;
        size_t avail = ensure_avail(r, 8);
        if (avail == 0) {
            *eof = true;
            return JACLIP_OK;
        }
        uint64_t rec_abs = r->buf_abs + r->pos;
        uint64_t rec_off = offset_of(r, rec_abs);
        if (!is_record_start(r->buf + r->pos, avail)) {
            uint64_t g0 = r->st.garbage_bytes;
            resync(r);
            warnf(r, &r->st.bad_header, "offset %llu: no WARC record header; skipped %llu bytes to the next record",
                  (unsigned long long)rec_off, (unsigned long long)(r->st.garbage_bytes - g0));
            continue;
        }
        /* find the blank line that ends the header */
        size_t hlen = 0, scanned = 0;
        for (;;) {
            const uint8_t *s = r->buf + r->pos;
            for (size_t i = scanned; i + 1 < avail; i++) {
                if (s[i] != '\n') continue;
                if (s[i + 1] == '\n') {
                    hlen = i + 2;
                    break;
                }
                if (s[i + 1] == '\r') {
                    if (i + 2 >= avail) break;
                    if (s[i + 2] == '\n') {
                        hlen = i + 3;
                        break;
                    }
                }
            }
            if (hlen) break;
            scanned = avail > 2 ? avail - 2 : 0;
            if (avail >= MAX_HEADER) break;
            size_t before = avail;
            avail = ensure_avail(r, avail + 4096 > MAX_HEADER ? MAX_HEADER : avail + 4096);
            if (avail == before) break; /* stream ended */
        }
        if (!hlen) {
            if (avail >= MAX_HEADER) {
                warnf(r, &r->st.bad_header, "offset %llu: record header longer than %u bytes; skipped",
                      (unsigned long long)rec_off, MAX_HEADER);
                resync(r);
            } else {
                warnf(r, &r->st.truncated, "offset %llu: file ends inside a record header", (unsigned long long)rec_off);
                r->st.garbage_bytes += avail;
                r->pos = r->len;
            }
            continue;
        }
        if (!parse_header(r, r->buf + r->pos, hlen, rec)) {
            r->io_failed = true;
            jc_err(&r->io_err, JACLIP_ERR_NOMEM, "%s: out of memory", r->name);
            continue;
        }
        uint64_t cl;
        if (!parse_u64(jc_warc_field_get(rec, "Content-Length"), &cl)) {
            warnf(r, &r->st.bad_header, "offset %llu: record header without a valid Content-Length; skipped",
                  (unsigned long long)rec_off);
            r->pos += hlen;
            resync(r);
            continue;
        }
        if (cl > r->p.max_record) {
            warnf(r, &r->st.oversize, "offset %llu: %s record of %llu bytes exceeds the %zu-byte limit; skipped",
                  (unsigned long long)rec_off, rec->type, (unsigned long long)cl, r->p.max_record);
            r->pos += hlen;
            skip_bytes(r, cl);
            continue;
        }
        size_t want = hlen + (size_t)cl + 12;
        avail = ensure_avail(r, want);
        /* ensure_avail may move the buffer: headers must be re-pointed into the copy only (they
         * are), the block pointer is taken now */
        const uint8_t *block = r->buf + r->pos + hlen;
        size_t blen = avail - hlen < cl ? avail - hlen : (size_t)cl;
        bool truncated = blen < cl, overrun = false;
        size_t next_pos; /* relative to pos */
        bool terminator_ok = false;
        if (!truncated) {
            const uint8_t *t = block + blen;
            size_t tn = avail - hlen - blen, k = 0;
            while (k < tn && k < 4 && (t[k] == '\r' || t[k] == '\n')) k++;
            terminator_ok = (k == tn && r->stream_eof) || is_record_start(t + k, tn - k) ||
                            (k == 4 && memcmp(t, "\r\n\r\n", 4) == 0);
        }
        if (!terminator_ok) {
            /* the length is wrong or the record was clipped: does another record start inside? */
            for (size_t i = 0; i + 8 <= blen; i++) {
                const uint8_t *nl = memchr(block + i, '\n', blen - i);
                if (!nl) break;
                i = (size_t)(nl - block);
                if (i + 8 <= blen && is_record_start(nl + 1, blen - i - 1)) {
                    blen = i + 1;
                    overrun = true;
                    break;
                }
            }
        }
        if (overrun) {
            warnf(r, &r->st.truncated,
                  "offset %llu: %s record declares Content-Length %llu but the next record starts after %zu bytes; "
                  "kept as truncated",
                  (unsigned long long)rec_off, rec->type, (unsigned long long)cl, blen);
            truncated = true;
            next_pos = hlen + blen;
        } else if (truncated) {
            warnf(r, &r->st.truncated, "offset %llu: %s record clipped: %zu of %llu block bytes before the end of the file",
                  (unsigned long long)rec_off, rec->type, blen, (unsigned long long)cl);
            next_pos = hlen + blen;
        } else {
            if (!terminator_ok)
                warnf(r, &r->st.bad_terminator, "offset %llu: %s record block is not followed by CRLF CRLF",
                      (unsigned long long)rec_off, rec->type);
            next_pos = hlen + blen;
        }
        rec->block = block;
        rec->block_len = blen;
        rec->content_length = cl;
        rec->offset = rec_off;
        rec->truncated = truncated;
        r->pos += next_pos;
        r->st.records++;
        return JACLIP_OK;
    }
}

/* ---- open/close ------------------------------------------------------------------------- */

static jaclip_status reader_init(jc_warc_reader *r, const char *name, const jc_warc_params *p, jaclip_err *err)
{
    r->p = p ? *p : jc_warc_default_params();
    if (r->p.max_record == 0) r->p.max_record = (size_t)64 << 20;
    if (r->p.max_warnings <= 0) r->p.max_warnings = 20;
    r->cap_limit = r->p.max_record + MAX_HEADER + SLACK + (64u << 10);
    r->name = jc_strdup(name);
    r->in = malloc(IN_CHUNK);
    r->cap = 1u << 20;
    r->buf = malloc(r->cap);
    if (!r->name || !r->in || !r->buf) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", name);
    in_ensure(r, 2);
    if (r->io_failed) {
        if (err) *err = r->io_err;
        return r->io_err.code;
    }
    r->gzip = r->in_len >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
    if (r->gzip) {
        if (inflateInit2(&r->zs, 15 + 16) != Z_OK) return jc_err(err, JACLIP_ERR_NOMEM, "%s: zlib init failed", name);
        r->z_init = true;
    }
    return JACLIP_OK;
}

jaclip_status jc_warc_open(const char *path, const jc_warc_params *p, jc_warc_reader **out, jaclip_err *err)
{
    *out = NULL;
    jc_warc_reader *r = calloc(1, sizeof *r);
    if (!r) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        free(r);
        return st;
    }
    jaclip_status st = reader_init(r, path, p, err);
    if (st) {
        jc_warc_close(r);
        return st;
    }
    *out = r;
    return JACLIP_OK;
}

jaclip_status jc_warc_open_mem(const void *data, size_t size, const char *name, const jc_warc_params *p,
                               jc_warc_reader **out, jaclip_err *err)
{
    *out = NULL;
    jc_warc_reader *r = calloc(1, sizeof *r);
    if (!r) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    static const uint8_t empty[1];
    r->fd = -1;
    r->mem = data ? data : empty;
    r->mem_size = size;
    jaclip_status st = reader_init(r, name, p, err);
    if (st) {
        jc_warc_close(r);
        return st;
    }
    *out = r;
    return JACLIP_OK;
}

const jc_warc_stats *jc_warc_get_stats(const jc_warc_reader *r) { return &r->st; }

void jc_warc_close(jc_warc_reader *r)
{
    if (!r) return;
    if (r->z_init) inflateEnd(&r->zs);
    if (r->fd >= 0) close(r->fd);
    free(r->name);
    free(r->in);
    free(r->buf);
    free(r->ms);
    free(r->hdr);
    free(r);
}

/* ---- HTTP ------------------------------------------------------------------------------- */

bool jc_http_split(const uint8_t *block, size_t len, int *status, const uint8_t **headers, size_t *headers_len,
                   const uint8_t **body, size_t *body_len)
{
    *status = 0;
    size_t hend = 0, bstart = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (block[i] != '\n') continue;
        if (block[i + 1] == '\n') {
            hend = i + 1;
            bstart = i + 2;
            break;
        }
        if (block[i + 1] == '\r' && i + 2 < len && block[i + 2] == '\n') {
            hend = i + 1;
            bstart = i + 3;
            break;
        }
    }
    if (!bstart) return false;
    if (len > 9 && memcmp(block, "HTTP/", 5) == 0) {
        const uint8_t *sp = memchr(block, ' ', hend);
        if (sp && sp + 4 <= block + hend) {
            int s = 0, k = 1;
            for (; k <= 3 && sp[k] >= '0' && sp[k] <= '9'; k++) s = s * 10 + (sp[k] - '0');
            if (k == 4) *status = s;
        }
    }
    *headers = block;
    *headers_len = hend;
    *body = block + bstart;
    *body_len = len - bstart;
    return true;
}

bool jc_http_header(const uint8_t *headers, size_t len, const char *name, char *out, size_t out_size)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < len) {
        const uint8_t *e = memchr(headers + i, '\n', len - i);
        size_t end = e ? (size_t)(e - headers) : len;
        if (end - i > nl && headers[i + nl] == ':' && strncasecmp((const char *)headers + i, name, nl) == 0) {
            size_t a = i + nl + 1, b = end;
            while (a < b && (headers[a] == ' ' || headers[a] == '\t')) a++;
            while (b > a && (headers[b - 1] == '\r' || headers[b - 1] == ' ' || headers[b - 1] == '\t')) b--;
            size_t n = b - a < out_size - 1 ? b - a : out_size - 1;
            memcpy(out, headers + a, n);
            out[n] = 0;
            return true;
        }
        i = end + 1;
    }
    return false;
}
