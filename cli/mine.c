/* mine.c — `jaclip mine`: Common Crawl WAT/WARC files -> image/alt-text pairs (JSONL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mining/mining.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip mine FILE... --out PAIRS.jsonl.gz [options]\n"
            "\n"
            "Extracts (image URL, alt text) pairs from Common Crawl files: WAT metadata (the\n"
            "HTML-Metadata Links with path IMG@/src) by default, or with --from-html the <img> tags of\n"
            "WARC responses. FILEs are .warc.wat.gz / .warc.gz / plain WARC; damaged records are\n"
            "reported and skipped. Output: one JSON object per line with img2dataset's columns\n"
            "url, caption, page_url, title, source, offset (gzip when the name ends in .gz), written\n"
            "atomically.\n"
            "\n"
            "options:\n"
            "  --out PATH           output JSONL(.gz) (required)\n"
            "  --from-html          parse WARC responses (src, data-src, srcset, alt, <base>, charset)\n"
            "  --lang ja|any        keep Japanese captions only (default ja) or every language\n"
            "  --allow-empty-alt    with --lang any, also keep images without alt (caption \"\";\n"
            "                       cc2dataset's image_only mode)\n"
            "  --dedup-db PATH      persistent set of image URLs already mined (created if missing);\n"
            "                       a new snapshot mined against it only yields new images\n"
            "  --dedup-key url|url+caption   what counts as a duplicate (default url)\n"
            "  --min-chars N        shortest caption in characters (default 2)\n"
            "  --max-chars N        longest caption in characters (default 256)\n"
            "  --ja-min-ratio R     kana+kanji share of the letters needed (default 0.3)\n"
            "  --ja-max-kanji N     longest kanji-only caption taken as Japanese (default 12; 0: never)\n"
            "  --ja-page-kana R     page is Japanese when kana >= R of its CJK text (default 0.1)\n"
            "  --ja-page-zh R       page is Chinese when kana < R of >= 30 kanji (default 0.02)\n"
            "  --max-html BYTES     largest HTML body parsed (default 8388608)\n"
            "  -t, --threads N      files mined in parallel (default: all cores; the output is the same\n"
            "                       for any N: files are written in the order given)\n"
            "  -q, --quiet          no progress line or per-record warnings\n"
            "\n"
            "Japanese rule: a caption with kana is Japanese when (kana+kanji)/letters >= --ja-min-ratio;\n"
            "a kanji-only caption (富士山) when it has at most --ja-max-kanji letters and the page is\n"
            "Japanese, or the page language is unknown and every kanji is in JIS X 0208. Kanji-only\n"
            "captions on Chinese/Korean pages (declared, by charset, or by their text) are rejected.\n"
            "\n"
            "example: jaclip mine CC-MAIN-*.warc.wat.gz --out pairs.jsonl.gz --dedup-db seen.dedup\n");
}

static int run_mine(int argc, char **argv)
{
    const char *cmd = "mine";
    jc_mine_params p = jc_mine_default_params();
    const char *out = NULL;
    int threads = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    if (!files) return cli_failf(cmd, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        double d;
        if (cli_is_help(a)) {
            usage(stdout);
            free(files);
            return 0;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            if (!(out = cli_value(cmd, argc, argv, &i))) goto bad;
        } else if (strcmp(a, "--from-html") == 0) p.from_html = true;
        else if (strcmp(a, "--allow-empty-alt") == 0) p.allow_empty_alt = true;
        else if (strcmp(a, "--lang") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) goto bad;
            if (strcmp(v, "ja") == 0) p.lang_any = false;
            else if (strcmp(v, "any") == 0) p.lang_any = true;
            else {
                cli_failf(cmd, "--lang expects ja or any, got '%s'", v);
                goto bad;
            }
        } else if (strcmp(a, "--dedup-db") == 0) {
            if (!(p.dedup_db = cli_value(cmd, argc, argv, &i))) goto bad;
        } else if (strcmp(a, "--dedup-key") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i))) goto bad;
            if (strcmp(v, "url") == 0) p.dedup_url_alt = false;
            else if (strcmp(v, "url+caption") == 0 || strcmp(v, "url+alt") == 0) p.dedup_url_alt = true;
            else {
                cli_failf(cmd, "--dedup-key expects url or url+caption, got '%s'", v);
                goto bad;
            }
        } else if (strcmp(a, "--min-chars") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 100000, &l)) goto bad;
            p.min_chars = (int)l;
        } else if (strcmp(a, "--max-chars") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 1000000, &l)) goto bad;
            p.max_chars = (int)l;
        } else if (strcmp(a, "--ja-min-ratio") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0, 1, &d)) goto bad;
            p.ja.min_ratio = d;
        } else if (strcmp(a, "--ja-max-kanji") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 100000, &l)) goto bad;
            p.ja.max_kanji_only = (int)l;
        } else if (strcmp(a, "--ja-page-kana") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0, 1, &d)) goto bad;
            p.ja.page_kana_ratio = d;
        } else if (strcmp(a, "--ja-page-zh") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0, 1, &d)) goto bad;
            p.ja.page_zh_ratio = d;
        } else if (strcmp(a, "--max-html") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1024, 1L << 30, &l)) goto bad;
            p.max_html = (size_t)l;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 4096, &l)) goto bad;
            threads = (int)l;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) p.quiet = true;
        else if (a[0] == '-' && a[1]) {
            cli_failf(cmd, "unknown option '%s' (jaclip mine --help lists them)", a);
            goto bad;
        } else files[n_files++] = a;
    }
    if (!n_files) {
        cli_failf(cmd, "no input files (jaclip mine --help)");
        goto bad;
    }
    if (!out) {
        cli_failf(cmd, "--out PATH is required");
        goto bad;
    }
    if (p.min_chars > p.max_chars) {
        cli_failf(cmd, "--min-chars %d is larger than --max-chars %d", p.min_chars, p.max_chars);
        goto bad;
    }
    jc_mine_stats st;
    jaclip_err err = {0};
    jaclip_pool *pool = NULL;
    if (n_files > 1 && threads != 1) {
        if (jaclip_pool_create(threads < n_files && threads > 0 ? threads : (threads == 0 ? 0 : n_files), &pool, &err)) {
            free(files);
            return cli_fail(cmd, &err);
        }
        p.pool = pool;
    }
    jaclip_status s = jc_mine_files(files, n_files, out, &p, &st, &err);
    jaclip_pool_free(pool);
    free(files);
    if (s) return cli_fail(cmd, &err);
    fprintf(stderr,
            "mine: %llu files, %llu records (%llu damaged, skipped), %llu pages with images, %llu images\n"
            "mine: dropped: %llu without alt, %llu not http(s), %llu too short, %llu too long, %llu file names\n"
            "mine: %llu pairs, %llu Japanese, %llu not Japanese%s, %llu duplicates, %llu written to %s\n",
            (unsigned long long)st.files, (unsigned long long)st.records, (unsigned long long)st.damaged,
            (unsigned long long)st.pages, (unsigned long long)st.images, (unsigned long long)st.no_alt,
            (unsigned long long)st.bad_url, (unsigned long long)st.too_short, (unsigned long long)st.too_long,
            (unsigned long long)st.filename, (unsigned long long)st.pairs, (unsigned long long)st.japanese,
            (unsigned long long)(st.pairs - st.japanese), p.lang_any ? " (kept: --lang any)" : " (dropped)",
            (unsigned long long)st.duplicates, (unsigned long long)st.written, out);
    if (!p.from_html && st.pages == 0 && st.records > 0)
        fprintf(stderr, "mine: note: no WAT records with image links; for WARC files use --from-html\n");
    return 0;
bad:
    free(files);
    return 2;
}

JACLIP_COMMAND(cmd_mine, "mine", "Common Crawl WAT/WARC -> image URL + alt-text pairs (JSONL)", run_mine);
