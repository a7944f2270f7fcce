/*
 * japanese.c — is this alt text Japanese? A script-based rule, because alt texts are a few
 * characters long and statistical detectors (fastText, CLD2) are unreliable there.
 *
 * The rule (thresholds are jc_ja_params, exposed as `jaclip mine` flags):
 *  1. Count kana (hiragana, katakana, half-width katakana), kanji (CJK ideographs incl.
 *     extension A/B+, compatibility ideographs, 々 〇 〻), hangul and "letters" (every
 *     character that is not white space, punctuation, a symbol or a digit).
 *  2. With kana: Japanese iff (kana+kanji)/letters >= min_ratio (0.3) and hangul does not
 *     outnumber kana. Chinese text practically never contains kana, Japanese prose always does.
 *  3. Kanji but no kana (富士山, 東京都庁): Japanese only if the text is short
 *     (letters <= max_kanji_only, 12) and mostly kanji, every kanji is in JIS X 0208, the
 *     Japanese standard set (this rejects simplified-only forms such as 页 们 这 说 and
 *     the traditional forms outside it such as 說 擊 嗎; many traditional forms such as 們
 *     are in JIS level 2, which is why the page rule below matters), and the page is not Chinese or Korean.
 *     A page is Chinese/Korean when it says so (lang zh/ko), when its charset is GB/Big5/
 *     EUC-KR, or when its text has >= 30 kanji with kana under 2% of its CJK characters:
 *     on such a page 微博 is Chinese even though both characters exist in Japanese. A page
 *     is Japanese by lang ja, a Japanese charset, or kana in >= 10% of its CJK text; that
 *     verdict is what lets Japanese pages declared lang="en" by a template still count.
 *
 * The JIS X 0208 membership table is computed once (pthread_once) with iconv to EUC-JP: a
 * character is in JIS X 0208 iff it encodes as two bytes >= 0xA1 (three-byte 0x8F sequences
 * are JIS X 0212, which holds the traditional forms we want to exclude).
 */
#include <ctype.h>
#include <iconv.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mining/mining.h"

jc_ja_params jc_ja_default_params(void)
{
    jc_ja_params p;
    p.min_ratio = 0.3;
    p.max_kanji_only = 12;
    p.page_kana_ratio = 0.1;
    p.page_zh_ratio = 0.02;
    return p;
}

static bool is_kana(uint32_t c)
{
    return (c >= 0x3041 && c <= 0x309F) || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x30FC && c <= 0x30FF) ||
           (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F);
}

static bool is_kanji(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x3134F) || c == 0x3005 || c == 0x3007 || c == 0x303B;
}

static bool is_hangul(uint32_t c)
{
    return (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F);
}

/* Not a letter: white space, ASCII punctuation and digits, general punctuation, symbols,
 * CJK punctuation, full-width punctuation and digits, private use, emoji. */
static bool is_letter(uint32_t c)
{
    if (c < 0x80) return isalpha((int)c) != 0;
    if (is_kana(c) || is_kanji(c) || is_hangul(c)) return true;
    if (c < 0xC0) return false; /* Latin-1 punctuation and symbols */
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;
    if (c >= 0x3000 && c <= 0x303F) return false;
    if (c == 0x30FB || c == 0x30A0) return false;
    if (c >= 0xFF00 && c <= 0xFF20) return false;
    if (c >= 0xFF3B && c <= 0xFF40) return false;
    if (c >= 0xFF5B && c <= 0xFF65) return false;
    if (c >= 0xFE30 && c <= 0xFE4F) return false;
    if (c >= 0xE000 && c <= 0xF8FF) return false;
    if (c >= 0x1F000 && c <= 0x1FAFF) return false;
    if (c == 0xFFFD || c == 0xFEFF) return false;
    return true;
}

void jc_script_count(const char *utf8, size_t len, jc_script_counts *c)
{
    const uint8_t *s = (const uint8_t *)utf8;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            if (isalpha(s[i])) c->letters++;
            i++;
            continue;
        }
        uint32_t cp;
        i += (size_t)jc_mn_utf8_decode(s + i, len - i, &cp);
        if (!is_letter(cp)) continue;
        c->letters++;
        if (is_kana(cp)) c->kana++;
        else if (is_kanji(cp)) c->kanji++;
        else if (is_hangul(cp)) c->hangul++;
    }
}

/* ---- JIS X 0208 membership ---------------------------------------------------------------- */

#define JIS_LO 0x3400u
#define JIS_HI 0xFAFFu
static uint8_t jis_bits[(JIS_HI - JIS_LO + 1 + 7) / 8];
static pthread_once_t jis_once = PTHREAD_ONCE_INIT;

static void jis_build(void)
{
    iconv_t cd = iconv_open("EUC-JP", "UTF-8");
    if (cd == (iconv_t)-1) return; /* table stays empty: kanji-only on unknown pages rejected */
    for (uint32_t cp = JIS_LO; cp <= JIS_HI; cp++) {
        if (!is_kanji(cp)) continue;
        char in[4], out[8];
        int n = jc_mn_utf8_encode(cp, in);
        char *ip = in, *op = out;
        size_t il = (size_t)n, ol = sizeof out;
        iconv(cd, NULL, NULL, NULL, NULL);
        if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) continue;
        size_t w = sizeof out - ol;
        if (w == 2 && (uint8_t)out[0] >= 0xA1 && (uint8_t)out[1] >= 0xA1)
            jis_bits[(cp - JIS_LO) >> 3] |= (uint8_t)(1u << ((cp - JIS_LO) & 7));
    }
    iconv_close(cd);
}

bool jc_kanji_in_jis0208(uint32_t cp)
{
    if (cp < JIS_LO || cp > JIS_HI) return false;
    pthread_once(&jis_once, jis_build);
    return (jis_bits[(cp - JIS_LO) >> 3] >> ((cp - JIS_LO) & 7)) & 1;
}

/* ---- page language and the rule ----------------------------------------------------------- */

jc_page_lang jc_page_language(const char *declared, const char *charset, const jc_script_counts *text,
                              const jc_ja_params *p)
{
    bool declared_other = false;
    if (declared && *declared) {
        while (*declared == ' ' || *declared == '"' || *declared == '\'') declared++;
        if (strncasecmp(declared, "ja", 2) == 0 || strncasecmp(declared, "jp", 2) == 0) return JC_LANG_JA;
        if (strncasecmp(declared, "zh", 2) == 0 || strncasecmp(declared, "ko", 2) == 0 ||
            strncasecmp(declared, "cn", 2) == 0)
            return JC_LANG_ZH_KO;
        declared_other = isalpha((unsigned char)declared[0]) && strncasecmp(declared, "und", 3) != 0 &&
                         strncasecmp(declared, "mul", 3) != 0 && strncasecmp(declared, "x-", 2) != 0;
    }
    if (charset && *charset) {
        if (jc_charset_is_japanese(charset)) return JC_LANG_JA;
        if (jc_charset_is_chinese_or_korean(charset)) return JC_LANG_ZH_KO;
    }
    if (text) {
        uint64_t cjk = text->kana + text->kanji;
        double kana_share = cjk ? (double)text->kana / (double)cjk : 0;
        if (text->hangul >= 30 && text->hangul > cjk) return JC_LANG_ZH_KO;
        if (cjk >= 20 && kana_share >= p->page_kana_ratio) return JC_LANG_JA;
        if (text->kanji >= 30 && kana_share < p->page_zh_ratio) return JC_LANG_ZH_KO;
    }
    return declared_other ? JC_LANG_OTHER : JC_LANG_UNKNOWN;
}

bool jc_is_japanese(const char *utf8, jc_page_lang page, const jc_ja_params *p, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    jc_script_counts c = {0};
    size_t len = strlen(utf8);
    jc_script_count(utf8, len, &c);
    if (c.letters == 0) {
        *why = "no letters";
        return false;
    }
    if (c.hangul > 0 && c.hangul >= c.kana) {
        *why = "Korean (hangul)";
        return false;
    }
    double ratio = (double)(c.kana + c.kanji) / (double)c.letters;
    if (c.kana > 0) {
        if (ratio >= p->min_ratio) return true;
        *why = "too few Japanese characters";
        return false;
    }
    if (c.kanji == 0) {
        *why = "no kana or kanji";
        return false;
    }
    if (p->max_kanji_only <= 0) {
        *why = "kanji without kana";
        return false;
    }
    if (c.letters > (uint64_t)p->max_kanji_only) {
        *why = "long text in kanji without kana";
        return false;
    }
    if (ratio < p->min_ratio) {
        *why = "too few Japanese characters";
        return false;
    }
    if (page == JC_LANG_ZH_KO) {
        *why = "kanji without kana on a Chinese/Korean page";
        return false;
    }
    const uint8_t *s = (const uint8_t *)utf8;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)jc_mn_utf8_decode(s + i, len - i, &cp);
        if (cp != 0x3005 && cp != 0x3007 && cp != 0x303B && is_kanji(cp) && !jc_kanji_in_jis0208(cp)) {
            *why = "kanji outside JIS X 0208 (a Chinese form)";
            return false;
        }
    }
    return true;
}
