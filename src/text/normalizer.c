/*
 * normalizer.c — SentencePiece's text normalizer (src/normalizer.cc in google/sentencepiece,
 * 0.1.97 behaviour), for the `nmt_nfkc` rule set that rinna's model carries as a precompiled
 * charsmap:
 *
 *   charsmap blob = uint32 LE trie_size | trie_size bytes of Darts double-array units (uint32 LE)
 *                   | NUL-terminated replacement strings
 *
 * At every position the longest prefix found in the trie is replaced by its string; with no
 * match one UTF-8 character is copied, and a malformed byte becomes U+FFFD (consuming 1 byte).
 * Around that run the whitespace rules: leading spaces dropped, "▁" (U+2581) dummy prefix, runs
 * of spaces collapsed, ' ' escaped as "▁", trailing "▁" stripped.
 *
 * Also home to the two small helpers the layer shares: strict UTF-8 decoding and jc_bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

bool jc_bytes_reserve(jc_bytes *b, size_t extra)
{
    if (b->oom) return false;
    if (b->cap - b->len >= extra) return true;
    size_t want = b->len + extra;
    if (want < b->len) goto oom;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) goto oom;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) goto oom;
    b->p = p;
    b->cap = cap;
    return true;
oom:
    b->oom = true;
    return false;
}

int32_t jc_utf8_decode(const uint8_t *s, size_t avail, int *n)
{
    uint8_t c = s[0];
    *n = 1;
    if (c < 0x80) return c;
    if ((c & 0xE0) == 0xC0 && avail >= 2 && (s[1] & 0xC0) == 0x80) {
        int32_t cp = (int32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
        if (cp >= 0x80) {
            *n = 2;
            return cp;
        }
    } else if ((c & 0xF0) == 0xE0 && avail >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        int32_t cp = (int32_t)(c & 0x0F) << 12 | (int32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
            *n = 3;
            return cp;
        }
    } else if ((c & 0xF8) == 0xF0 && avail >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
               (s[3] & 0xC0) == 0x80) {
        int32_t cp = (int32_t)(c & 0x07) << 18 | (int32_t)(s[1] & 0x3F) << 12 | (int32_t)(s[2] & 0x3F) << 6 |
                     (s[3] & 0x3F);
        if (cp >= 0x10000 && cp <= 0x10FFFF) {
            *n = 4;
            return cp;
        }
    }
    return -1;
}

jaclip_status jc_normalizer_init(jc_normalizer *nz, const jc_sp_model *m, const char *name, jaclip_err *err)
{
    memset(nz, 0, sizeof *nz);
    nz->add_dummy_prefix = m->add_dummy_prefix;
    nz->remove_extra_whitespaces = m->remove_extra_whitespaces;
    nz->escape_whitespaces = m->escape_whitespaces;
    if (m->charsmap_len == 0) return JACLIP_OK; /* "identity": no rewriting, whitespace rules only */

    const uint8_t *b = m->charsmap;
    size_t n = m->charsmap_len;
    if (n <= 4)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: precompiled_charsmap of %zu bytes is too short", name, n);
    size_t trie_size = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
    if (trie_size >= n - 4 || trie_size < 4 || trie_size % 4)
        return jc_err(err, JACLIP_ERR_FORMAT,
                      "%s: precompiled_charsmap: trie size %zu does not fit the %zu-byte blob", name, trie_size, n);
    nz->n_units = trie_size / 4;
    nz->units = jc_malloc_array(nz->n_units, sizeof *nz->units);
    if (!nz->units) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for the charsmap", name);
    for (size_t i = 0; i < nz->n_units; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        nz->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    nz->strings = (const char *)b + 4 + trie_size;
    nz->strings_len = n - 4 - trie_size;
    /* Every replacement is read up to its NUL: a final NUL keeps all reads inside the blob. */
    if (nz->strings[nz->strings_len - 1] != '\0') {
        jc_normalizer_free(nz);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: precompiled_charsmap: replacement strings are not NUL-terminated",
                      name);
    }
    return JACLIP_OK;
}

void jc_normalizer_free(jc_normalizer *nz)
{
    free(nz->units);
    nz->units = NULL;
    nz->n_units = 0;
}

/* Darts-clone unit fields. */
static inline uint32_t da_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline bool da_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t da_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }

static const uint8_t kReplacementChar[3] = {0xEF, 0xBF, 0xBD};
static const uint8_t kSpaceSymbol[3] = {0xE2, 0x96, 0x81};

/* Normalizer::NormalizePrefix: the replacement for the longest rule matching at `in`, and the
 * number of input bytes it consumes (>= 1). */
static size_t normalize_prefix(const jc_normalizer *nz, const uint8_t *in, size_t len, const uint8_t **rep,
                               size_t *rep_len)
{
    size_t longest = 0;
    uint32_t value = 0;
    if (nz->units) {
        const uint32_t *a = nz->units;
        size_t n = nz->n_units;
        size_t pos = da_offset(a[0]);
        for (size_t i = 0; i < len; i++) {
            pos ^= in[i];
            if (pos >= n) break;
            uint32_t u = a[pos];
            if (da_label(u) != in[i]) break;
            pos ^= da_offset(u);
            if (pos >= n) break;
            if (da_has_leaf(u)) {
                uint32_t v = a[pos] & 0x7FFFFFFFu;
                if (v < nz->strings_len) { /* always so in a sound charsmap */
                    longest = i + 1;
                    value = v;
                }
            }
        }
    }
    if (longest) {
        *rep = (const uint8_t *)nz->strings + value;
        *rep_len = strlen(nz->strings + value);
        return longest;
    }
    int n;
    if (jc_utf8_decode(in, len, &n) < 0) {
        *rep = kReplacementChar;
        *rep_len = 3;
        return 1;
    }
    *rep = in;
    *rep_len = (size_t)n;
    return (size_t)n;
}

void jc_normalize(const jc_normalizer *nz, const uint8_t *in, size_t len, jc_bytes *out)
{
    const size_t start = out->len;
    const uint8_t *rep;
    size_t rep_len;
    if (nz->remove_extra_whitespaces) { /* drop leading spaces */
        while (len > 0) {
            size_t c = normalize_prefix(nz, in, len, &rep, &rep_len);
            if (!(rep_len == 1 && rep[0] == ' ')) break;
            in += c;
            len -= c;
        }
    }
    if (len == 0) return;
    if (nz->add_dummy_prefix) {
        if (nz->escape_whitespaces) jc_bytes_append(out, kSpaceSymbol, 3);
        else jc_bytes_append(out, " ", 1);
    }
    bool prev_space = nz->remove_extra_whitespaces;
    while (len > 0) {
        size_t c = normalize_prefix(nz, in, len, &rep, &rep_len);
        if (prev_space)
            while (rep_len > 0 && rep[0] == ' ') rep++, rep_len--;
        if (rep_len > 0) {
            if (!jc_bytes_reserve(out, rep_len * 3)) return;
            uint8_t *o = out->p + out->len;
            for (size_t k = 0; k < rep_len; k++) {
                if (rep[k] == ' ' && nz->escape_whitespaces) {
                    *o++ = 0xE2, *o++ = 0x96, *o++ = 0x81;
                } else {
                    *o++ = rep[k];
                }
            }
            out->len = (size_t)(o - out->p);
            prev_space = rep[rep_len - 1] == ' ';
        }
        in += c;
        len -= c;
        if (!nz->remove_extra_whitespaces) prev_space = false;
    }
    if (nz->remove_extra_whitespaces) { /* strip trailing spaces */
        const uint8_t *sp = nz->escape_whitespaces ? kSpaceSymbol : (const uint8_t *)" ";
        size_t sl = nz->escape_whitespaces ? 3 : 1;
        while (out->len - start >= sl && memcmp(out->p + out->len - sl, sp, sl) == 0) out->len -= sl;
    }
}
