/* fuzz_tokenize.c — libFuzzer target: any bytes as a text for the real tokenizer
 * (../shared/tokenizer/rinna-japanese-sp.model, or $JACLIP_SHARED/tokenizer/...). Checks the
 * invariants: [CLS] first, at most max ids, every id inside the vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

static jaclip_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok) {
        const char *shared = getenv("JACLIP_SHARED") ? getenv("JACLIP_SHARED") : "../shared";
        char path[1024];
        snprintf(path, sizeof path, "%s/tokenizer/rinna-japanese-sp.model", shared);
        jaclip_err err;
        if (jaclip_tokenizer_load(path, &tok, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
    }
    int32_t ids[300];
    int n = 0;
    int max = 1 + (int)(size % 300);
    if (jaclip_tokenize(tok, (const char *)data, size, ids, max, &n, NULL)) abort();
    if (n < 1 || n > max || ids[0] != JACLIP_TOKEN_CLS) abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= 32000) abort();
    return 0;
}
