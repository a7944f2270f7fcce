/*
 * test_mining_units.c — the building blocks of `jaclip mine`: RFC 3986 resolution (against
 * the RFC's own §5.4 examples), HTML entities, whitespace normalisation, charset sniffing and
 * conversion (iconv), the <img> tokenizer, srcset choice, the Japanese rule and the
 * persistent dedup set.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/base.h"
#include "io/warc.h"
#include "mining/mining.h"
#include "testutil.h"

#define NEED(cond, ...)                                                                            \
    do {                                                                                           \
        bool need_ok_ = (cond);                                                                    \
        CHECK(need_ok_, __VA_ARGS__);                                                              \
        if (!need_ok_) return;                                                                     \
    } while (0)

static void test_url(void)
{
    /* RFC 3986 §5.4.1 and §5.4.2, base http://a/b/c/d;p?q. Two deliberate differences, both
     * equivalent for HTTP: fragments are dropped, and an empty path becomes "/". */
    static const char *cases[][2] = {
        {"g:h", "g:h"},           {"g", "http://a/b/c/g"},        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"}, {"/g", "http://a/g"},          {"//g", "http://g/"},
        {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"}, {"#s", "http://a/b/c/d;p?q"},
        {"g#s", "http://a/b/c/g"}, {"g?y#s", "http://a/b/c/g?y"}, {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"}, {"g;x?y#s", "http://a/b/c/g;x?y"}, {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},   {"./", "http://a/b/c/"},        {"..", "http://a/b/"},
        {"../", "http://a/b/"},   {"../g", "http://a/b/g"},       {"../..", "http://a/"},
        {"../../", "http://a/"},  {"../../g", "http://a/g"},
        /* abnormal examples */
        {"../../../g", "http://a/g"}, {"../../../../g", "http://a/g"}, {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},  {"g.", "http://a/b/c/g."},      {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."}, {"..g", "http://a/b/c/..g"}, {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"}, {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"}, {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g"}, {"http:g", "http:g"},
        /* browser habits */
        {"  /img/a b.jpg \n", "http://a/img/a%20b.jpg"}, {"\\img\\x.png", "http://a/img/x.png"},
        {"/写真.jpg", "http://a/%E5%86%99%E7%9C%9F.jpg"}, {"HTTPS://EXAMPLE.COM/A", "https://example.com/A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *r = jc_url_resolve("http://a/b/c/d;p?q", cases[i][0]);
        CHECK(r && strcmp(r, cases[i][1]) == 0, "resolve '%s': got '%s', want '%s'", cases[i][0], r ? r : "(null)",
              cases[i][1]);
        free(r);
    }
    CHECK(jc_url_resolve(NULL, "img.png") == NULL, "relative without base fails");
    CHECK(jc_url_is_http("https://x.jp/a"), "https ok");
    CHECK(!jc_url_is_http("http:g") && !jc_url_is_http("ftp://x/a") && !jc_url_is_http("javascript:void(0)") &&
              !jc_url_is_http("http:///a") && !jc_url_is_http("data:image/png;base64,xx"),
          "non-http rejected");
}

static void test_text(void)
{
    char s[256];
    snprintf(s, sizeof s, "ペン&amp;インク &lt;b&gt; &#x3042;&#12356; &copy &notanentity; &#151; &#0;");
    jc_html_unescape(s, strlen(s));
    CHECK(strcmp(s, "ペン&インク <b> あい © &notanentity; \xe2\x80\x94 \xef\xbf\xbd") == 0, "unescape: '%s'", s);
    snprintf(s, sizeof s, "a&amp b&ampc");
    jc_html_unescape(s, strlen(s));
    CHECK(strcmp(s, "a& b&ampc") == 0, "legacy &amp without ';' (attribute rules): '%s'", s);
    snprintf(s, sizeof s, "x?a=1&copy=2");
    jc_html_unescape(s, strlen(s));
    CHECK(strcmp(s, "x?a=1&copy=2") == 0, "'&copy=' in a URL query is left alone: '%s'", s);
    snprintf(s, sizeof s, " \t 東京\xe3\x80\x80タワー\n\n夜景\xc2\xa0 \xff!  ");
    jc_text_normalize(s, strlen(s));
    CHECK(strcmp(s, "東京 タワー 夜景 !") == 0, "normalize: '%s'", s);
    CHECK(jc_mn_utf8_count("富士山abc") == 6, "utf8 count");
}

static void test_charset(void)
{
    char cs[64];
    const char *html = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">";
    jc_html_charset((const uint8_t *)html, strlen(html), NULL, cs, sizeof cs);
    CHECK(strcmp(cs, "CP932") == 0, "meta http-equiv Shift_JIS -> %s", cs);
    jc_html_charset((const uint8_t *)html, strlen(html), "EUC-JP", cs, sizeof cs);
    CHECK(strcmp(cs, "EUC-JP-MS") == 0, "HTTP charset wins -> %s", cs);
    const char *h2 = "<meta charset='gb2312'>";
    jc_html_charset((const uint8_t *)h2, strlen(h2), NULL, cs, sizeof cs);
    CHECK(strcmp(cs, "GB18030") == 0 && jc_charset_is_chinese_or_korean(cs), "gb2312 -> %s", cs);
    const uint8_t latin[] = "caf\xe9 au lait";
    jc_html_charset(latin, sizeof latin - 1, NULL, cs, sizeof cs);
    CHECK(strcmp(cs, "WINDOWS-1252") == 0, "invalid UTF-8 without declaration -> %s", cs);
    /* 富士山の写真 in Shift_JIS and EUC-JP (bytes from the JIS tables) */
    const uint8_t sjis[] = {0x95, 0x78, 0x8e, 0x6d, 0x8e, 0x52, 0x82, 0xcc, 0x8e, 0xca, 0x90, 0x5e};
    const uint8_t euc[] = {0xc9, 0xd9, 0xbb, 0xce, 0xbb, 0xb3, 0xa4, 0xce, 0xbc, 0xcc, 0xbf, 0xbf};
    size_t n;
    char *u = jc_to_utf8(sjis, sizeof sjis, "CP932", &n);
    CHECK(u && strcmp(u, "富士山の写真") == 0, "Shift_JIS -> '%s'", u ? u : "(null)");
    free(u);
    u = jc_to_utf8(euc, sizeof euc, "EUC-JP-MS", &n);
    CHECK(u && strcmp(u, "富士山の写真") == 0, "EUC-JP -> '%s'", u ? u : "(null)");
    free(u);
    const uint8_t bad[] = {0x95, 0x78, 0xff, 0x8e, 0x6d};
    u = jc_to_utf8(bad, sizeof bad, "CP932", &n);
    CHECK(u && strcmp(u, "富\xef\xbf\xbd士") == 0, "invalid byte -> U+FFFD: '%s'", u ? u : "(null)");
    free(u);
}

typedef struct imgs {
    int n;
    char src[8][128], alt[8][128], pick[8][128];
} imgs;

static void on_img(void *ctx, const jc_html_img *im)
{
    imgs *v = ctx;
    if (v->n >= 8) return;
    snprintf(v->src[v->n], 128, "%s", im->src ? im->src : "(none)");
    snprintf(v->alt[v->n], 128, "%s", im->alt ? im->alt : "(none)");
    char buf[256];
    const char *p = jc_img_pick_url(im, buf, sizeof buf);
    snprintf(v->pick[v->n], 128, "%s", p ? p : "(none)");
    v->n++;
}

static void test_html(void)
{
    const char *h = "<!DOCTYPE html><html lang=\"ja-JP\"><head><title>タイトル &amp; 見出し</title>"
                    "<base href=\"https://ex.jp/dir/\"><script>var s = '<img src=no.png alt=x>';</script>"
                    "<!-- <img src=\"comment.png\" alt=\"c\"> --></head><body>"
                    "<IMG SRC=a.png ALT=犬>"
                    "<img alt='猫 &quot;たま&quot;' src=\"b.png\" alt=\"second alt ignored\"/>"
                    "<img src=\"data:image/gif;base64,AAAA\" data-src=\"lazy.jpg\" alt=\"遅延\">"
                    "<img srcset=\"s.jpg 1x, l.jpg 2x\" alt=\"密度\">"
                    "<img srcset=\"w1.jpg 100w,w3.jpg 300w, w2.jpg 200w\">"
                    "<style>img{}</style><img src=\"last.png\" alt=\"最後\"";
    imgs v = {0};
    jc_html_info info;
    int n = jc_html_images(h, strlen(h), &info, on_img, &v);
    CHECK(n == 6, "6 <img> outside comments/scripts, got %d", n);
    CHECK(info.title && strcmp(info.title, "タイトル & 見出し") == 0, "title '%s'", info.title ? info.title : "");
    CHECK(info.base && strcmp(info.base, "https://ex.jp/dir/") == 0, "base");
    CHECK(info.lang && strcmp(info.lang, "ja-JP") == 0, "lang");
    CHECK(strcmp(v.src[0], "a.png") == 0 && strcmp(v.alt[0], "犬") == 0, "upper-case unquoted attributes");
    CHECK(strcmp(v.alt[1], "猫 \"たま\"") == 0, "first alt wins, entities decoded: %s", v.alt[1]);
    CHECK(strcmp(v.pick[2], "lazy.jpg") == 0, "data-src preferred over a data: src");
    CHECK(strcmp(v.pick[3], "l.jpg") == 0, "srcset: largest density, got %s", v.pick[3]);
    CHECK(strcmp(v.pick[4], "w3.jpg") == 0 && strcmp(v.alt[4], "(none)") == 0, "srcset: largest width, got %s",
          v.pick[4]);
    CHECK(strcmp(v.src[5], "last.png") == 0, "tag cut by the end of a clipped page still reported");
    jc_html_info_free(&info);
}

static void test_japanese(void)
{
    jc_ja_params p = jc_ja_default_params();
    const char *why = NULL;
    CHECK(jc_is_japanese("富士山", JC_LANG_UNKNOWN, &p, &why), "kanji-only 富士山 on an unknown page");
    CHECK(jc_is_japanese("富士山", JC_LANG_JA, &p, &why), "kanji-only 富士山 on a Japanese page");
    CHECK(jc_is_japanese("東京都庁", JC_LANG_OTHER, &p, &why), "東京都庁 on a page declared lang=en");
    CHECK(!jc_is_japanese("富士山", JC_LANG_ZH_KO, &p, &why), "kanji-only on a Chinese page");
    CHECK(!jc_is_japanese("首页", JC_LANG_UNKNOWN, &p, &why), "首页: 页 is simplified-only");
    CHECK(!jc_is_japanese("點擊這裡", JC_LANG_UNKNOWN, &p, &why), "traditional 點擊這裡");
    CHECK(!jc_is_japanese("点击这里给我发消息", JC_LANG_UNKNOWN, &p, &why), "simplified sentence");
    CHECK(!jc_is_japanese("微博", JC_LANG_ZH_KO, &p, &why), "微博 on a Chinese page");
    CHECK(!jc_is_japanese("中华人民共和国国务院新闻办公室发布会", JC_LANG_UNKNOWN, &p, &why), "long kanji-only");
    CHECK(jc_is_japanese("東京タワーの夜景", JC_LANG_ZH_KO, &p, &why), "kana wins even on a Chinese page");
    CHECK(jc_is_japanese("ｶﾀｶﾅ", JC_LANG_UNKNOWN, &p, &why), "half-width katakana");
    CHECK(jc_is_japanese("iPhone 15の写真", JC_LANG_UNKNOWN, &p, &why), "mixed Latin + Japanese");
    CHECK(!jc_is_japanese("Photo of the Tokyo tower at night の", JC_LANG_UNKNOWN, &p, &why), "English with one kana");
    CHECK(!jc_is_japanese("서울 타워 タ", JC_LANG_UNKNOWN, &p, &why), "Korean");
    CHECK(!jc_is_japanese("Hovenier", JC_LANG_UNKNOWN, &p, &why), "Latin");
    CHECK(!jc_is_japanese("・・・", JC_LANG_UNKNOWN, &p, &why), "punctuation only");
    p.max_kanji_only = 0;
    CHECK(!jc_is_japanese("富士山", JC_LANG_JA, &p, &why), "--ja-max-kanji 0 disables kanji-only");
    CHECK(jc_kanji_in_jis0208(0x5BCC) && !jc_kanji_in_jis0208(0x9875) && !jc_kanji_in_jis0208(0x8AAA) &&
              !jc_kanji_in_jis0208(0x64CA) && jc_kanji_in_jis0208(0x5011),
          "JIS X 0208: 富 yes, 页 no, 說 no, 擊 no (JIS X 0212 only), 們 yes (level 2)");

    jc_ja_params d = jc_ja_default_params();
    jc_script_counts zh = {0}, ja = {0};
    const char *zt = "中华人民共和国国务院新闻办公室今天举行新闻发布会介绍有关情况并回答记者提问";
    const char *jt = "今日は東京で新しい展示会が開かれ、多くの人が訪れました。";
    jc_script_count(zt, strlen(zt), &zh);
    jc_script_count(jt, strlen(jt), &ja);
    CHECK(jc_page_language(NULL, NULL, &zh, &d) == JC_LANG_ZH_KO, "Chinese page text");
    CHECK(jc_page_language(NULL, NULL, &ja, &d) == JC_LANG_JA, "Japanese page text");
    CHECK(jc_page_language("en", NULL, &ja, &d) == JC_LANG_JA, "Japanese text beats a template lang=en");
    CHECK(jc_page_language("zh-CN", "UTF-8", &ja, &d) == JC_LANG_ZH_KO, "declared zh");
    CHECK(jc_page_language(NULL, "GB18030", NULL, &d) == JC_LANG_ZH_KO, "GB charset");
    CHECK(jc_page_language(NULL, "CP932", NULL, &d) == JC_LANG_JA, "Shift_JIS charset");
    CHECK(jc_page_language("nl", NULL, NULL, &d) == JC_LANG_OTHER, "declared other");
}

static void test_dedup(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/seen.dedup", test_tmpdir());
    jaclip_err err;
    jc_dedup *d;
    NEED(jc_dedup_open(path, &d, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_dedup_add(d, "https://a/1.jpg", NULL), "new");
    CHECK(!jc_dedup_add(d, "https://a/1.jpg", NULL), "dup");
    CHECK(jc_dedup_add(d, "https://a/1.jpg", "猫"), "url+caption is another key");
    char u[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(u, sizeof u, "https://b/%d.jpg", i);
        jc_dedup_add(d, u, NULL);
    }
    CHECK(jc_dedup_size(d) == 5002, "size %llu", (unsigned long long)jc_dedup_size(d));
    CHECK(jc_dedup_commit(d, &err) == JACLIP_OK, "%s", err.msg);
    jc_dedup_free(d);
    /* a second run sees everything; an interrupted append (half entry) is tolerated */
    FILE *f = fopen(path, "ab");
    fwrite("abc", 1, 3, f);
    fclose(f);
    NEED(jc_dedup_open(path, &d, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_dedup_loaded(d) == 5002, "loaded %llu", (unsigned long long)jc_dedup_loaded(d));
    CHECK(!jc_dedup_add(d, "https://b/4999.jpg", NULL) && !jc_dedup_add(d, "https://a/1.jpg", "猫"), "persisted");
    CHECK(jc_dedup_add(d, "https://c/new.jpg", NULL), "new key in run 2");
    CHECK(jc_dedup_commit(d, &err) == JACLIP_OK, "%s", err.msg);
    jc_dedup_free(d);
    NEED(jc_dedup_open(path, &d, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_dedup_loaded(d) == 5003, "after run 2: %llu", (unsigned long long)jc_dedup_loaded(d));
    jc_dedup_free(d);
    /* not a dedup file */
    snprintf(path, sizeof path, "%s/bogus.dedup", test_tmpdir());
    f = fopen(path, "wb");
    fputs("hello world", f);
    fclose(f);
    CHECK(jc_dedup_open(path, &d, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "bogus.dedup"), "bad file named");
}

typedef struct pairs {
    int n;
    char url[4][128], cap[4][128];
    bool ja[4];
} pairs;

static void on_pair(void *ctx, const jc_pair *p)
{
    pairs *v = ctx;
    if (v->n >= 4) return;
    snprintf(v->url[v->n], 128, "%s", p->url);
    snprintf(v->cap[v->n], 128, "%s", p->caption);
    v->ja[v->n] = p->japanese;
    v->n++;
}

/* A response with Transfer-Encoding: chunked over Content-Encoding: gzip over Shift_JIS. */
static void test_http_bodies(void)
{
    /* <html><img src="a.jpg" alt="犬の写真"></html> with 犬の写真 in Shift_JIS */
    const char html[] = "<html><body><img src=\"a.jpg\" alt=\"\x8c\xa2\x82\xcc\x8e\xca\x90\x5e\"></body></html>";
    uint8_t gz[512];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)html;
    z.avail_in = (uInt)strlen(html);
    z.next_out = gz;
    z.avail_out = sizeof gz;
    deflate(&z, Z_FINISH);
    size_t gl = sizeof gz - z.avail_out;
    deflateEnd(&z);
    char block[2048];
    size_t h = (size_t)snprintf(block, sizeof block,
                                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=Shift_JIS\r\n"
                                "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n");
    size_t half = gl / 2;
    h += (size_t)snprintf(block + h, sizeof block - h, "%zx\r\n", half);
    memcpy(block + h, gz, half);
    h += half;
    h += (size_t)snprintf(block + h, sizeof block - h, "\r\n%zx\r\n", gl - half);
    memcpy(block + h, gz + half, gl - half);
    h += gl - half;
    h += (size_t)snprintf(block + h, sizeof block - h, "\r\n0\r\n\r\n");
    jc_warc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = "response";
    rec.content_type = "application/http; msgtype=response";
    rec.target_uri = "https://ex.jp/dir/page.html";
    rec.block = (const uint8_t *)block;
    rec.block_len = h;
    jc_mine_params p = jc_mine_default_params();
    p.from_html = true;
    jc_mine_stats st = {0};
    pairs v = {0};
    jc_mine_record(&p, "test", &rec, on_pair, &v, &st);
    CHECK(v.n == 1 && strcmp(v.url[0], "https://ex.jp/dir/a.jpg") == 0 && strcmp(v.cap[0], "犬の写真") == 0 && v.ja[0],
          "chunked + gzip + Shift_JIS body: n=%d url=%s cap=%s", v.n, v.n ? v.url[0] : "", v.n ? v.cap[0] : "");
    /* a 404 page and a non-HTML body yield nothing */
    memcpy(block, "HTTP/1.1 404 Not", 16);
    v.n = 0;
    jc_mine_record(&p, "test", &rec, on_pair, &v, &st);
    CHECK(v.n == 0, "404 response ignored");
}

static void test_sha256(void)
{
    /* FIPS 180-4 examples */
    char h[65];
    jc_sha256_hex("", 0, h);
    CHECK(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "sha256('') %s", h);
    jc_sha256_hex("abc", 3, h);
    CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256(abc) %s", h);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two-block padding */
    jc_sha256_hex(m, strlen(m), h);
    CHECK(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "sha256(56 B) %s", h);
}

int main(void)
{
    test_sha256();
    test_http_bodies();
    test_url();
    test_text();
    test_charset();
    test_html();
    test_japanese();
    test_dedup();
    return test_done();
}
