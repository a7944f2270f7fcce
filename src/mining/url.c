/*
 * url.c — RFC 3986 §5.2 reference resolution, so that an <img src="../a.jpg"> on a page
 * becomes the absolute URL the downloader fetches and the dedup set keys on.
 *
 * Beyond the RFC, the browser habits that real pages rely on: surrounding white space is
 * ignored, tabs and newlines inside are dropped, '\' counts as '/' in http(s) URLs, and
 * spaces/non-ASCII bytes are percent-encoded (so the result is a valid URL for libcurl).
 * Scheme and host are lower-cased; the fragment is dropped (it never changes the image).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mining/mining.h"

typedef struct part {
    const char *s;
    size_t n;
    bool has;
} part;

typedef struct uparts {
    part scheme, auth, path, query;
} uparts;

static void split(const char *u, size_t len, uparts *p)
{
    memset(p, 0, sizeof *p);
    size_t i = 0;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    if (len && isalpha((unsigned char)u[0])) {
        size_t k = 1;
        while (k < len && (isalnum((unsigned char)u[k]) || u[k] == '+' || u[k] == '-' || u[k] == '.')) k++;
        if (k < len && u[k] == ':') {
            p->scheme = (part){u, k, true};
            i = k + 1;
        }
    }
    if (i + 1 < len && u[i] == '/' && u[i + 1] == '/') {
        size_t a = i + 2, k = a;
        while (k < len && u[k] != '/' && u[k] != '?' && u[k] != '#') k++;
        p->auth = (part){u + a, k - a, true};
        i = k;
    }
    size_t k = i;
    while (k < len && u[k] != '?' && u[k] != '#') k++;
    p->path = (part){u + i, k - i, true};
    i = k;
    if (i < len && u[i] == '?') {
        k = i + 1;
        while (k < len && u[k] != '#') k++;
        p->query = (part){u + i + 1, k - i - 1, true};
    }
}

/* RFC 3986 §5.2.4, in place on a NUL-terminated path; returns the new length. */
static size_t remove_dot_segments(char *in)
{
    char *out = in, *r = in;
    size_t w = 0;
    while (*r) {
        if (strncmp(r, "../", 3) == 0) r += 3;
        else if (strncmp(r, "./", 2) == 0) r += 2;
        else if (strncmp(r, "/./", 3) == 0) r += 2;
        else if (strcmp(r, "/.") == 0) r[1] = 0; /* becomes "/" */
        else if (strncmp(r, "/../", 4) == 0 || strcmp(r, "/..") == 0) {
            if (r[3] == '/') r += 3;
            else {
                r += 2;
                *r = '/';
            }
            while (w > 0 && out[w - 1] != '/') w--;
            if (w > 0) w--;
        } else if (strcmp(r, ".") == 0 || strcmp(r, "..") == 0) {
            break;
        } else {
            size_t k = (*r == '/') ? 1 : 0;
            while (r[k] && r[k] != '/') k++;
            memmove(out + w, r, k);
            w += k;
            r += k;
        }
    }
    out[w] = 0;
    return w;
}

typedef struct sbuf {
    char *d;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->n + n + 1) * 2;
        char *nd = realloc(b->d, nc);
        if (!nd) {
            b->oom = true;
            return;
        }
        b->d = nd;
        b->cap = nc;
    }
    memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = 0;
}

/* Copies s, dropping tabs/newlines, trimming white space, mapping '\' to '/'. */
static char *clean(const char *s, bool backslash)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\f'))
        n--;
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\t' || c == '\n' || c == '\r') continue;
        if (c == '\\' && backslash) c = '/';
        o[w++] = c;
    }
    o[w] = 0;
    return o;
}

static bool is_http_scheme(const part *s)
{
    return s->has && ((s->n == 4 && strncasecmp(s->s, "http", 4) == 0) || (s->n == 5 && strncasecmp(s->s, "https", 5) == 0));
}

char *jc_url_resolve(const char *base_in, const char *ref_in)
{
    if (!ref_in) return NULL;
    char *base = base_in ? clean(base_in, true) : NULL;
    char *ref = clean(ref_in, true);
    if (!ref || (base_in && !base)) {
        free(base);
        free(ref);
        return NULL;
    }
    uparts b, r, t;
    memset(&b, 0, sizeof b);
    split(ref, strlen(ref), &r);
    if (base) split(base, strlen(base), &b);
    char *path = NULL; /* merged path, malloc'd */
    memset(&t, 0, sizeof t);
    if (r.scheme.has) {
        t = r;
    } else {
        if (!base || !b.scheme.has) goto fail;
        t.scheme = b.scheme;
        if (r.auth.has) {
            t.auth = r.auth;
            t.path = r.path;
            t.query = r.query;
        } else {
            t.auth = b.auth;
            if (r.path.n == 0) {
                t.path = b.path;
                t.query = r.query.has ? r.query : b.query;
            } else {
                t.query = r.query;
                if (r.path.s[0] == '/') t.path = r.path;
                else {
                    /* merge (§5.2.3) */
                    size_t keep = 0;
                    if (b.auth.has && b.path.n == 0) {
                        path = malloc(r.path.n + 2);
                        if (!path) goto fail;
                        path[0] = '/';
                        memcpy(path + 1, r.path.s, r.path.n);
                        path[r.path.n + 1] = 0;
                    } else {
                        for (size_t i = 0; i < b.path.n; i++)
                            if (b.path.s[i] == '/') keep = i + 1;
                        path = malloc(keep + r.path.n + 1);
                        if (!path) goto fail;
                        memcpy(path, b.path.s, keep);
                        memcpy(path + keep, r.path.s, r.path.n);
                        path[keep + r.path.n] = 0;
                    }
                    t.path = (part){path, strlen(path), true};
                }
            }
        }
    }
    {
        char *p2 = malloc(t.path.n + 1);
        if (!p2) goto fail;
        memcpy(p2, t.path.s, t.path.n);
        p2[t.path.n] = 0;
        size_t pn = remove_dot_segments(p2);
        free(path);
        path = p2;
        t.path = (part){path, pn, true};
    }
    sbuf o = {0};
    for (size_t i = 0; i < t.scheme.n; i++) {
        char c = (char)tolower((unsigned char)t.scheme.s[i]);
        sb_put(&o, &c, 1);
    }
    sb_put(&o, ":", 1);
    if (t.auth.has) {
        sb_put(&o, "//", 2);
        /* lower-case the host (after any userinfo), keep the port */
        size_t at = 0;
        for (size_t i = 0; i < t.auth.n; i++)
            if (t.auth.s[i] == '@') at = i + 1;
        sb_put(&o, t.auth.s, at);
        for (size_t i = at; i < t.auth.n; i++) {
            char c = (char)tolower((unsigned char)t.auth.s[i]);
            sb_put(&o, &c, 1);
        }
    }
    if (t.auth.has && is_http_scheme(&t.scheme) && t.path.n == 0) sb_put(&o, "/", 1);
    const part *rest[2] = {&t.path, &t.query};
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            if (!t.query.has) break;
            sb_put(&o, "?", 1);
        }
        for (size_t i = 0; i < rest[k]->n; i++) {
            unsigned char c = (unsigned char)rest[k]->s[i];
            if (c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' || c == '`' ||
                (k == 0 && (c == '{' || c == '}' || c == '|' || c == '^'))) {
                char e[4];
                snprintf(e, sizeof e, "%%%02X", c);
                sb_put(&o, e, 3);
            } else sb_put(&o, (const char *)&c, 1);
        }
    }
    free(path);
    free(base);
    free(ref);
    if (o.oom) {
        free(o.d);
        return NULL;
    }
    return o.d;
fail:
    free(path);
    free(base);
    free(ref);
    return NULL;
}

bool jc_url_is_http(const char *url)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0) p = url + 8;
    else return false;
    const char *at = p;
    const char *end = p + strcspn(p, "/?#");
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q + 1;
    return end > at && *at != ':';
}
