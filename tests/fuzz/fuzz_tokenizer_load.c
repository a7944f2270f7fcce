/* fuzz_tokenizer_load.c — libFuzzer target: any bytes as a SentencePiece .model file. Loading
 * must either fail with a message naming the file or give a tokenizer that then tokenizes a few
 * texts (including part of the input itself) without memory errors.
 * Build: CC=clang cmake -S . -B build-fuzz -DJACLIP_FUZZ=ON && cmake --build build-fuzz
 * Run:   build-fuzz/fuzz_tokenizer_load -max_len=1000000 CORPUS_DIR tests/fuzz/seeds/model */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jaclip_tokenizer *t = NULL;
    jaclip_err err = {0};
    if (jc_tokenizer_load_mem(data, size, "fuzz.model", &t, &err)) {
        if (!strstr(err.msg, "fuzz.model")) abort(); /* every load error names the file */
        return 0;
    }
    int32_t ids[200];
    int n;
    static const char *const texts[] = {"東京タワーの夜景", "A photo of a DOG  [CLS] <s>x", "😀😀 ｶﾀｶﾅ①㍻ \xff\xfe", ""};
    for (int i = 0; i < 4; i++) jaclip_tokenize(t, texts[i], strlen(texts[i]), ids, 200, &n, NULL);
    jaclip_tokenize(t, (const char *)data, size < 512 ? size : 512, ids, 200, &n, NULL);
    jaclip_tokenizer_free(t);
    return 0;
}
