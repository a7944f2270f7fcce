/*
 * wat.c — image links from a Common Crawl WAT metadata record (the JSON that ia-web-commons
 * writes for each WARC response): Envelope.Payload-Metadata.HTTP-Response-Metadata.
 * HTML-Metadata.{Head{Title,Base,Metas}, Links[{path:"IMG@/src", url, alt, title}]}.
 *
 * Speed is the point here (bench/README.md "Mining": the miner must keep up with gzip), so
 * instead of building a cJSON tree — a malloc per node and a strcmp per lookup — this file
 * walks the JSON text in place: one pass over each object collects the members it needs,
 * only the strings that are used are unescaped, into one scratch buffer per record. The
 * walker checks structure and bounds as it goes (strings, nesting up to 256, literals) and
 * answers -1 for text that is not JSON; tests/mining/fuzz/fuzz_wat.c fuzzes it.
 *
 * Most WAT records are requests, metadata records or non-HTML responses without image
 * links; a substring test for "IMG@" skips them before any parsing.
 *
 * The page language comes from what the WAT keeps: the HTTP Content-Language and
 * Content-Type charset headers, a content-language <meta>, and script counts over the
 * title and the link texts and alts of the page (the first 1024 letters are enough).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mining/mining.h"

#define MAX_DEPTH 256
#define TEXT_LETTERS_ENOUGH 1024

typedef struct span {
    const char *p; /* first byte inside the quotes, or the value start for non-strings */
    size_t n;
    bool esc;      /* contains backslash escapes */
    bool is_str;
} span;

typedef struct jw {
    const char *end;
    char *scratch; /* unescaped strings, NUL-terminated */
    size_t used, cap;
} jw;

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* p at '"'. Returns the byte after the closing quote, or NULL. */
static const char *str(const char *p, const char *e, span *s)
{
    const char *b = ++p;
    bool esc = false;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return NULL;
        const char *bs = memchr(p, '\\', (size_t)(q - p));
        if (!bs) {
            s->p = b;
            s->n = (size_t)(q - b);
            s->esc = esc;
            s->is_str = true;
            return q + 1;
        }
        esc = true;
        p = bs + 2; /* skip the escaped character (may be the quote) */
        if (p > e) return NULL;
    }
}

static const char *skip(const char *p, const char *e, int depth);

static const char *skip_container(const char *p, const char *e, int depth, char close, bool obj)
{
    if (depth > MAX_DEPTH) return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
        if (obj) {
            span k;
            if (p >= e || *p != '"' || !(p = str(p, e, &k))) return NULL;
            p = ws(p, e);
            if (p >= e || *p != ':') return NULL;
            p = ws(p + 1, e);
        }
        if (!(p = skip(p, e, depth + 1))) return NULL;
        p = ws(p, e);
        if (p >= e) return NULL;
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = ws(p + 1, e);
    }
}

/* Skips one JSON value starting at p (no leading white space). */
static const char *skip(const char *p, const char *e, int depth)
{
    if (p >= e) return NULL;
    span s;
    switch (*p) {
    case '"': return str(p, e, &s);
    case '{': return skip_container(p, e, depth, '}', true);
    case '[': return skip_container(p, e, depth, ']', false);
    default: {
        const char *b = p;
        while (p < e && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '+' || *p == '.' ||
                         *p == 'E'))
            p++;
        return p > b ? p : NULL;
    }
    }
}

/* One pass over the object at p: for each key in keys[0..n) found, vals[i] gets the value's
 * start (NULL when absent). Returns the end of the object, or NULL for malformed JSON. With
 * depth >= FIND_FIRST the walk stops as soon as every key is found (the rest of the object is
 * neither needed nor checked) and returns a non-NULL pointer that is not the object's end. */
#define FIND_FIRST 1000
static const char *members(const char *p, const char *e, const char *const *keys, int n, const char **vals, int depth)
{
    bool early = depth >= FIND_FIRST;
    if (early) depth -= FIND_FIRST;
    int found = 0;
    for (int i = 0; i < n; i++) vals[i] = NULL;
    if (p >= e || *p != '{' || depth > MAX_DEPTH) return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return p + 1;
    for (;;) {
        span k;
        if (p >= e || *p != '"' || !(p = str(p, e, &k))) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ':') return NULL;
        p = ws(p + 1, e);
        for (int i = 0; i < n; i++)
            if (!vals[i] && k.n && keys[i][0] == k.p[0] && strnlen(keys[i], k.n + 1) == k.n && memcmp(keys[i], k.p, k.n) == 0) {
                vals[i] = p;
                found++;
            }
        if (early && found == n) return p;
        if (!(p = skip(p, e, depth + 1))) return NULL;
        p = ws(p, e);
        if (p >= e) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p = ws(p + 1, e);
    }
}

static bool as_str(const char *v, const char *e, span *s)
{
    return v && v < e && *v == '"' && str(v, e, s) != NULL;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static uint32_t hex4(const char *p, const char *e)
{
    if (e - p < 4) return 0xFFFFFFFF;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexv(p[i]);
        if (h < 0) return 0xFFFFFFFF;
        v = v << 4 | (uint32_t)h;
    }
    return v;
}

/* Copies (unescaping) a string span into the scratch buffer; NUL-terminated result. The
 * output is never longer than the input, and the scratch holds the whole record. */
static const char *text_of(jw *w, const span *s)
{
    if (w->used + s->n + 1 > w->cap) return ""; /* cannot happen: spans are disjoint parts of the input */
    char *o = w->scratch + w->used, *d = o;
    const char *p = s->p, *e = s->p + s->n;
    if (!s->esc) {
        memcpy(d, p, s->n);
        d += s->n;
    } else {
        while (p < e) {
            if (*p != '\\') {
                *d++ = *p++;
                continue;
            }
            if (++p >= e) break;
            char c = *p++;
            switch (c) {
            case 'n': *d++ = '\n'; break;
            case 't': *d++ = '\t'; break;
            case 'r': *d++ = '\r'; break;
            case 'b': *d++ = '\b'; break;
            case 'f': *d++ = '\f'; break;
            case 'u': {
                uint32_t cp = hex4(p, e);
                if (cp == 0xFFFFFFFF) {
                    cp = 0xFFFD;
                } else {
                    p += 4;
                    if (cp >= 0xD800 && cp <= 0xDBFF && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                        uint32_t lo = hex4(p + 2, e);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            p += 6;
                        }
                    }
                    if (cp == 0) cp = ' ';
                }
                d += jc_mn_utf8_encode(cp, d); /* <= 4 bytes from >= 6 input bytes */
                break;
            }
            default: *d++ = c; break; /* \" \\ \/ and lenient others */
            }
        }
    }
    *d = 0;
    w->used += (size_t)(d - o) + 1;
    return o;
}

static void count_span(jw *w, const span *s, jc_script_counts *c)
{
    if (c->letters > TEXT_LETTERS_ENOUGH) return;
    if (!s->esc) {
        jc_script_count(s->p, s->n, c);
        return;
    }
    size_t mark = w->used;
    const char *t = text_of(w, s);
    jc_script_count(t, strlen(t), c);
    w->used = mark;
}

/* The charset label of a Content-Type value, mapped to the names jc_page_language knows. */
static void charset_of(const char *ct, char *out, size_t n)
{
    out[0] = 0;
    const char *cs = ct ? strcasestr(ct, "charset=") : NULL;
    if (!cs) return;
    cs += 8;
    while (*cs == '"' || *cs == '\'' || *cs == ' ') cs++;
    size_t k = 0;
    while (cs[k] && cs[k] != ';' && cs[k] != ' ' && cs[k] != '"' && cs[k] != '\'' && k < n - 1) k++;
    memcpy(out, cs, k);
    out[k] = 0;
    if (strcasecmp(out, "shift_jis") == 0 || strcasecmp(out, "sjis") == 0 || strcasecmp(out, "windows-31j") == 0 ||
        strcasecmp(out, "x-sjis") == 0)
        snprintf(out, n, "CP932");
    else if (strncasecmp(out, "euc-jp", 6) == 0)
        snprintf(out, n, "EUC-JP");
}

int jc_wat_images(const char *json, size_t len, const char *fallback_uri, const jc_ja_params *ja, jc_wat_fn cb,
                  void *ctx)
{
    if (!memmem(json, len, "IMG@", 4)) return 0;
    const char *e = json + len, *p = ws(json, e);
    jw w = {e, malloc(len + 64), 0, len + 64};
    if (!w.scratch) return -1;
    int result = -1;
    static const char *const k_root[] = {"Envelope"};
    static const char *const k_env[] = {"Payload-Metadata", "WARC-Header-Metadata"};
    static const char *const k_pay[] = {"HTTP-Response-Metadata"};
    static const char *const k_hrm[] = {"Headers", "HTML-Metadata"};
    static const char *const k_html[] = {"Head", "Links"};
    static const char *const k_head[] = {"Title", "Base", "Metas"};
    static const char *const k_uri[] = {"WARC-Target-URI"};
    static const char *const k_link[] = {"path", "url", "alt", "title", "text"};
    static const char *const k_meta[] = {"name", "http-equiv", "content"};
    const char *v_root[1], *v_env[2], *v_pay[1], *v_hrm[2], *v_html[2], *v_head[3], *v_uri[1];
    if (!members(p, e, k_root, 1, v_root, FIND_FIRST)) goto done;
    result = 0;
    if (!v_root[0]) goto done;
    if (!members(v_root[0], e, k_env, 2, v_env, FIND_FIRST + 1)) goto bad;
    if (!v_env[0] || !members(v_env[0], e, k_pay, 1, v_pay, FIND_FIRST + 2)) goto done_or_bad;
    if (!v_pay[0] || !members(v_pay[0], e, k_hrm, 2, v_hrm, FIND_FIRST + 3)) goto done_or_bad;
    if (!v_hrm[1] || !members(v_hrm[1], e, k_html, 2, v_html, FIND_FIRST + 4)) goto done_or_bad;
    if (!v_html[1] || *v_html[1] != '[') goto done;
    if (v_html[0] && *v_html[0] == '{' && !members(v_html[0], e, k_head, 3, v_head, FIND_FIRST + 5)) goto bad;
    if (!v_html[0] || *v_html[0] != '{') v_head[0] = v_head[1] = v_head[2] = NULL;

    jc_wat_page page = {0};
    span s;
    page.page_url = fallback_uri;
    if (v_env[1] && *v_env[1] == '{' && members(v_env[1], e, k_uri, 1, v_uri, FIND_FIRST + 2) && as_str(v_uri[0], e, &s))
        page.page_url = text_of(&w, &s);
    if (as_str(v_head[0], e, &s)) page.title = text_of(&w, &s);
    if (as_str(v_head[1], e, &s)) page.base = text_of(&w, &s);
    else if (v_head[1] && *v_head[1] == '{') {
        static const char *const k_base[] = {"href", "url"};
        const char *v_base[2];
        if (members(v_head[1], e, k_base, 2, v_base, FIND_FIRST + 6) &&
            (as_str(v_base[0], e, &s) || as_str(v_base[1], e, &s)))
            page.base = text_of(&w, &s);
    }

    /* language evidence: HTTP headers, <meta> content-language, the page's own text */
    const char *declared = NULL;
    char charset[64] = "";
    if (v_hrm[0] && *v_hrm[0] == '{') {
        const char *q = ws(v_hrm[0] + 1, e);
        while (q < e && *q == '"') {
            span k;
            if (!(q = str(q, e, &k))) goto bad;
            q = ws(q, e);
            if (q >= e || *q != ':') goto bad;
            q = ws(q + 1, e);
            if (as_str(q, e, &s)) {
                if (k.n == 16 && strncasecmp(k.p, "Content-Language", 16) == 0) declared = text_of(&w, &s);
                else if (k.n == 12 && strncasecmp(k.p, "Content-Type", 12) == 0) charset_of(text_of(&w, &s), charset, sizeof charset);
            }
            if (!(q = skip(q, e, 4))) goto bad;
            q = ws(q, e);
            if (q < e && *q == ',') q = ws(q + 1, e);
        }
    }
    if (v_head[2] && *v_head[2] == '[') {
        const char *q = ws(v_head[2] + 1, e);
        while (q < e && *q == '{') {
            const char *v_m[3];
            const char *next = members(q, e, k_meta, 3, v_m, 6);
            if (!next) goto bad;
            span nm, ct;
            if ((as_str(v_m[0], e, &nm) || as_str(v_m[1], e, &nm)) && as_str(v_m[2], e, &ct)) {
                if ((nm.n == 16 && strncasecmp(nm.p, "content-language", 16) == 0) ||
                    (nm.n == 8 && strncasecmp(nm.p, "language", 8) == 0))
                    declared = text_of(&w, &ct);
                else if (nm.n == 12 && strncasecmp(nm.p, "content-type", 12) == 0 && !charset[0])
                    charset_of(text_of(&w, &ct), charset, sizeof charset);
            }
            q = ws(next, e);
            if (q < e && *q == ',') q = ws(q + 1, e);
        }
    }

    /* pass 1 over Links: script counts, and where the IMG@/src entries are */
    jc_script_counts text = {0};
    if (page.title) jc_script_count(page.title, strlen(page.title), &text);
    const char **imgs = NULL;
    size_t n_imgs = 0, cap_imgs = 0;
    const char *q = ws(v_html[1] + 1, e);
    while (q < e && *q != ']') {
        const char *v_l[5];
        const char *next = *q == '{' ? members(q, e, k_link, 5, v_l, 5) : skip(q, e, 5);
        if (!next) {
            free(imgs);
            goto bad;
        }
        if (*q == '{') {
            span ps;
            for (int k = 2; k < 5; k++)
                if (as_str(v_l[k], e, &s)) count_span(&w, &s, &text);
            if (as_str(v_l[0], e, &ps) && ps.n == 8 && memcmp(ps.p, "IMG@/src", 8) == 0 && as_str(v_l[1], e, &s)) {
                if (n_imgs == cap_imgs) {
                    size_t nc = cap_imgs ? cap_imgs * 2 : 64;
                    const char **ni = realloc(imgs, nc * sizeof *ni);
                    if (!ni) break;
                    imgs = ni;
                    cap_imgs = nc;
                }
                imgs[n_imgs++] = q;
            }
        }
        q = ws(next, e);
        if (q < e && *q == ',') q = ws(q + 1, e);
        else if (q < e && *q != ']') {
            free(imgs);
            goto bad;
        }
    }
    page.lang = jc_page_language(declared, charset, &text, ja);

    /* pass 2: the image entries */
    for (size_t i = 0; i < n_imgs; i++) {
        const char *v_l[5];
        members(imgs[i], e, k_link, 5, v_l, 5);
        size_t mark = w.used;
        span us, as;
        as_str(v_l[1], e, &us);
        const char *url = text_of(&w, &us);
        const char *alt = as_str(v_l[2], e, &as) ? text_of(&w, &as) : NULL;
        result++;
        if (cb) cb(ctx, &page, url, alt);
        w.used = mark;
    }
    free(imgs);
    goto done;
done_or_bad:
    /* a missing level means "no HTML links"; a malformed one means broken JSON */
    goto done;
bad:
    result = -1;
done:
    free(w.scratch);
    return result;
}
