/*
 * test_wat.c — the real whirlwind WAT (CC-MAIN-2024-22): WARC headers of its warcinfo and
 * metadata records, its JSON payload (Container/Envelope as Common Crawl writes them), and
 * jc_wat_images on it (a request entry: no HTML-Metadata, so no images) and on a small
 * hand-written record in the Links layout of algorithms.md §7.1.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "io/warc.h"
#include "mining/mining.h"
#include "testutil.h"

typedef struct got {
    int n;
    char url[4][128], alt[4][128], page[128], base[128], title[128];
    jc_page_lang lang;
} got;

static void on_img(void *ctx, const jc_wat_page *p, const char *src, const char *alt)
{
    got *g = ctx;
    if (g->n >= 4) return;
    snprintf(g->url[g->n], 128, "%s", src);
    snprintf(g->alt[g->n], 128, "%s", alt ? alt : "(none)");
    snprintf(g->page, 128, "%s", p->page_url ? p->page_url : "");
    snprintf(g->base, 128, "%s", p->base ? p->base : "");
    snprintf(g->title, 128, "%s", p->title ? p->title : "");
    g->lang = p->lang;
    g->n++;
}

int main(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/commoncrawl/whirlwind.warc.wat.gz", test_shared());
    jc_warc_reader *r;
    jaclip_err err;
    REQUIRE(jc_warc_open(path, NULL, &r, &err) == JACLIP_OK, "%s", err.msg);
    jc_warc_record rec;
    bool eof;
    REQUIRE(jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && !eof, "warcinfo");
    CHECK(strcmp(rec.type, "warcinfo") == 0, "type %s", rec.type);
    const char *fn = jc_warc_field_get(&rec, "WARC-Filename");
    CHECK(fn && strcmp(fn, "CC-MAIN-20240517233122-20240518023122-00000.warc.wat.gz") == 0, "WARC-Filename");
    CHECK(strcmp(rec.content_type, "application/warc-fields") == 0 && rec.content_length == 278, "warcinfo headers");
    CHECK(memmem(rec.block, rec.block_len, "Software-Info: ia-web-commons", 29) != NULL, "warcinfo block");

    REQUIRE(jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && !eof, "metadata");
    CHECK(strcmp(rec.type, "metadata") == 0 && strcmp(rec.content_type, "application/json") == 0, "metadata headers");
    CHECK(strcmp(rec.target_uri, "https://an.wikipedia.org/wiki/Escopete") == 0, "target %s", rec.target_uri);
    const char *rt = jc_warc_field_get(&rec, "WARC-Refers-To");
    CHECK(rt && strcmp(rt, "<urn:uuid:292f457d-203c-42f2-a1b5-69a4dabefd4f>") == 0, "WARC-Refers-To");
    CHECK(rec.block_len == 1386 && rec.content_length == 1386, "JSON block is whole: %zu", rec.block_len);
    cJSON *j = cJSON_ParseWithLength((const char *)rec.block, rec.block_len);
    REQUIRE(j != NULL, "WAT JSON parses");
    const cJSON *off = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Container"), "Offset");
    CHECK(cJSON_IsString(off) && strcmp(off->valuestring, "80610308") == 0, "Container.Offset");
    const cJSON *wh = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "Envelope"), "WARC-Header-Metadata");
    const cJSON *wt = cJSON_GetObjectItem(wh, "WARC-Type");
    CHECK(cJSON_IsString(wt) && strcmp(wt->valuestring, "request") == 0, "the entry describes the request");
    cJSON_Delete(j);
    jc_ja_params ja = jc_ja_default_params();
    got g = {0};
    CHECK(jc_wat_images((const char *)rec.block, rec.block_len, rec.target_uri, &ja, on_img, &g) == 0 && g.n == 0,
          "no images in a request entry");
    CHECK(jc_warc_next(r, &rec, &eof, &err) == JACLIP_OK && eof, "end");
    jc_warc_close(r);

    /* a response entry in the Links layout (hand-written) */
    const char *js =
        "{\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":\"https://ex.jp/a/b.html\"},"
        "\"Payload-Metadata\":{\"HTTP-Response-Metadata\":{\"Headers\":{\"Content-Type\":\"text/html; charset=Shift_JIS\"},"
        "\"HTML-Metadata\":{\"Head\":{\"Title\":\"写真\",\"Base\":\"/img/\"},\"Links\":["
        "{\"path\":\"A@/href\",\"url\":\"/x\",\"text\":\"リンク\"},"
        "{\"path\":\"IMG@/src\",\"url\":\"p1.jpg\",\"alt\":\"富士山\"},"
        "{\"path\":\"IMG@/src\",\"url\":\"//cdn.ex.jp/p2.jpg\"},"
        "{\"path\":\"IMG@/longdesc\",\"url\":\"d.html\"}]}}}}}";
    CHECK(jc_wat_images(js, strlen(js), NULL, &ja, on_img, &g) == 2 && g.n == 2, "two IMG@/src entries");
    CHECK(strcmp(g.url[0], "p1.jpg") == 0 && strcmp(g.alt[0], "富士山") == 0, "entry 1");
    CHECK(strcmp(g.url[1], "//cdn.ex.jp/p2.jpg") == 0 && strcmp(g.alt[1], "(none)") == 0, "entry 2 without alt");
    CHECK(strcmp(g.page, "https://ex.jp/a/b.html") == 0 && strcmp(g.base, "/img/") == 0 && strcmp(g.title, "写真") == 0,
          "page facts");
    CHECK(g.lang == JC_LANG_JA, "Shift_JIS charset header -> Japanese page");
    CHECK(jc_wat_images("{\"IMG@\":", 8, NULL, &ja, on_img, &g) == -1, "broken JSON reported");
    return test_done();
}
