/*
 * charset.c — which encoding an HTML page is in, and conversion to UTF-8 with iconv.
 *
 * Order of trust, as browsers (HTML5 "encoding sniffing") apply it: a BOM, the HTTP
 * Content-Type charset, a <meta> declaration in the first 16 KiB; without any, valid UTF-8
 * is UTF-8 and anything else is windows-1252. Labels are mapped to the supersets browsers
 * really decode with: Shift_JIS -> CP932 (Windows-31J), gb2312/gbk -> GB18030,
 * iso-8859-1/us-ascii -> windows-1252, EUC-JP -> EUC-JP-MS (glibc's name for the Microsoft
 * variant, which covers the NEC/IBM extensions common on Japanese sites).
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mining/mining.h"

static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = jc_mn_utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1) {
            /* a sequence cut by the end of a clipped record is not evidence against UTF-8 */
            return n - i < 4 && (s[i] & 0xC0) == 0xC0;
        }
        i += (size_t)k;
    }
    return true;
}

/* Canonical iconv name for an HTML charset label (lower-case compare). */
static void canonical(const char *label, char *out, size_t out_size)
{
    char l[64];
    size_t n = 0;
    while (*label == ' ' || *label == '"' || *label == '\'') label++;
    for (; *label && n < sizeof l - 1; label++) {
        char c = (char)tolower((unsigned char)*label);
        if (c == '"' || c == '\'' || c == ';' || c == ' ' || c == ',' || c == '>' || c == '/') break;
        l[n++] = c;
    }
    l[n] = 0;
    static const struct {
        const char *label, *name;
    } map[] = {
        {"utf-8", "UTF-8"},           {"utf8", "UTF-8"},          {"unicode-1-1-utf-8", "UTF-8"},
        {"shift_jis", "CP932"},       {"shift-jis", "CP932"},     {"sjis", "CP932"},
        {"x-sjis", "CP932"},          {"ms_kanji", "CP932"},      {"windows-31j", "CP932"},
        {"cp932", "CP932"},           {"csshiftjis", "CP932"},    {"x-ms-cp932", "CP932"},
        {"euc-jp", "EUC-JP-MS"},      {"x-euc-jp", "EUC-JP-MS"},  {"eucjp", "EUC-JP-MS"},
        {"cseucpkdfmtjapanese", "EUC-JP-MS"}, {"iso-2022-jp", "ISO-2022-JP"}, {"csiso2022jp", "ISO-2022-JP"},
        {"gb2312", "GB18030"},        {"gbk", "GB18030"},         {"gb18030", "GB18030"},
        {"x-gbk", "GB18030"},         {"cp936", "GB18030"},       {"euc-cn", "GB18030"},
        {"big5", "BIG5-HKSCS"},       {"big5-hkscs", "BIG5-HKSCS"}, {"x-x-big5", "BIG5-HKSCS"},
        {"euc-kr", "CP949"},          {"ks_c_5601-1987", "CP949"}, {"cp949", "CP949"},
        {"iso-8859-1", "WINDOWS-1252"}, {"latin1", "WINDOWS-1252"}, {"us-ascii", "WINDOWS-1252"},
        {"ascii", "WINDOWS-1252"},    {"windows-1252", "WINDOWS-1252"},
    };
    /* a <meta> cannot truthfully declare UTF-16/32 (it would not be readable as ASCII): HTML5
     * says to read such pages as UTF-8 */
    if (strncmp(l, "utf-16", 6) == 0 || strncmp(l, "utf-32", 6) == 0 || strncmp(l, "ucs", 3) == 0) {
        snprintf(out, out_size, "UTF-8");
        return;
    }
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(l, map[i].label) == 0) {
            snprintf(out, out_size, "%s", map[i].name);
            return;
        }
    for (size_t i = 0; i < n; i++) l[i] = (char)toupper((unsigned char)l[i]);
    snprintf(out, out_size, "%s", n ? l : "UTF-8");
}

/* Finds "charset=" in s[0,n) and returns a pointer to the value, or NULL. */
static const char *find_charset(const char *s, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i++) {
        if (strncasecmp(s + i, "charset", 7) != 0) continue;
        size_t k = i + 7;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k < n && s[k] == '=') {
            k++;
            while (k < n && (s[k] == ' ' || s[k] == '"' || s[k] == '\'')) k++;
            if (k < n && isalnum((unsigned char)s[k])) return s + k;
        }
    }
    return NULL;
}

void jc_html_charset(const uint8_t *html, size_t len, const char *http_charset, char *out, size_t out_size)
{
    if (len >= 3 && html[0] == 0xEF && html[1] == 0xBB && html[2] == 0xBF) {
        snprintf(out, out_size, "UTF-8");
        return;
    }
    if (http_charset && *http_charset) {
        canonical(http_charset, out, out_size);
        return;
    }
    /* <meta charset=...> or <meta http-equiv="Content-Type" content="...; charset=..."> */
    size_t n = len < 16384 ? len : 16384;
    const char *s = (const char *)html;
    for (size_t i = 0; i + 5 < n; i++) {
        if (s[i] != '<' || strncasecmp(s + i + 1, "meta", 4) != 0) continue;
        const char *gt = memchr(s + i, '>', n - i);
        size_t tl = gt ? (size_t)(gt - (s + i)) : n - i;
        const char *cs = find_charset(s + i, tl);
        if (cs) {
            char lab[64];
            size_t k = 0;
            while (k < sizeof lab - 1 && cs + k < s + i + tl && (isalnum((unsigned char)cs[k]) || cs[k] == '-' || cs[k] == '_' || cs[k] == '.' || cs[k] == ':'))
                lab[k] = cs[k], k++;
            lab[k] = 0;
            canonical(lab, out, out_size);
            return;
        }
    }
    snprintf(out, out_size, "%s", valid_utf8(html, len) ? "UTF-8" : "WINDOWS-1252");
}

bool jc_charset_is_chinese_or_korean(const char *cs)
{
    return strncasecmp(cs, "GB", 2) == 0 || strncasecmp(cs, "BIG5", 4) == 0 || strcasecmp(cs, "CP949") == 0 ||
           strcasecmp(cs, "EUC-KR") == 0 || strcasecmp(cs, "CP936") == 0 || strcasecmp(cs, "HZ") == 0 ||
           strcasecmp(cs, "EUC-CN") == 0 || strcasecmp(cs, "EUC-TW") == 0;
}

bool jc_charset_is_japanese(const char *cs)
{
    return strcasecmp(cs, "CP932") == 0 || strncasecmp(cs, "EUC-JP", 6) == 0 || strcasecmp(cs, "ISO-2022-JP") == 0 ||
           strcasecmp(cs, "SHIFT_JIS") == 0;
}

/* UTF-8 to UTF-8: copy, replacing invalid sequences with U+FFFD. */
static char *utf8_clean(const uint8_t *in, size_t len, size_t *out_len)
{
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *o = malloc(len * 3 + 1);
    if (!o) return NULL;
    size_t w = 0, i = 0;
    while (i < len) {
        if (in[i] < 0x80) {
            o[w++] = in[i] ? (char)in[i] : ' ';
            i++;
            continue;
        }
        uint32_t cp;
        int k = jc_mn_utf8_decode(in + i, len - i, &cp);
        if (cp == 0xFFFD && k == 1) w += (size_t)jc_mn_utf8_encode(0xFFFD, o + w);
        else {
            memcpy(o + w, in + i, (size_t)k);
            w += (size_t)k;
        }
        i += (size_t)k;
    }
    o[w] = 0;
    *out_len = w;
    return o;
}

char *jc_to_utf8(const uint8_t *in, size_t len, const char *charset, size_t *out_len)
{
    if (strcasecmp(charset, "UTF-8") == 0) return utf8_clean(in, len, out_len);
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) return utf8_clean(in, len, out_len);
    /* UTF-8 output is at most 4 bytes per input byte for every charset we map to (and a
     * replacement char is 3 bytes for one skipped byte) */
    if (len > (SIZE_MAX - 1) / 4) {
        iconv_close(cd);
        return NULL;
    }
    size_t cap = len * 4 + 16;
    char *o = malloc(cap);
    if (!o) {
        iconv_close(cd);
        return NULL;
    }
    char *ip = (char *)in, *op = o;
    size_t il = len, ol = cap - 1;
    while (il > 0) {
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        if (r != (size_t)-1) break;
        if (errno == E2BIG) break; /* cannot happen with our bound; stop safely */
        /* EILSEQ or EINVAL (cut sequence): emit U+FFFD, skip one byte, reset the state */
        if (ol < 4) break;
        int k = jc_mn_utf8_encode(0xFFFD, op);
        op += k;
        ol -= (size_t)k;
        ip++;
        il--;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    iconv_close(cd);
    *op = 0;
    *out_len = (size_t)(op - o);
    /* NULs inside the text would cut C strings short */
    for (size_t i = 0; i < *out_len; i++)
        if (o[i] == 0) o[i] = ' ';
    return o;
}
