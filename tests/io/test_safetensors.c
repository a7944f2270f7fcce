/*
 * test_safetensors.c — the safetensors reader and the model loader on corrupt or
 * mismatched weight files, built by rewriting the small golden model: truncated file,
 * file shorter than the length field, header length beyond the file, data offsets out of
 * range, a byte count that does not match the shape, a wrong dtype, a wrong shape, a
 * missing tensor, a non-JSON header. Each must fail with a message naming the problem
 * (and the key where there is one); an unknown extra tensor must be ignored, and
 * F16/BF16 tensors must come back converted.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "io/safetensors.h"
#include "testutil.h"

#define SMALL "tests/golden/model/small"

static char *src_data;
static size_t src_len;
static char tok[512];

/* Writes a model dir `name` whose safetensors is `bytes` (len), configs copied from SMALL. */
static const char *make_dir(const char *name, const void *bytes, size_t len)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    test_system("mkdir -p '%s' && cp " SMALL "/config.json " SMALL "/preprocessor_config.json '%s'/", dir, dir);
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    return dir;
}

/* Re-serialises the golden header after edit(root) and writes a dir with the original data. */
static const char *make_edited(const char *name, void (*edit)(cJSON *root))
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (uint8_t)src_data[i];
    cJSON *root = cJSON_ParseWithLength(src_data + 8, (size_t)hl);
    edit(root);
    char *h = cJSON_PrintUnformatted(root);
    size_t nh = strlen(h), dl = src_len - 8 - hl;
    size_t pad = (8 - nh % 8) % 8;
    char *buf = malloc(8 + nh + pad + dl);
    uint64_t n = nh + pad;
    for (int i = 0; i < 8; i++) buf[i] = (char)(n >> (8 * i));
    memcpy(buf + 8, h, nh);
    memset(buf + 8 + nh, ' ', pad);
    memcpy(buf + 8 + n, src_data + 8 + hl, dl);
    const char *dir = make_dir(name, buf, 8 + n + dl);
    free(buf);
    free(h);
    cJSON_Delete(root);
    return dir;
}

static cJSON *entry(cJSON *root, const char *key) { return cJSON_GetObjectItemCaseSensitive(root, key); }

#define NECK "text_encoder.neck.linear.weight"
#define QW "vision_encoder.backbone.blocks.1.attn.q_proj.weight"

static void e_offsets(cJSON *r)
{
    cJSON *o = entry(entry(r, NECK), "data_offsets");
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(1e12));
}
static void e_span(cJSON *r)
{
    cJSON *o = entry(entry(r, NECK), "data_offsets");
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(cJSON_GetArrayItem(o, 1)->valuedouble - 4));
}
static void e_dtype(cJSON *r)
{
    cJSON *e = entry(r, QW);
    cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString("I32"));
}
static void e_unknown_dtype(cJSON *r) { cJSON_ReplaceItemInObject(entry(r, QW), "dtype", cJSON_CreateString("Q4")); }
static void e_shape(cJSON *r)
{
    /* (32, 32) -> (16, 64): same byte count, wrong shape */
    cJSON *e = entry(r, QW);
    cJSON *s = cJSON_CreateArray();
    cJSON_AddItemToArray(s, cJSON_CreateNumber(16));
    cJSON_AddItemToArray(s, cJSON_CreateNumber(64));
    cJSON_ReplaceItemInObject(e, "shape", s);
}
static void e_missing(cJSON *r) { cJSON_DeleteItemFromObject(r, NECK); }
static void e_extra(cJSON *r)
{
    /* an unknown tensor sharing the neck's bytes: ignored by the loader */
    cJSON_AddItemToObject(r, "vision_encoder.backbone.rope.freqs", cJSON_Duplicate(entry(r, NECK), 1));
}

static void expect_fail(const char *what, const char *dir, jaclip_status want, const char *needle1, const char *needle2)
{
    jaclip_model_params p = jaclip_model_default_params();
    p.tokenizer_path = tok;
    p.n_threads = 1;
    jaclip_model *m = NULL;
    jaclip_err err = {0};
    jaclip_status st = jaclip_model_load(dir, &p, &m, &err);
    CHECK(st != JACLIP_OK && m == NULL, "%s: loaded", what);
    CHECK(want == 0 || st == want, "%s: status %s, want %s (%s)", what, jaclip_status_name(st), jaclip_status_name(want),
          err.msg);
    CHECK(strstr(err.msg, "model.safetensors") != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(!needle1 || strstr(err.msg, needle1), "%s: message lacks '%s': %s", what, needle1, err.msg);
    CHECK(!needle2 || strstr(err.msg, needle2), "%s: message lacks '%s': %s", what, needle2, err.msg);
    printf("%-22s -> %s\n", what, err.msg);
}

int main(void)
{
    snprintf(tok, sizeof tok, "%s", test_tokenizer());
    jaclip_err err = {0};
    REQUIRE(jc_read_file(SMALL "/model.safetensors", 64 << 20, &src_data, &src_len, &err) == JACLIP_OK, "%s", err.msg);

    /* the reader on the intact file */
    jc_safetensors st;
    REQUIRE(jc_st_open(SMALL "/model.safetensors", &st, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_st_find(&st, "text_encoder.backbone.model.embeddings.position_ids") != NULL, "position_ids present");
    const float *p;
    float *owned;
    /* F16 word embeddings and BF16 pos_embed are converted; F32 is zero-copy */
    CHECK(jc_st_get_f32(&st, "text_encoder.backbone.model.embeddings.word_embeddings.weight", 2,
                        (const int64_t[]){32000, 16}, &p, &owned, &err) == JACLIP_OK && owned, "f16: %s", err.msg);
    double s = 0;
    for (int i = 0; i < 32000 * 16; i++) s += fabs(p[i]);
    CHECK(s / (32000 * 16) > 0.3 && s / (32000 * 16) < 0.5, "f16 mean |x| %g (generated with std 0.5)", s / (32000 * 16));
    free(owned);
    CHECK(jc_st_get_f32(&st, QW, 2, (const int64_t[]){32, 32}, &p, &owned, &err) == JACLIP_OK && !owned &&
              (const uint8_t *)p >= st.map.data && (const uint8_t *)p < st.map.data + st.map.size,
          "f32 zero copy");
    CHECK(jc_st_get_f32(&st, QW, 2, (const int64_t[]){32, 31}, &p, &owned, &err) == JACLIP_ERR_MISMATCH &&
              strstr(err.msg, "(32, 32)") && strstr(err.msg, "(32, 31)") && strstr(err.msg, QW),
          "shape message: %s", err.msg);
    jc_st_close(&st);

    /* corrupt files */
    expect_fail("truncated", make_dir("trunc", src_data, src_len / 2), JACLIP_ERR_FORMAT, "out of range", NULL);
    expect_fail("shorter than 8 bytes", make_dir("tiny", src_data, 5), JACLIP_ERR_FORMAT, "truncated", NULL);
    expect_fail("empty file", make_dir("empty", src_data, 0), JACLIP_ERR_FORMAT, NULL, NULL);
    {
        char *b = malloc(src_len);
        memcpy(b, src_data, src_len);
        uint64_t big = (uint64_t)src_len; /* header length beyond the file */
        for (int i = 0; i < 8; i++) b[i] = (char)(big >> (8 * i));
        expect_fail("header length > file", make_dir("hlen", b, src_len), JACLIP_ERR_FORMAT, "header length",
                    "beyond");
        memset(b + 8, 'x', 16); /* header that is not JSON */
        for (int i = 0; i < 8; i++) b[i] = (char)((uint64_t)64 >> (8 * i));
        expect_fail("header not JSON", make_dir("json", b, src_len), JACLIP_ERR_FORMAT, "JSON", NULL);
        free(b);
    }
    expect_fail("offsets out of range", make_edited("offs", e_offsets), JACLIP_ERR_FORMAT, NECK, "out of range");
    expect_fail("bytes != shape", make_edited("span", e_span), JACLIP_ERR_FORMAT, NECK, "needs");
    expect_fail("wrong dtype", make_edited("dtype", e_dtype), JACLIP_ERR_UNSUPPORTED, QW, "I32");
    expect_fail("unknown dtype", make_edited("udtype", e_unknown_dtype), JACLIP_ERR_FORMAT, QW, "Q4");
    expect_fail("shape mismatch", make_edited("shape", e_shape), JACLIP_ERR_MISMATCH, "(16, 64)", "expected (32, 32)");
    expect_fail("missing tensor", make_edited("missing", e_missing), JACLIP_ERR_FORMAT, NECK, "missing");

    /* an unknown extra tensor is ignored */
    {
        jaclip_model_params mp = jaclip_model_default_params();
        mp.tokenizer_path = tok;
        mp.n_threads = 1;
        jaclip_model *m = NULL;
        CHECK(jaclip_model_load(make_edited("extra", e_extra), &mp, &m, &err) == JACLIP_OK, "extra tensor: %s", err.msg);
        jaclip_model_free(m);
    }
    free(src_data);
    return test_done();
}
