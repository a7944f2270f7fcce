/*
 * text.c — the small text toolkit mining needs: UTF-8 decoding/encoding, HTML character
 * reference decoding, and the whitespace normalisation applied to every caption.
 *
 * Named references: the HTML5 table has 2,231 names; we decode the ones that occur in real
 * alt text (the XML five, Latin-1 symbols, typographic punctuation, arrows and a few
 * math/currency signs). Unknown names are left as written, as browsers do for invalid ones.
 */
#include <stdlib.h>
#include <string.h>

#include "mining/mining.h"

int jc_mn_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) len = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, v = c & 0x07, min = 0x10000;
    else {
        *cp = 0xFFFD;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

int jc_mn_utf8_encode(uint32_t cp, char *o)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t jc_mn_utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((uint8_t)*s & 0xC0) != 0x80) n++;
    return n;
}

typedef struct entity {
    const char *name;
    uint32_t cp;
} entity;

/* sorted by name for bsearch */
static const entity entities[] = {
    {"AElig", 0xC6},
    {"Aacute", 0xC1},
    {"Acirc", 0xC2},
    {"Agrave", 0xC0},
    {"Aring", 0xC5},
    {"Atilde", 0xC3},
    {"Auml", 0xC4},
    {"Ccedil", 0xC7},
    {"Dagger", 0x2021},
    {"ETH", 0xD0},
    {"Eacute", 0xC9},
    {"Ecirc", 0xCA},
    {"Egrave", 0xC8},
    {"Euml", 0xCB},
    {"Iacute", 0xCD},
    {"Icirc", 0xCE},
    {"Igrave", 0xCC},
    {"Iuml", 0xCF},
    {"Ntilde", 0xD1},
    {"OElig", 0x152},
    {"Oacute", 0xD3},
    {"Ocirc", 0xD4},
    {"Ograve", 0xD2},
    {"Omega", 0x3A9},
    {"Oslash", 0xD8},
    {"Otilde", 0xD5},
    {"Ouml", 0xD6},
    {"Scaron", 0x160},
    {"THORN", 0xDE},
    {"Uacute", 0xDA},
    {"Ucirc", 0xDB},
    {"Ugrave", 0xD9},
    {"Uuml", 0xDC},
    {"Yacute", 0xDD},
    {"Yuml", 0x178},
    {"aacute", 0xE1},
    {"acirc", 0xE2},
    {"acute", 0xB4},
    {"aelig", 0xE6},
    {"agrave", 0xE0},
    {"alefsym", 0x2135},
    {"alpha", 0x3B1},
    {"amp", '&'},
    {"apos", '\''},
    {"aring", 0xE5},
    {"asymp", 0x2248},
    {"atilde", 0xE3},
    {"auml", 0xE4},
    {"bdquo", 0x201E},
    {"beta", 0x3B2},
    {"brvbar", 0xA6},
    {"bull", 0x2022},
    {"ccedil", 0xE7},
    {"cedil", 0xB8},
    {"cent", 0xA2},
    {"circ", 0x2C6},
    {"clubs", 0x2663},
    {"copy", 0xA9},
    {"crarr", 0x21B5},
    {"curren", 0xA4},
    {"dagger", 0x2020},
    {"darr", 0x2193},
    {"deg", 0xB0},
    {"delta", 0x3B4},
    {"diams", 0x2666},
    {"divide", 0xF7},
    {"eacute", 0xE9},
    {"ecirc", 0xEA},
    {"egrave", 0xE8},
    {"emsp", 0x2003},
    {"ensp", 0x2002},
    {"equiv", 0x2261},
    {"eth", 0xF0},
    {"euml", 0xEB},
    {"euro", 0x20AC},
    {"fnof", 0x192},
    {"frac12", 0xBD},
    {"frac14", 0xBC},
    {"frac34", 0xBE},
    {"gamma", 0x3B3},
    {"ge", 0x2265},
    {"gt", '>'},
    {"hArr", 0x21D4},
    {"harr", 0x2194},
    {"hearts", 0x2665},
    {"hellip", 0x2026},
    {"iacute", 0xED},
    {"icirc", 0xEE},
    {"iexcl", 0xA1},
    {"igrave", 0xEC},
    {"image", 0x2111},
    {"infin", 0x221E},
    {"iquest", 0xBF},
    {"iuml", 0xEF},
    {"lArr", 0x21D0},
    {"laquo", 0xAB},
    {"larr", 0x2190},
    {"ldquo", 0x201C},
    {"le", 0x2264},
    {"lowast", 0x2217},
    {"loz", 0x25CA},
    {"lrm", 0x200E},
    {"lsaquo", 0x2039},
    {"lsquo", 0x2018},
    {"lt", '<'},
    {"macr", 0xAF},
    {"mdash", 0x2014},
    {"micro", 0xB5},
    {"middot", 0xB7},
    {"minus", 0x2212},
    {"mu", 0x3BC},
    {"nbsp", 0xA0},
    {"ndash", 0x2013},
    {"ne", 0x2260},
    {"not", 0xAC},
    {"ntilde", 0xF1},
    {"oacute", 0xF3},
    {"ocirc", 0xF4},
    {"oelig", 0x153},
    {"ograve", 0xF2},
    {"oline", 0x203E},
    {"omega", 0x3C9},
    {"ordf", 0xAA},
    {"ordm", 0xBA},
    {"oslash", 0xF8},
    {"otilde", 0xF5},
    {"ouml", 0xF6},
    {"para", 0xB6},
    {"permil", 0x2030},
    {"pi", 0x3C0},
    {"plusmn", 0xB1},
    {"pound", 0xA3},
    {"prime", 0x2032},
    {"prod", 0x220F},
    {"quot", '"'},
    {"rArr", 0x21D2},
    {"radic", 0x221A},
    {"raquo", 0xBB},
    {"rarr", 0x2192},
    {"rdquo", 0x201D},
    {"real", 0x211C},
    {"reg", 0xAE},
    {"rlm", 0x200F},
    {"rsaquo", 0x203A},
    {"rsquo", 0x2019},
    {"sbquo", 0x201A},
    {"scaron", 0x161},
    {"sdot", 0x22C5},
    {"sect", 0xA7},
    {"shy", 0xAD},
    {"sigma", 0x3C3},
    {"spades", 0x2660},
    {"star", 0x2606},
    {"sum", 0x2211},
    {"sup1", 0xB9},
    {"sup2", 0xB2},
    {"sup3", 0xB3},
    {"szlig", 0xDF},
    {"thinsp", 0x2009},
    {"thorn", 0xFE},
    {"tilde", 0x2DC},
    {"times", 0xD7},
    {"trade", 0x2122},
    {"uacute", 0xFA},
    {"uarr", 0x2191},
    {"ucirc", 0xFB},
    {"ugrave", 0xF9},
    {"uml", 0xA8},
    {"uuml", 0xFC},
    {"weierp", 0x2118},
    {"yacute", 0xFD},
    {"yen", 0xA5},
    {"yuml", 0xFF},
    {"zwj", 0x200D},
    {"zwnj", 0x200C},
};

static int cmp_entity(const void *k, const void *e) { return strcmp((const char *)k, ((const entity *)e)->name); }

/* Windows-1252 code points that numeric references in 0x80..0x9F stand for (HTML5 rule). */
static const uint16_t c1_map[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                    0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                    0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

size_t jc_html_unescape(char *s, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        if (s[r] != '&') {
            s[w++] = s[r++];
            continue;
        }
        size_t i = r + 1;
        uint32_t cp = 0;
        bool ok = false;
        if (i < len && s[i] == '#') {
            i++;
            bool hex = i < len && (s[i] == 'x' || s[i] == 'X');
            if (hex) i++;
            size_t d0 = i;
            uint64_t v = 0;
            while (i < len && i - d0 < 8) {
                char c = s[i];
                int dv = c >= '0' && c <= '9' ? c - '0'
                         : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                         : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                       : -1;
                if (dv < 0) break;
                v = v * (hex ? 16 : 10) + (uint64_t)dv;
                i++;
            }
            if (i > d0) {
                ok = true;
                if (i < len && s[i] == ';') i++;
                cp = v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ? 0xFFFD : (uint32_t)v;
                if (cp >= 0x80 && cp <= 0x9F) cp = c1_map[cp - 0x80];
            }
        } else {
            char name[16];
            size_t k = 0;
            while (i < len && k < sizeof name - 1 &&
                   ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
                name[k++] = s[i++];
            name[k] = 0;
            const entity *e = k ? bsearch(name, entities, sizeof entities / sizeof *entities, sizeof *entities, cmp_entity)
                                : NULL;
            /* like browsers: the ';' may be missing for the legacy names, never inside words */
            if (e && (i >= len || s[i] == ';' || !((s[i] >= 'a' && s[i] <= 'z') || s[i] == '='))) {
                ok = true;
                cp = e->cp;
                if (i < len && s[i] == ';') i++;
            }
        }
        if (!ok) {
            s[w++] = s[r++];
            continue;
        }
        char enc[4];
        int n = jc_mn_utf8_encode(cp, enc);
        /* a reference is always at least as long as its encoding ("&#N;" >= 4 bytes, or a name) */
        if ((size_t)n > i - r) {
            s[w++] = s[r++];
            continue;
        }
        memcpy(s + w, enc, (size_t)n);
        w += (size_t)n;
        r = i;
    }
    s[w] = 0;
    return w;
}

static bool is_space_cp(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF || cp == 0x85;
}

size_t jc_text_normalize(char *s, size_t len)
{
    size_t r = 0, w = 0;
    bool pending_space = false;
    while (r < len) {
        uint32_t cp;
        int n = jc_mn_utf8_decode((const uint8_t *)s + r, len - r, &cp);
        bool space = is_space_cp(cp) || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x200C ||
                     cp == 0x200D;
        if (space) {
            if (w > 0) pending_space = true;
            r += (size_t)n;
            continue;
        }
        if (pending_space) {
            s[w++] = ' ';
            pending_space = false;
        }
        if (cp == 0xFFFD && !(n == 3 && (uint8_t)s[r] == 0xEF)) {
            /* invalid byte: write a real U+FFFD (3 bytes) — never longer than what it replaces
             * unless the input byte was single; then we cannot grow in place, so drop it */
            r += (size_t)n;
            continue;
        }
        memmove(s + w, s + r, (size_t)n);
        w += (size_t)n;
        r += (size_t)n;
    }
    s[w] = 0;
    return w;
}
