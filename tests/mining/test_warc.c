/*
 * test_warc.c — the streaming WARC reader on every file in ../shared/commoncrawl and on
 * synthetic damage built in memory.
 *
 * Expected record counts are independent of our reader: they are the number of lines that
 * start with "WARC/1" in the decompressed file (`zcat F | grep -ac '^WARC/1'`, checked by
 * hand; none of these files has such a line inside a block). The member offsets of
 * whirlwind.warc.gz come from Python's zlib walking the members one by one.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/base.h"
#include "io/warc.h"
#include "testutil.h"

/* REQUIRE for void helpers: record the failure and leave the helper. */
#define NEED(cond, ...)                                                                            \
    do {                                                                                           \
        bool need_ok_ = (cond);                                                                    \
        CHECK(need_ok_, __VA_ARGS__);                                                              \
        if (!need_ok_) return;                                                                     \
    } while (0)

typedef struct expect {
    const char *file;
    int records;
    int damaged;           /* 1 if warnings are expected */
    const char *last_type; /* type of the last record: proves the reader got to the end */
} expect;

static const expect files[] = {
    {"ia-web-commons_IAH-urls-wget.warc.gz", 36, 0, NULL},
    {"jwarc_cc.warc.gz", 1, 0, "response"},
    {"node-warc_books.toscrape.warc", 60, 0, NULL},
    {"node-warc_parseMe.warc.gz", 30, 0, NULL},
    {"resiliparse_clipped.warc.gz", 1, 1, "response"},
    {"resiliparse_warcfile.warc.gz", 50, 0, "request"},
    {"warcio_example-bad-non-chunked.warc.gz", 6, 0, NULL},
    {"warcio_example-iana.org-chunked.warc", 3, 0, NULL},
    {"warcio_example-trunc.warc", 4, 1, "request"},
    {"warcio_example-wrong-chunks.warc.gz", 2, 1, "request"},
    {"warcio_example.warc.gz", 6, 0, NULL},
    {"whirlwind.warc.gz", 4, 0, "metadata"},
    {"whirlwind.warc.wat.gz", 2, 0, "metadata"},
    {"whirlwind.warc.wet.gz", 2, 0, "conversion"},
};

static int read_all(jc_warc_reader *r, char types[][32], uint64_t *offsets, int max, jc_warc_record *last)
{
    jc_warc_record rec;
    bool eof = false;
    jaclip_err err;
    int n = 0;
    while (jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && !eof) {
        if (n < max) {
            if (types) snprintf(types[n], 32, "%s", rec.type);
            if (offsets) offsets[n] = rec.offset;
        }
        if (last) *last = rec;
        n++;
    }
    CHECK(eof, "reader stopped before the end: %s", err.msg);
    return n;
}

static void test_shared_files(void)
{
    jc_warc_params p = jc_warc_default_params();
    p.quiet = true;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/commoncrawl/%s", test_shared(), files[i].file);
        jc_warc_reader *r;
        jaclip_err err;
        jaclip_status st = jc_warc_open(path, &p, &r, &err);
        CHECK(st == JACLIP_OK, "%s: %s", path, err.msg);
        if (st) continue;
        char types[64][32];
        jc_warc_record last;
        int n = read_all(r, types, NULL, 64, &last);
        const jc_warc_stats *s = jc_warc_get_stats(r);
        CHECK(n == files[i].records, "%s: %d records, expected %d", files[i].file, n, files[i].records);
        CHECK((s->warnings > 0) == (files[i].damaged != 0), "%s: %llu warnings", files[i].file,
              (unsigned long long)s->warnings);
        CHECK(s->bytes_in > 0, "%s: nothing read", files[i].file);
        if (files[i].last_type && n > 0)
            CHECK(strcmp(types[n - 1 < 63 ? n - 1 : 63], files[i].last_type) == 0 || n > 64, "%s: last record is %s",
                  files[i].file, types[n - 1]);
        jc_warc_close(r);
    }
}

static void test_whirlwind_details(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/commoncrawl/whirlwind.warc.gz", test_shared());
    jc_warc_reader *r;
    jaclip_err err;
    NEED(jc_warc_open(path, NULL, &r, &err) == JACLIP_OK, "%s", err.msg);
    jc_warc_record rec;
    bool eof;
    const char *want_types[] = {"warcinfo", "request", "response", "metadata"};
    const uint64_t want_off[] = {0, 516, 1023, 18374};
    for (int i = 0; i < 4; i++) {
        NEED(jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && !eof, "record %d", i);
        CHECK(strcmp(rec.type, want_types[i]) == 0, "record %d type %s", i, rec.type);
        CHECK(rec.offset == want_off[i], "record %d offset %llu, expected %llu", i, (unsigned long long)rec.offset,
              (unsigned long long)want_off[i]);
        CHECK(!rec.truncated, "record %d truncated", i);
        CHECK(rec.block_len == rec.content_length, "record %d block %zu", i, rec.block_len);
        CHECK(strcmp(rec.version, "WARC/1.0") == 0, "version %s", rec.version);
        if (i == 2) {
            CHECK(strcmp(rec.target_uri, "https://an.wikipedia.org/wiki/Escopete") == 0, "uri %s", rec.target_uri);
            CHECK(rec.content_length == 74581, "cl %llu", (unsigned long long)rec.content_length);
            int status;
            const uint8_t *h, *b;
            size_t hl, bl;
            CHECK(jc_http_split(rec.block, rec.block_len, &status, &h, &hl, &b, &bl), "http split");
            CHECK(status == 200, "status %d", status);
            char ct[128];
            CHECK(jc_http_header(h, hl, "content-type", ct, sizeof ct) && strstr(ct, "text/html"), "content-type");
        }
        if (i == 3) {
            const char *v = jc_warc_field_get(&rec, "warc-concurrent-to");
            CHECK(v && v[0] == '<', "WARC-Concurrent-To lookup is case-insensitive");
            CHECK(memmem(rec.block, rec.block_len, "languages-cld2", 14) != NULL, "metadata block content");
        }
    }
    CHECK(jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && eof, "end after 4 records");
    jc_warc_close(r);
}

/* ---- synthetic damage ---------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_gz(buf *b, const void *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    put(b, out, cap - z.avail_out);
    deflateEnd(&z);
    free(out);
}

static size_t make_record(char *out, size_t cap, const char *type, int idx, size_t body_len, long declared)
{
    char body[4096];
    for (size_t i = 0; i < body_len && i < sizeof body; i++) body[i] = (char)('a' + (i + (size_t)idx) % 26);
    int h = snprintf(out, cap,
                     "WARC/1.1\r\nWARC-Type: %s\r\nWARC-Target-URI: http://example.org/%d\r\nContent-Length: %ld\r\n\r\n",
                     type, idx, declared >= 0 ? declared : (long)body_len);
    memcpy(out + h, body, body_len);
    memcpy(out + h + body_len, "\r\n\r\n", 4);
    return (size_t)h + body_len + 4;
}

static int count_mem(const buf *b, jc_warc_stats *st, size_t max_record, int *idx_out)
{
    jc_warc_params p = jc_warc_default_params();
    p.quiet = true;
    if (max_record) p.max_record = max_record;
    jc_warc_reader *r;
    jaclip_err err;
    if (jc_warc_open_mem(b->d, b->n, "synthetic", &p, &r, &err)) return -1;
    jc_warc_record rec;
    bool eof;
    int n = 0;
    while (jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && !eof) {
        if (idx_out) idx_out[n] = atoi(strrchr(rec.target_uri, '/') + 1);
        n++;
    }
    *st = *jc_warc_get_stats(r);
    jc_warc_close(r);
    return n;
}

static void test_synthetic(void)
{
    char rec[8192];
    jc_warc_stats st;
    int idx[32];

    /* 1. corrupt deflate data in the 2nd of 5 members: members 1,3,4,5 survive */
    {
        buf b = {0};
        size_t starts[6];
        for (int i = 0; i < 5; i++) {
            starts[i] = b.n;
            put_gz(&b, rec, make_record(rec, sizeof rec, "response", i, 3000, -1));
        }
        starts[5] = b.n;
        for (size_t k = starts[1] + 20; k < starts[1] + 60; k++) b.d[k] ^= 0x5a;
        int n = count_mem(&b, &st, 0, idx);
        CHECK(n == 4, "corrupt member: %d records", n);
        CHECK(st.gzip_errors >= 1, "corrupt member counted");
        CHECK(n == 4 && idx[0] == 0 && idx[1] == 2 && idx[3] == 4, "records after the damage kept");
        free(b.d);
    }
    /* 2. a Content-Length that overruns the next record, garbage between records, a header
     *    without Content-Length: plain and in one gzip member */
    for (int gz = 0; gz < 2; gz++) {
        buf plain = {0};
        put(&plain, rec, make_record(rec, sizeof rec, "warcinfo", 0, 100, -1));
        put(&plain, rec, make_record(rec, sizeof rec, "response", 1, 100, 5000)); /* overruns 2 */
        put(&plain, rec, make_record(rec, sizeof rec, "request", 2, 50, -1));
        put(&plain, "GARBAGE\r\nmore garbage\n", 22);
        put(&plain, rec, make_record(rec, sizeof rec, "request", 3, 50, -1));
        put(&plain, "WARC/1.0\r\nWARC-Type: response\r\n\r\nxx\r\n\r\n", 39); /* no Content-Length */
        put(&plain, rec, make_record(rec, sizeof rec, "metadata", 4, 70, -1));
        buf b = {0};
        if (gz) put_gz(&b, plain.d, plain.n);
        else b = plain;
        int n = count_mem(&b, &st, 0, idx);
        CHECK(n == 5, "gz=%d: %d records (0..4 expected)", gz, n);
        CHECK(n == 5 && idx[1] == 1 && idx[2] == 2 && idx[3] == 3 && idx[4] == 4, "gz=%d: order", gz);
        CHECK(st.truncated == 1, "gz=%d: overrun record counted once (%llu)", gz, (unsigned long long)st.truncated);
        CHECK(st.bad_header >= 2, "gz=%d: garbage + missing Content-Length counted (%llu)", gz,
              (unsigned long long)st.bad_header);
        if (gz) free(b.d);
        free(plain.d);
    }
    /* 3. one record split across three gzip members at odd places; offsets are member starts */
    {
        buf b = {0};
        size_t n1 = make_record(rec, sizeof rec, "response", 0, 2000, -1);
        put_gz(&b, rec, 7);
        put_gz(&b, rec + 7, 1000);
        put_gz(&b, rec + 1007, n1 - 1007);
        size_t second = b.n;
        size_t n2 = make_record(rec, sizeof rec, "metadata", 1, 10, -1);
        put_gz(&b, rec, n2);
        jc_warc_reader *r;
        jaclip_err err;
        NEED(jc_warc_open_mem(b.d, b.n, "split", NULL, &r, &err) == JACLIP_OK, "%s", err.msg);
        jc_warc_record x;
        bool eof;
        CHECK(jc_warc_next(r, &x, &eof, &err) == JACLIP_OK && !eof && x.block_len == 2000 && x.offset == 0,
              "split record read whole");
        CHECK(jc_warc_next(r, &x, &eof, &err) == JACLIP_OK && !eof && x.offset == second,
              "second record offset %llu, expected %zu", (unsigned long long)x.offset, second);
        CHECK(jc_warc_get_stats(r)->warnings == 0, "no warnings for split members");
        jc_warc_close(r);
        free(b.d);
    }
    /* 4. a record over max_record is skipped by streaming; the next one is read */
    {
        buf b = {0};
        for (int i = 0; i < 3; i++) put_gz(&b, rec, make_record(rec, sizeof rec, "response", i, i == 1 ? 4000 : 100, -1));
        int n = count_mem(&b, &st, 1000, idx);
        CHECK(n == 2 && idx[1] == 2 && st.oversize == 1, "oversize skipped: n=%d", n);
        free(b.d);
    }
    /* 5. zero padding after the last member is not damage; garbage between members is */
    {
        buf b = {0};
        static const uint8_t zeros[600];
        put_gz(&b, rec, make_record(rec, sizeof rec, "response", 0, 100, -1));
        put(&b, "junk!", 5);
        put_gz(&b, rec, make_record(rec, sizeof rec, "response", 1, 100, -1));
        put(&b, zeros, sizeof zeros);
        int n = count_mem(&b, &st, 0, idx);
        CHECK(n == 2 && st.gzip_errors == 1 && st.warnings == 1, "junk counted once, trailing zeros not: n=%d gz=%llu",
              n, (unsigned long long)st.gzip_errors);
        free(b.d);
    }
    /* 6. truncated gzip at the end, and an empty file */
    {
        buf b = {0};
        for (int i = 0; i < 2; i++) put_gz(&b, rec, make_record(rec, sizeof rec, "response", i, 3000, -1));
        size_t cut = b.n - 30;
        b.n = cut;
        int n = count_mem(&b, &st, 0, idx);
        CHECK(n == 2 && st.gzip_errors == 1, "truncated member: %d records, %llu gzip errors", n,
              (unsigned long long)st.gzip_errors);
        b.n = 0;
        n = count_mem(&b, &st, 0, idx);
        CHECK(n == 0 && st.warnings == 0, "empty input");
        free(b.d);
    }
}

int main(void)
{
    test_shared_files();
    test_whirlwind_details();
    test_synthetic();
    return test_done();
}
