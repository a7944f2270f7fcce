/*
 * test_tokenizer.c — the CLYP tokenizer through its public API: the model-spec §6.5 test vectors
 * (ids checked against sentencepiece 0.1.97 by the spec's authors), batch padding / mask /
 * positions, truncation at 77, bytes that a line-based file cannot carry ('\n', NUL), and that a
 * truncated, bit-flipped or foreign .model file ends in a clear error naming the file (never a
 * crash; this runs under ASan/UBSan). The ids of real sentences and edge cases are compared with
 * the Python reference in test_tokenize_ref.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"

static char model_path[512];

static bool ids_equal(const jaclip_tokenizer *tok, const char *text, size_t len, const int32_t *want, int n_want)
{
    int32_t ids[128];
    int n = -1;
    jaclip_err err = {0};
    jaclip_status st = jaclip_tokenize(tok, text, len, ids, 77, &n, &err);
    bool ok = st == JACLIP_OK && n == n_want && memcmp(ids, want, (size_t)n * sizeof *ids) == 0;
    if (!ok) {
        fprintf(stderr, "  text \"%.*s\": got %d ids:", (int)len, text, n);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, " (%s)\n", st ? err.msg : "ok");
    }
    return ok;
}

#define VEC(text, ...)                                                                                     \
    do {                                                                                                   \
        static const int32_t w_[] = {__VA_ARGS__};                                                        \
        CHECK(ids_equal(tok, text, strlen(text), w_, (int)(sizeof w_ / sizeof w_[0])), "vector %s", text); \
    } while (0)

static void test_vectors(const jaclip_tokenizer *tok)
{
    VEC("犬", 4, 9, 1651);
    VEC("猫", 4, 9, 4324);
    VEC("象", 4, 9, 6378);
    VEC("犬の写真", 4, 9, 1651, 10478);
    VEC("東京タワーの夜景", 4, 3308, 5768, 10, 1090, 1655);
    VEC("a photo of a dog", 4, 999, 9, 30679, 675, 999, 6832, 275);
    VEC("ＡＢＣ\xe3\x80\x80ｄｅｆ", 4, 9, 8493, 1542, 210);
    VEC("  Hello   World  ", 4, 9, 22848, 463, 7375);
    VEC("ｶﾀｶﾅ①㍻", 4, 9, 26107, 24, 190);
    VEC("😀😀絵文字", 4, 9, 0, 1623, 1009);
    VEC("Ⅸ世紀の城", 4, 9, 10785, 3004, 236);
    /* Wrapper rules: empty text is [CLS] alone; a literal [CLS] maps to 4; upper case lowers. */
    VEC("", 4);
    VEC("   ", 4);
    VEC("[CLS]", 4, 4);
    /* '\n' is not lower-cased by the '.' regex but normalizes to a space like any other. */
    {
        int32_t a[80], b[80];
        int na, nb;
        CHECK(jaclip_tokenize(tok, "HELLO\nWORLD", 11, a, 77, &na, NULL) == JACLIP_OK, "newline");
        CHECK(jaclip_tokenize(tok, "hello world", 11, b, 77, &nb, NULL) == JACLIP_OK, "newline ref");
        CHECK(na == nb && memcmp(a, b, (size_t)na * 4) == 0, "'HELLO\\nWORLD' == 'hello world'");
    }
    /* A NUL byte is text, not a terminator: "a\0b" differs from "a". */
    {
        int32_t a[80], b[80];
        int na, nb;
        CHECK(jaclip_tokenize(tok, "a\0b", 3, a, 77, &na, NULL) == JACLIP_OK, "nul");
        CHECK(jaclip_tokenize(tok, "a", 1, b, 77, &nb, NULL) == JACLIP_OK, "nul ref");
        CHECK(na > nb, "NUL byte keeps the rest of the text (%d vs %d ids)", na, nb);
    }
}

static void test_limits(const jaclip_tokenizer *tok)
{
    char text[4000] = "";
    for (int i = 0; i < 100; i++) strcat(text, "犬と猫。");
    int32_t ids[200];
    int n = 0;
    CHECK(jaclip_tokenize(tok, text, strlen(text), ids, 77, &n, NULL) == JACLIP_OK && n == 77, "77 ids, got %d", n);
    CHECK(ids[0] == JACLIP_TOKEN_CLS, "CLS first");
    int32_t big[1000];
    int nb = 0;
    CHECK(jaclip_tokenize(tok, text, strlen(text), big, 1000, &nb, NULL) == JACLIP_OK && nb > 77, "untruncated %d", nb);
    CHECK(memcmp(ids, big, 77 * sizeof *ids) == 0, "truncation keeps the first 76 pieces");
    CHECK(jaclip_tokenize(tok, text, 3, ids, 1, &n, NULL) == JACLIP_OK && n == 1 && ids[0] == 4, "max_ids 1");
    jaclip_err err = {0};
    CHECK(jaclip_tokenize(tok, text, 3, ids, 0, &n, &err) == JACLIP_ERR_ARG, "max_ids 0 is an error");
}

static void test_batch(const jaclip_tokenizer *tok)
{
    const char *texts[] = {"犬", "犬の写真"};
    jaclip_token_batch b;
    jaclip_err err = {0};
    if (jaclip_tokenize_batch(tok, texts, 2, 0, &b, &err) != JACLIP_OK) {
        CHECK(false, "batch: %s", err.msg);
        return;
    }
    static const int32_t ids[] = {4, 9, 1651, 3, 4, 9, 1651, 10478};
    static const int32_t mask[] = {1, 1, 1, 0, 1, 1, 1, 1};
    static const int32_t pos[] = {0, 1, 2, 3, 0, 1, 2, 3};
    CHECK(b.n == 2 && b.len == 4, "shape %dx%d", b.n, b.len);
    if (b.n == 2 && b.len == 4) {
        CHECK(memcmp(b.ids, ids, sizeof ids) == 0, "padded ids");
        CHECK(memcmp(b.mask, mask, sizeof mask) == 0, "mask");
        CHECK(memcmp(b.positions, pos, sizeof pos) == 0, "positions");
        CHECK(b.lengths[0] == 3 && b.lengths[1] == 4, "lengths");
    }
    jaclip_token_batch_free(&b);
    const char *three[] = {"犬", "猫", "象"};
    CHECK(jaclip_tokenize_batch(tok, three, 3, 77, &b, &err) == JACLIP_OK, "batch3: %s", err.msg);
    static const int32_t ids3[] = {4, 9, 1651, 4, 9, 4324, 4, 9, 6378};
    CHECK(b.len == 3 && memcmp(b.ids, ids3, sizeof ids3) == 0, "README batch");
    jaclip_token_batch_free(&b);
    CHECK(jaclip_tokenize_batch(tok, three, 0, 77, &b, &err) == JACLIP_OK && b.n == 0, "empty batch");
    jaclip_token_batch_free(&b);
}

/* Loads a corrupted copy; passes when it fails cleanly with the path in the message, or loads
 * (some flips hit bytes that do not matter) and then tokenizes without trouble. */
static void load_corrupt(const char *path, const uint8_t *data, size_t len, const char *what)
{
    CHECK(jc_write_file_atomic(path, data, len, NULL) == JACLIP_OK, "write %s", path);
    jaclip_tokenizer *t = NULL;
    jaclip_err err = {0};
    jaclip_status st = jaclip_tokenizer_load(path, &t, &err);
    if (st) {
        CHECK(strstr(err.msg, path) != NULL, "%s: message names the file: %s", what, err.msg);
        CHECK(t == NULL, "%s: no tokenizer on failure", what);
    } else {
        int32_t ids[77];
        int n;
        CHECK(jaclip_tokenize(t, "東京タワーの夜景 Hello", 26, ids, 77, &n, NULL) == JACLIP_OK, "%s: tokenize", what);
        jaclip_tokenizer_free(t);
    }
}

static void test_corrupt(void)
{
    char *data;
    size_t len;
    if (jc_read_file(model_path, 1 << 24, &data, &len, NULL) != JACLIP_OK) {
        CHECK(false, "read %s", model_path);
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/bad.model", test_tmpdir());

    /* Truncation anywhere must fail: the last field is the normalizer spec. */
    int failed = 0, tried = 0;
    for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
        jaclip_tokenizer *t = NULL;
        jaclip_err err = {0};
        CHECK(jc_write_file_atomic(path, data, cut, NULL) == JACLIP_OK, "write");
        jaclip_status st = jaclip_tokenizer_load(path, &t, &err);
        tried++;
        if (st && strstr(err.msg, path)) failed++;
        else fprintf(stderr, "  truncated at %zu: status %d msg %s\n", cut, st, err.msg);
        jaclip_tokenizer_free(t);
    }
    CHECK(failed == tried, "every truncation is a clear error (%d of %d)", failed, tried);

    /* Bit flips at pseudo-random offsets, several per copy. */
    uint32_t seed = 12345;
    for (int k = 0; k < 150; k++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        for (int f = 0; f < 1 + k % 4; f++) {
            seed = seed * 1664525u + 1013904223u;
            size_t off = k < 50 ? (seed >> 8) % 4096 : (seed >> 4) % len; /* the header region is densest */
            copy[off] ^= (uint8_t)(1u << (seed >> 29));
        }
        char what[64];
        snprintf(what, sizeof what, "bit flip copy %d", k);
        load_corrupt(path, copy, len, what);
        free(copy);
    }
    load_corrupt(path, (const uint8_t *)"not a model at all\n", 19, "text file");
    load_corrupt(path, (const uint8_t *)"", 0, "empty file");
    free(data);

    jaclip_tokenizer *t = NULL;
    jaclip_err err = {0};
    CHECK(jaclip_tokenizer_load("/nonexistent/spiece.model", &t, &err) == JACLIP_ERR_IO &&
              strstr(err.msg, "/nonexistent/spiece.model"),
          "missing file: %s", err.msg);
    CHECK(jaclip_tokenizer_load(test_tmpdir(), &t, &err) == JACLIP_ERR_IO && strstr(err.msg, "directory"),
          "directory: %s", err.msg);
}

int main(void)
{
    snprintf(model_path, sizeof model_path, "%s", test_tokenizer());
    jaclip_tokenizer *tok = NULL;
    jaclip_err err = {0};
    REQUIRE(jaclip_tokenizer_load(model_path, &tok, &err) == JACLIP_OK, "load %s: %s", model_path, err.msg);
    test_vectors(tok);
    test_limits(tok);
    test_batch(tok);
    jaclip_tokenizer_free(tok);
    test_corrupt();
    return test_done();
}
