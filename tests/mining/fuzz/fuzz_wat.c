/*
 * fuzz_wat.c — libFuzzer target for everything `jaclip mine` does with untrusted bytes:
 * WARC framing (plain and gzip, damaged members), WAT JSON (the Links route), and with the
 * same input the HTML route (<img> tokenizer, charsets/iconv, entities, URL resolution,
 * the Japanese rule). Built by cmake/mining.cmake only with clang:
 *   CC=clang cmake -S . -B build-fuzz && cmake --build build-fuzz --target fuzz_wat
 *   build-fuzz/fuzz_wat -max_total_time=300 CORPUS_DIR ../shared/commoncrawl
 */
#include <stddef.h>
#include <stdint.h>

#include "io/warc.h"
#include "mining/mining.h"

static void on_pair(void *ctx, const jc_pair *p)
{
    size_t *n = ctx;
    *n += p->url[0] != 0 && p->caption[0] != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jc_warc_params wp = jc_warc_default_params();
    wp.quiet = true;
    wp.max_record = 1 << 20; /* keeps the fuzzer's memory small; oversize skipping is exercised */
    for (int route = 0; route < 2; route++) {
        jc_warc_reader *r;
        if (jc_warc_open_mem(data, size, "fuzz", &wp, &r, NULL) != JACLIP_OK) return 0;
        jc_mine_params p = jc_mine_default_params();
        p.from_html = route == 1;
        p.lang_any = true;
        p.max_html = 1 << 20;
        jc_mine_stats st = {0};
        size_t n = 0;
        jc_warc_record rec;
        bool eof = false;
        while (jc_warc_next(r, &rec, &eof, NULL) == JACLIP_OK && !eof) jc_mine_record(&p, "fuzz", &rec, on_pair, &n, &st);
        jc_warc_close(r);
    }
    /* the WAT parser on the raw bytes too, without WARC framing */
    jc_ja_params ja = jc_ja_default_params();
    jc_wat_images((const char *)data, size, "http://fuzz.example/", &ja, NULL, NULL);
    return 0;
}
