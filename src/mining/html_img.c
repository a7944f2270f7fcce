/*
 * html_img.c — finds the <img> tags of an HTML page (in UTF-8) with the attributes mining
 * needs, plus the page facts that decide how to read them: <title>, the first <base href>,
 * the declared language, and script counts of the text (for jc_page_language).
 *
 * This is a tolerant tokenizer, not a DOM: it follows the HTML5 rules that matter for
 * finding tags — comments, <script>/<style> raw text, quoted and unquoted attribute values,
 * character references in attribute values — and never fails on broken markup (a clipped
 * page simply ends). Images inside <noscript> are reported too: they are the real URLs of
 * lazy-loaded images.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "mining/mining.h"

#define MAX_ATTR_VALUE (64u << 10)

enum { A_SRC, A_DATA_SRC, A_SRCSET, A_ALT, A_TITLE, A_HREF, A_LANG, A_HTTP_EQUIV, A_CONTENT, A_N };

typedef struct tag {
    char name[16];
    const char *attr[A_N];
    bool end_tag;
    size_t end; /* index just after '>' */
} tag;

static bool name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static int attr_slot(const char *n, size_t k)
{
    if (name_is(n, k, "src")) return A_SRC;
    if (name_is(n, k, "data-src") || name_is(n, k, "data-original") || name_is(n, k, "data-lazy-src")) return A_DATA_SRC;
    if (name_is(n, k, "srcset") || name_is(n, k, "data-srcset")) return A_SRCSET;
    if (name_is(n, k, "alt")) return A_ALT;
    if (name_is(n, k, "title")) return A_TITLE;
    if (name_is(n, k, "href")) return A_HREF;
    if (name_is(n, k, "lang") || name_is(n, k, "xml:lang")) return A_LANG;
    if (name_is(n, k, "http-equiv")) return A_HTTP_EQUIV;
    if (name_is(n, k, "content")) return A_CONTENT;
    return -1;
}

/* Parses the tag starting at h[i] == '<' (not a comment). Attribute values of interest are
 * copied into scratch (which must hold len - i + A_N bytes) and entity-decoded. */
static void parse_tag(const char *h, size_t len, size_t i, tag *t, char *scratch)
{
    memset(t, 0, sizeof *t);
    size_t k = i + 1;
    if (k < len && h[k] == '/') {
        t->end_tag = true;
        k++;
    }
    size_t n = 0;
    while (k < len && (isalnum((unsigned char)h[k]) || h[k] == '-' || h[k] == ':')) {
        if (n < sizeof t->name - 1) t->name[n++] = (char)tolower((unsigned char)h[k]);
        k++;
    }
    t->name[n] = 0;
    size_t w = 0;
    bool keep = strcmp(t->name, "img") == 0 || strcmp(t->name, "base") == 0 || strcmp(t->name, "html") == 0 ||
                strcmp(t->name, "meta") == 0;
    while (k < len) {
        while (k < len && (isspace((unsigned char)h[k]) || h[k] == '/')) k++;
        if (k >= len) break;
        if (h[k] == '>') {
            k++;
            break;
        }
        size_t a0 = k;
        k++; /* the first char is part of the name even if it is '=' or a quote */
        while (k < len && !isspace((unsigned char)h[k]) && h[k] != '/' && h[k] != '>' && h[k] != '=') k++;
        size_t an = k - a0;
        while (k < len && isspace((unsigned char)h[k])) k++;
        const char *v = NULL;
        size_t vn = 0;
        if (k < len && h[k] == '=') {
            k++;
            while (k < len && isspace((unsigned char)h[k])) k++;
            if (k < len && (h[k] == '"' || h[k] == '\'')) {
                char q = h[k++];
                const char *e = memchr(h + k, q, len - k);
                size_t vend = e ? (size_t)(e - h) : len;
                v = h + k;
                vn = vend - k;
                k = e ? vend + 1 : len;
            } else {
                size_t v0 = k;
                while (k < len && !isspace((unsigned char)h[k]) && h[k] != '>') k++;
                v = h + v0;
                vn = k - v0;
            }
        }
        if (!keep || t->end_tag) continue;
        int slot = attr_slot(h + a0, an);
        if (slot < 0 || t->attr[slot]) continue; /* first occurrence wins, as in HTML5 */
        if (vn > MAX_ATTR_VALUE) vn = MAX_ATTR_VALUE;
        char *dst = scratch + w;
        if (vn) memcpy(dst, v, vn);
        dst[vn] = 0;
        size_t dn = jc_html_unescape(dst, vn);
        t->attr[slot] = dst;
        w += dn + 1;
    }
    t->end = k;
}

/* Finds "</name" (case-insensitive) from i; returns its index or len. */
static size_t find_end_tag(const char *h, size_t len, size_t i, const char *name)
{
    size_t nl = strlen(name);
    while (i < len) {
        const char *lt = memchr(h + i, '<', len - i);
        if (!lt) return len;
        size_t p = (size_t)(lt - h);
        if (p + 2 + nl <= len && h[p + 1] == '/' && strncasecmp(h + p + 2, name, nl) == 0) return p;
        i = p + 1;
    }
    return len;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int jc_html_images(const char *h, size_t len, jc_html_info *info, jc_img_fn cb, void *ctx)
{
    memset(info, 0, sizeof *info);
    char *scratch = NULL;
    size_t scratch_cap = 0;
    int n_img = 0;
    size_t i = 0;
    while (i < len) {
        const char *lt = memchr(h + i, '<', len - i);
        size_t p = lt ? (size_t)(lt - h) : len;
        jc_script_count(h + i, p - i, &info->text);
        if (p >= len) break;
        i = p;
        if (i + 4 <= len && memcmp(h + i, "<!--", 4) == 0) {
            const char *e = memmem(h + i + 4, len - i - 4, "-->", 3);
            i = e ? (size_t)(e - h) + 3 : len;
            continue;
        }
        if (i + 1 < len && (h[i + 1] == '!' || h[i + 1] == '?')) {
            const char *e = memchr(h + i, '>', len - i);
            i = e ? (size_t)(e - h) + 1 : len;
            continue;
        }
        bool is_tag = i + 1 < len && (isalpha((unsigned char)h[i + 1]) ||
                                      (h[i + 1] == '/' && i + 2 < len && isalpha((unsigned char)h[i + 2])));
        if (!is_tag) {
            i++;
            continue;
        }
        /* scratch must hold every attribute value of this tag: bounded by the rest of the input */
        size_t need = (len - i) + A_N + 1;
        if (need > MAX_ATTR_VALUE * A_N + A_N + 1) need = MAX_ATTR_VALUE * A_N + A_N + 1;
        if (need > scratch_cap) {
            char *ns = realloc(scratch, need);
            if (!ns) break;
            scratch = ns;
            scratch_cap = need;
        }
        tag t;
        parse_tag(h, len, i, &t, scratch);
        size_t next = t.end;
        if (!t.end_tag) {
            if (strcmp(t.name, "img") == 0) {
                jc_html_img img = {t.attr[A_SRC], t.attr[A_DATA_SRC], t.attr[A_SRCSET], t.attr[A_ALT], t.attr[A_TITLE],
                                   (uint64_t)i};
                n_img++;
                if (cb) cb(ctx, &img);
            } else if (strcmp(t.name, "base") == 0) {
                if (!info->base && t.attr[A_HREF]) info->base = jc_strdup(t.attr[A_HREF]);
            } else if (strcmp(t.name, "html") == 0) {
                if (!info->lang && t.attr[A_LANG] && t.attr[A_LANG][0]) info->lang = jc_strdup(t.attr[A_LANG]);
            } else if (strcmp(t.name, "meta") == 0) {
                if (!info->lang && t.attr[A_HTTP_EQUIV] && strcasecmp(t.attr[A_HTTP_EQUIV], "content-language") == 0 &&
                    t.attr[A_CONTENT] && t.attr[A_CONTENT][0])
                    info->lang = jc_strdup(t.attr[A_CONTENT]);
            } else if (strcmp(t.name, "script") == 0 || strcmp(t.name, "style") == 0) {
                next = find_end_tag(h, len, t.end, t.name);
            } else if (strcmp(t.name, "title") == 0 && !info->title) {
                size_t e = find_end_tag(h, len, t.end, "title");
                char *s = dup_n(h + t.end, e - t.end);
                if (s) {
                    size_t n = jc_html_unescape(s, e - t.end);
                    jc_text_normalize(s, n);
                    info->title = s;
                }
                jc_script_count(h + t.end, e - t.end, &info->text);
                next = e;
            }
        }
        i = next > i ? next : i + 1;
    }
    free(scratch);
    return n_img;
}

void jc_html_info_free(jc_html_info *info)
{
    free(info->title);
    free(info->base);
    free(info->lang);
    memset(info, 0, sizeof *info);
}

static bool is_data_or_empty(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    return !*s || strncasecmp(s, "data:", 5) == 0 || strncasecmp(s, "javascript:", 11) == 0 || strcmp(s, "#") == 0 ||
           strncasecmp(s, "about:", 6) == 0;
}

const char *jc_img_pick_url(const jc_html_img *img, char *buf, size_t buf_size)
{
    if (img->data_src && !is_data_or_empty(img->data_src)) return img->data_src;
    if (img->src && !is_data_or_empty(img->src)) return img->src;
    if (!img->srcset) return NULL;
    /* srcset: "url [Nw|Nx], url [..]"; take the largest width (or density) */
    const char *s = img->srcset;
    double best = -1;
    bool found = false;
    while (*s) {
        while (*s && (isspace((unsigned char)*s) || *s == ',')) s++;
        if (!*s) break;
        const char *u = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        size_t un = (size_t)(s - u);
        bool comma_end = false;
        while (un && u[un - 1] == ',') un--, comma_end = true;
        double val = 1;
        if (!comma_end) {
            while (*s && isspace((unsigned char)*s)) s++;
            const char *d = s;
            while (*s && *s != ',') s++;
            char desc[32];
            size_t dn = (size_t)(s - d) < sizeof desc - 1 ? (size_t)(s - d) : sizeof desc - 1;
            memcpy(desc, d, dn);
            desc[dn] = 0;
            char *end;
            double v = strtod(desc, &end);
            if (end != desc && (*end == 'w' || *end == 'W')) val = v;
            else if (end != desc && (*end == 'x' || *end == 'X')) val = v;
        }
        if (un && un < buf_size && val > best && !is_data_or_empty(u)) {
            memcpy(buf, u, un);
            buf[un] = 0;
            best = val;
            found = true;
        }
    }
    return found ? buf : NULL;
}
