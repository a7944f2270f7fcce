/*
 * mining.h — the internal contract of the Common Crawl mining layer: turning WAT metadata
 * and WARC HTML responses into (image URL, alt text) pairs, deciding which alt texts are
 * Japanese, deduplicating across files and runs, and downloading the pairs into WebDataset
 * shards. The `jaclip mine` and `jaclip download` subcommands are thin clients of this.
 *
 * Files: text.c (UTF-8, whitespace, HTML entities), url.c (RFC 3986 resolution),
 * charset.c (charset detection and iconv to UTF-8), japanese.c (script-based language rule),
 * html_img.c (<img> extraction), wat.c (WAT Links), dedup.c (persistent URL set),
 * miner.c (the mining driver and JSONL writer), imgsniff.c (image type and size from the
 * first bytes), downloader.c (libcurl multi -> shards).
 */
#ifndef JACLIP_MINING_H
#define JACLIP_MINING_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "jaclip.h"

/* ---- text.c ----------------------------------------------------------------------------- */

/* Decodes one UTF-8 code point at s (n bytes available); returns bytes used (>= 1) and sets
 * *cp, or U+FFFD for an invalid/overlong/truncated sequence (consuming one byte). */
int jc_mn_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Encodes cp into out (4 bytes room); returns the length. */
int jc_mn_utf8_encode(uint32_t cp, char *out);
/* Number of code points in a valid UTF-8 string. */
size_t jc_mn_utf8_count(const char *s);
/* Decodes HTML character references (&amp; &#12354; &#x3042; and the common named ones)
 * in place; returns the new length. Unknown references are left as written. */
size_t jc_html_unescape(char *s, size_t len);
/* In place: drops invalid UTF-8 bytes, turns control characters and every run of white space
 * (ASCII, NBSP, U+3000 ideographic space, zero-width and line separators) into one ASCII
 * space, trims both ends. Returns the new length. */
size_t jc_text_normalize(char *s, size_t len);

/* ---- url.c ------------------------------------------------------------------------------ */

/* Resolves ref against the absolute base URL (RFC 3986 §5.2, with dot-segment removal);
 * returns a malloc'd absolute URL or NULL when ref cannot be resolved (no base, bad scheme).
 * Leading/trailing white space of ref is ignored and inner tabs/newlines dropped, as browsers
 * do; spaces are percent-encoded. */
char *jc_url_resolve(const char *base, const char *ref);
/* True for http:// and https:// URLs with a non-empty host. */
bool jc_url_is_http(const char *url);

/* ---- charset.c -------------------------------------------------------------------------- */

/* Finds the charset of an HTML document: the HTTP Content-Type charset (may be NULL), else a
 * BOM, else <meta charset> / <meta http-equiv=content-type> in the first 16 KiB, else "UTF-8"
 * when the bytes are valid UTF-8, else "WINDOWS-1252" (the HTML5 default). Writes a
 * canonical iconv name (e.g. "CP932" for Shift_JIS, "EUC-JP", "GB18030"). */
void jc_html_charset(const uint8_t *html, size_t len, const char *http_charset, char *out, size_t out_size);
/* Converts to UTF-8 (malloc'd, NUL-terminated); undecodable bytes become U+FFFD. Unknown
 * charsets are treated as UTF-8 with replacement. */
char *jc_to_utf8(const uint8_t *in, size_t len, const char *charset, size_t *out_len);
/* True when the charset name belongs to a Chinese or Korean encoding (gb*, big5, euc-kr...). */
bool jc_charset_is_chinese_or_korean(const char *charset);
bool jc_charset_is_japanese(const char *charset);

/* ---- japanese.c ------------------------------------------------------------------------- */

/* What we know about the page's language: declared (<html lang>, Content-Language),
 * implied by its charset, or inferred from the kana share of its CJK text. */
typedef enum jc_page_lang {
    JC_LANG_UNKNOWN = 0,
    JC_LANG_JA,      /* Japanese */
    JC_LANG_ZH_KO,   /* Chinese or Korean */
    JC_LANG_OTHER    /* declared as some other language */
} jc_page_lang;

typedef struct jc_ja_params {
    double min_ratio;       /* (kana+kanji)/letters needed when kana is present; 0.3 */
    int max_kanji_only;     /* kanji-only captions longer than this are rejected; 12 (0: never accept) */
    double page_kana_ratio; /* page is Japanese when kana/(kana+kanji) of its text >= this; 0.1 */
    double page_zh_ratio;   /* page is Chinese when it is below this with >= 30 kanji; 0.02 */
} jc_ja_params;

jc_ja_params jc_ja_default_params(void);

typedef struct jc_script_counts {
    uint64_t kana, kanji, hangul, letters; /* letters: every non-space, non-punctuation char */
} jc_script_counts;

void jc_script_count(const char *utf8, size_t len, jc_script_counts *c);
/* Page language from a declared tag ("ja", "zh-CN", may be NULL), a charset (may be NULL)
 * and script counts of the page text (may be NULL), in that order of trust. */
jc_page_lang jc_page_language(const char *declared, const char *charset, const jc_script_counts *text,
                              const jc_ja_params *p);
/* The rule (documented in japanese.c and README "jaclip mine"): Japanese when the caption has
 * kana and (kana+kanji)/letters >= min_ratio and hangul does not dominate; or when it has
 * kanji but no kana, at most max_kanji_only letters, every kanji in JIS X 0208 (which
 * excludes the simplified-only forms Chinese uses, such as 页, and some traditional ones, such as 說),
 * and the page is not Chinese/Korean. *why gets a short reason when rejected. */
bool jc_is_japanese(const char *utf8, jc_page_lang page, const jc_ja_params *p, const char **why);
/* True when the code point is a CJK ideograph encodable in JIS X 0208. */
bool jc_kanji_in_jis0208(uint32_t cp);

/* ---- html_img.c ------------------------------------------------------------------------- */

typedef struct jc_html_info {
    char *title;   /* <title> text, decoded and normalised; malloc'd or NULL */
    char *base;    /* <base href> as written (decoded); malloc'd or NULL */
    char *lang;    /* <html lang> or <meta http-equiv=content-language>; malloc'd or NULL */
    jc_script_counts text; /* script counts over the document's text */
} jc_html_info;

typedef struct jc_html_img {
    const char *src, *data_src, *srcset, *alt, *title; /* decoded attribute values or NULL */
    uint64_t pos; /* byte position of the tag in the UTF-8 document */
} jc_html_img;

/* Calls cb for every <img> in a UTF-8 document (comments, <script> and <style> skipped),
 * in document order, and fills *info. Returns the number of <img> tags. */
typedef void (*jc_img_fn)(void *ctx, const jc_html_img *img);
int jc_html_images(const char *html, size_t len, jc_html_info *info, jc_img_fn cb, void *ctx);
void jc_html_info_free(jc_html_info *info);
/* The image URL an <img> stands for, before resolution: data-src (lazy loading) if set, else
 * src unless it is a data: URI or empty, else the largest srcset candidate. NULL if none.
 * Returns a pointer into img's strings or into buf (for srcset). */
const char *jc_img_pick_url(const jc_html_img *img, char *buf, size_t buf_size);

#endif

/* ---- dedup.c ---------------------------------------------------------------------------- */

/* A set of 64-bit key hashes, persistent across runs in an append-only file:
 * "JCDEDUP1" followed by little-endian uint64 hashes. Opening loads every hash; new keys are
 * remembered and appended by jc_dedup_commit (fsync'd), so a run that dies before committing
 * adds nothing, and a half-written tail (size not a multiple of 8) is ignored with a warning.
 * Collisions: with n keys the chance of any false duplicate is about n^2 / 2^65
 * (1e9 keys: 3%, one lost pair). */
typedef struct jc_dedup jc_dedup;

/* path may be NULL (in-memory only); a missing file is created on commit. */
jaclip_status jc_dedup_open(const char *path, jc_dedup **out, jaclip_err *err);
/* Adds the key (a, optionally joined with b); true when it was not in the set before. */
bool jc_dedup_add(jc_dedup *d, const char *a, const char *b);
uint64_t jc_dedup_size(const jc_dedup *d);
uint64_t jc_dedup_loaded(const jc_dedup *d);
jaclip_status jc_dedup_commit(jc_dedup *d, jaclip_err *err);
void jc_dedup_free(jc_dedup *d);

/* ---- wat.c ------------------------------------------------------------------------------ */

typedef struct jc_wat_page {
    const char *page_url; /* Envelope.WARC-Header-Metadata.WARC-Target-URI */
    const char *base;     /* HTML-Metadata.Head.Base or NULL */
    const char *title;    /* HTML-Metadata.Head.Title or NULL */
    jc_page_lang lang;
} jc_wat_page;

/* For one WAT metadata record (its JSON block): calls cb(ctx, page, src, alt) for every
 * Links entry with path "IMG@/src" (alt NULL when the attribute was absent). Returns the
 * number of such entries, 0 for records without HTML links, -1 for JSON that does not parse.
 * fallback_uri is used when the JSON lacks WARC-Target-URI. */
typedef void (*jc_wat_fn)(void *ctx, const jc_wat_page *page, const char *src, const char *alt);
int jc_wat_images(const char *json, size_t len, const char *fallback_uri, const jc_ja_params *ja, jc_wat_fn cb,
                  void *ctx);

/* ---- miner.c ---------------------------------------------------------------------------- */

typedef struct jc_mine_params {
    bool from_html;        /* read WARC responses instead of WAT metadata */
    bool lang_any;         /* keep every language (default: Japanese only) */
    bool allow_empty_alt;  /* keep images without alt, caption "" (cc2dataset's image_only mode;
                              such rows are never Japanese, so use it with lang_any) */
    jc_ja_params ja;
    int min_chars, max_chars; /* caption length limits in code points: 2, 256 */
    const char *dedup_db;  /* persistent dedup set, or NULL */
    bool dedup_url_alt;    /* key on URL + caption instead of URL */
    size_t max_html;       /* largest HTML body parsed (after decompression): 8 MiB */
    bool quiet;            /* no progress line and no per-file warnings */
    jaclip_pool *pool;     /* files are mined in parallel on it (NULL: one thread); the output is
                              the same for any number of threads */
} jc_mine_params;

jc_mine_params jc_mine_default_params(void);

typedef struct jc_mine_stats {
    uint64_t files, records, damaged;  /* damaged: warnings from the WARC reader */
    uint64_t pages;                    /* HTML responses / WAT records with links */
    uint64_t images;                   /* <img> tags / IMG@/src links */
    uint64_t no_alt, bad_url;          /* dropped: empty alt, not http(s) */
    uint64_t too_short, too_long, filename; /* dropped by the caption rules */
    uint64_t pairs;                    /* image + usable caption */
    uint64_t japanese;                 /* of which Japanese */
    uint64_t not_japanese;             /* dropped by --lang ja */
    uint64_t duplicates;               /* dropped by the dedup set */
    uint64_t written;                  /* rows in the output */
    uint64_t bytes_in;
} jc_mine_stats;

/* Mines files into out_path (JSONL, gzip when it ends in .gz), written atomically, then
 * commits the dedup set. Files that cannot be opened are errors; damaged records are not. */
jaclip_status jc_mine_files(const char *const *files, int n_files, const char *out_path, const jc_mine_params *p,
                            jc_mine_stats *st, jaclip_err *err);

/* One output row, as handed to a jc_pair_fn. */
typedef struct jc_pair {
    const char *url, *caption, *page_url, *title, *source;
    uint64_t offset;
    bool japanese;
} jc_pair;
typedef void (*jc_pair_fn)(void *ctx, const jc_pair *pair);

/* The extraction step on one WARC record (a WAT metadata record, or with from_html a
 * response), with the caption rules and the language rule applied but no dedup: calls cb
 * for every pair that passes. Used by jc_mine_files, the tests and the fuzz target. */
void jc_mine_record(const jc_mine_params *p, const char *source, const void *rec /* jc_warc_record */, jc_pair_fn cb,
                    void *ctx, jc_mine_stats *st);

/* ---- sha256.c --------------------------------------------------------------------------- */

/* SHA-256 of a buffer as 64 lower-case hex digits + NUL (img2dataset's "sha256" column). */
void jc_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- imgsniff.c ------------------------------------------------------------------------- */

typedef struct jc_img_sniff {
    const char *ext;  /* "jpg", "png", "webp", "gif", or NULL when not an image */
    const char *mime; /* "image/jpeg", ... */
    int width, height; /* from the header; 0 when not found */
    bool complete;    /* the stream ends where the format says it ends (JPEG EOI, PNG IEND,
                         GIF trailer, WebP RIFF size): catches truncated downloads */
} jc_img_sniff;

/* Identifies an encoded image by its bytes and checks that it is whole (headers and
 * container structure, not the compressed pixels): the downloader's cheap first check, before
 * the image layer decodes the image. */
void jc_img_sniff_buf(const uint8_t *d, size_t n, jc_img_sniff *out);

/* ---- downloader.c ----------------------------------------------------------------------- */

typedef struct jc_download_params {
    int shard_size;        /* rows per shard: 10000 */
    int parallel;          /* concurrent transfers: 64 */
    double timeout;        /* seconds per attempt (whole transfer): 10 */
    double connect_timeout; /* seconds: 5 */
    int retries;           /* extra attempts after a transient failure: 2 */
    double backoff;        /* first retry delay in seconds, doubled each time: 0.5 */
    int64_t max_size;      /* largest accepted body in bytes: 20 MiB */
    int oom_shard_count;   /* digits of the shard number in keys and names: 5 */
    bool check_robots;     /* honour X-Robots-Tag noai/noimageai/noindex/noimageindex: true */
    int resize;            /* > 0: store the model's letterbox (jaclip_image_letterbox_mem) of this
                              side, re-encoded as JPEG; 0: the bytes as served (default) */
    int jpeg_quality;      /* for --resize: 95, as img2dataset */
    const char *user_agent;
    const char *url_col, *caption_col; /* input column names: "url", "caption" */
    bool quiet;
} jc_download_params;

jc_download_params jc_download_default_params(void);

typedef struct jc_download_stats {
    uint64_t rows, shards_written, shards_skipped, success, failed, retries, bytes;
    /* failures by reason, in the order of jc_download_reason_name */
    uint64_t by_reason[16];
} jc_download_stats;

const char *jc_download_reason_name(int i); /* NULL past the last */

/* Downloads every row of a JSONL(.gz) pairs file into DIR/NNNNN.tar WebDataset shards
 * (key.jpg|png|webp, key.txt = caption, key.json = metadata) and DIR/NNNNN_stats.json.
 * A shard is finished when its _stats.json exists (written after the tar is renamed into
 * place); finished shards are skipped, so a killed run is resumed by running it again. */
jaclip_status jc_download(const char *pairs_path, const char *out_dir, const jc_download_params *p,
                          jc_download_stats *st, jaclip_err *err);
