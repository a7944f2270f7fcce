/*
 * warc.h — a streaming reader for WARC files (WARC/1.0 and 1.1), plain or gzip-compressed
 * (.warc.gz, .warc.wat.gz, .warc.wet.gz: multi-member gzip, normally one member per record,
 * but records split across members or several records in one member are read the same way,
 * because the reader frames records on the decompressed stream by Content-Length).
 *
 * Robustness is the point: a crawl file of a few GB must be read to the end even when one
 * record is damaged. A malformed record (header without Content-Length, a Content-Length that
 * overruns the next record, a missing terminator, a truncated or corrupt gzip member) is
 * counted and reported with jc_warn (file and offset), and the reader resynchronises on the
 * next line that starts with "WARC/1." so that the records after it are not lost.
 *
 * Memory is bounded: one input buffer (256 KiB) and one record buffer that grows to the
 * largest record read, capped by params.max_record; larger records are skipped by streaming
 * over them (counted as "oversize").
 */
#ifndef JACLIP_IO_WARC_H
#define JACLIP_IO_WARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jaclip.h"

#define JC_WARC_MAX_FIELDS 64

typedef struct jc_warc_field {
    const char *name, *value; /* NUL-terminated, valid until the next jc_warc_next */
} jc_warc_field;

typedef struct jc_warc_record {
    const char *version;      /* "WARC/1.0", "WARC/1.1" */
    const char *type;         /* WARC-Type value, "" if absent */
    const char *target_uri;   /* WARC-Target-URI, "" if absent */
    const char *content_type; /* Content-Type, "" if absent */
    jc_warc_field fields[JC_WARC_MAX_FIELDS];
    int n_fields;
    const uint8_t *block;     /* the record block (valid until the next jc_warc_next) */
    size_t block_len;
    uint64_t content_length;  /* as declared in the header */
    uint64_t offset;          /* byte offset in the file where the record starts: for gzip files
                                 the offset of the gzip member holding its first byte (what
                                 Common Crawl's indexes store), for plain files the byte itself */
    bool truncated;           /* block is shorter than Content-Length (clipped/overrun record) */
} jc_warc_record;

typedef struct jc_warc_params {
    size_t max_record;  /* records with a larger block are skipped; default 64 MiB */
    bool quiet;         /* no jc_warn messages (counters still count) */
    int max_warnings;   /* stop printing after this many warnings per file (default 20) */
} jc_warc_params;

typedef struct jc_warc_stats {
    uint64_t records;          /* records returned */
    uint64_t warnings;         /* problems reported (sum of the counters below) */
    uint64_t truncated;        /* records whose block ended early (returned with truncated) */
    uint64_t bad_header;       /* unparseable headers / missing Content-Length (skipped) */
    uint64_t bad_terminator;   /* block not followed by CRLF CRLF (returned, reader resyncs) */
    uint64_t oversize;         /* records over max_record (skipped) */
    uint64_t gzip_errors;      /* corrupt or truncated gzip members */
    uint64_t garbage_bytes;    /* bytes skipped while resynchronising */
    uint64_t bytes_in;         /* file bytes consumed */
    uint64_t bytes_out;        /* decompressed bytes produced */
} jc_warc_stats;

typedef struct jc_warc_reader jc_warc_reader;

jc_warc_params jc_warc_default_params(void);

/* Opens a file; gzip is detected by its magic bytes, not by the name. */
jaclip_status jc_warc_open(const char *path, const jc_warc_params *p, jc_warc_reader **out, jaclip_err *err);
/* Reads from a caller-owned buffer (kept alive until close); name is used in messages. */
jaclip_status jc_warc_open_mem(const void *data, size_t size, const char *name, const jc_warc_params *p,
                               jc_warc_reader **out, jaclip_err *err);
/* Next record: JACLIP_OK with *rec filled, or JACLIP_OK with *eof = true at the end.
 * Damaged input never fails this call (it is counted and skipped); only I/O errors and
 * out-of-memory do. */
jaclip_status jc_warc_next(jc_warc_reader *r, jc_warc_record *rec, bool *eof, jaclip_err *err);
const jc_warc_stats *jc_warc_get_stats(const jc_warc_reader *r);
void jc_warc_close(jc_warc_reader *r);

/* Case-insensitive header lookup; NULL when absent. */
const char *jc_warc_field_get(const jc_warc_record *rec, const char *name);

/* Splits an HTTP message (response block of an application/http record) into its status
 * line + headers and its body: *body points into block. Returns false if no header end is
 * found. The status code is parsed into *status (0 when unknown). */
bool jc_http_split(const uint8_t *block, size_t len, int *status, const uint8_t **headers, size_t *headers_len,
                   const uint8_t **body, size_t *body_len);
/* Case-insensitive HTTP header lookup into a caller buffer; false when absent. */
bool jc_http_header(const uint8_t *headers, size_t len, const char *name, char *out, size_t out_size);

#endif
