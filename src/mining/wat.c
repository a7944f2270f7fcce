/*
 * wat.c — image links from a Common Crawl WAT metadata record (the JSON that ia-web-commons
 * writes for each WARC response): Envelope.Payload-Metadata.HTTP-Response-Metadata.
 * HTML-Metadata.{Head{Title,Base,Metas}, Links[{path:"IMG@/src", url, alt, title}]}.
 *
 * Most WAT records are requests, metadata records or non-HTML responses without image
 * links; a substring test for "IMG@" skips them before the JSON parser runs, which is where
 * the miner's speed comes from (see bench/README.md "Mining").
 *
 * The page language comes from what the WAT keeps: the HTTP Content-Language and
 * Content-Type charset headers, a content-language <meta>, and script counts over the
 * title and the link texts and alts of the page.
 */
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "mining/mining.h"

static const cJSON *path_get(const cJSON *o, const char *const *keys)
{
    for (; o && *keys; keys++) o = cJSON_GetObjectItemCaseSensitive(o, *keys);
    return o;
}

static const char *str_of(const cJSON *o) { return cJSON_IsString(o) ? o->valuestring : NULL; }

static void count_str(const char *s, jc_script_counts *c)
{
    if (s) jc_script_count(s, strlen(s), c);
}

int jc_wat_images(const char *json, size_t len, const char *fallback_uri, const jc_ja_params *ja, jc_wat_fn cb,
                  void *ctx)
{
    if (!memmem(json, len, "IMG@", 4)) return 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return -1;
    static const char *const env_uri[] = {"Envelope", "WARC-Header-Metadata", "WARC-Target-URI", NULL};
    static const char *const resp[] = {"Envelope", "Payload-Metadata", "HTTP-Response-Metadata", NULL};
    const cJSON *hrm = path_get(root, resp);
    const cJSON *html = cJSON_GetObjectItemCaseSensitive(hrm, "HTML-Metadata");
    const cJSON *links = cJSON_GetObjectItemCaseSensitive(html, "Links");
    if (!cJSON_IsArray(links)) {
        cJSON_Delete(root);
        return 0;
    }
    jc_wat_page page = {0};
    page.page_url = str_of(path_get(root, env_uri));
    if (!page.page_url) page.page_url = fallback_uri;
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(html, "Head");
    page.title = str_of(cJSON_GetObjectItemCaseSensitive(head, "Title"));
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(head, "Base");
    page.base = str_of(base);
    if (!page.base && cJSON_IsObject(base)) {
        page.base = str_of(cJSON_GetObjectItemCaseSensitive(base, "href"));
        if (!page.base) page.base = str_of(cJSON_GetObjectItemCaseSensitive(base, "url"));
    }

    /* language evidence */
    const char *declared = NULL, *charset = NULL;
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(hrm, "Headers");
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (!h->string || !cJSON_IsString(h)) continue;
        if (strcasecmp(h->string, "Content-Language") == 0) declared = h->valuestring;
        else if (strcasecmp(h->string, "Content-Type") == 0) {
            const char *cs = strcasestr(h->valuestring, "charset=");
            if (cs) charset = cs + 8;
        }
    }
    const cJSON *metas = cJSON_GetObjectItemCaseSensitive(head, "Metas");
    cJSON_ArrayForEach(h, metas)
    {
        const char *name = str_of(cJSON_GetObjectItemCaseSensitive(h, "name"));
        if (!name) name = str_of(cJSON_GetObjectItemCaseSensitive(h, "http-equiv"));
        const char *content = str_of(cJSON_GetObjectItemCaseSensitive(h, "content"));
        if (!name || !content) continue;
        if (strcasecmp(name, "content-language") == 0 || strcasecmp(name, "language") == 0) declared = content;
        else if (strcasecmp(name, "content-type") == 0 && !charset) {
            const char *cs = strcasestr(content, "charset=");
            if (cs) charset = cs + 8;
        }
    }
    jc_script_counts text = {0};
    count_str(page.title, &text);
    const cJSON *l;
    cJSON_ArrayForEach(l, links)
    {
        count_str(str_of(cJSON_GetObjectItemCaseSensitive(l, "text")), &text);
        count_str(str_of(cJSON_GetObjectItemCaseSensitive(l, "alt")), &text);
        count_str(str_of(cJSON_GetObjectItemCaseSensitive(l, "title")), &text);
    }
    char cs_buf[64] = "";
    if (charset) {
        size_t k = 0;
        while (charset[k] && charset[k] != ';' && charset[k] != ' ' && k < sizeof cs_buf - 1) k++;
        memcpy(cs_buf, charset, k);
        cs_buf[k] = 0;
        /* map labels such as "Shift_JIS" to the names jc_page_language knows */
        if (strcasecmp(cs_buf, "shift_jis") == 0 || strcasecmp(cs_buf, "sjis") == 0 ||
            strcasecmp(cs_buf, "windows-31j") == 0)
            snprintf(cs_buf, sizeof cs_buf, "CP932");
    }
    page.lang = jc_page_language(declared, cs_buf, &text, ja);

    int n = 0;
    cJSON_ArrayForEach(l, links)
    {
        const char *path = str_of(cJSON_GetObjectItemCaseSensitive(l, "path"));
        if (!path || strcmp(path, "IMG@/src") != 0) continue;
        const char *url = str_of(cJSON_GetObjectItemCaseSensitive(l, "url"));
        if (!url) continue;
        n++;
        if (cb) cb(ctx, &page, url, str_of(cJSON_GetObjectItemCaseSensitive(l, "alt")));
    }
    cJSON_Delete(root);
    return n;
}
