/*
 * test_eval_data.c — dataset layouts and the feature cache, without a model:
 *  - the real CIFAR-10 test split parses into 10,000 labelled samples (labels in 0..9,
 *    spread over all classes), classnames and templates read as the spec says;
 *  - bad layouts give errors naming the file and the key: missing nshards.txt, a sample
 *    without .cls, a .cls out of range, a retrieval sample without .txt, a caption JSON with
 *    an unknown image_id, a template without {c}, missing classnames.txt;
 *  - COCO caption JSON groups captions per image and leaves caption-less images out;
 *  - the cache reuses finished chunks after an interrupted run and recomputes damaged ones.
 */
#include <stdlib.h>
#include <string.h>

#include "io/tar.h"
#include "tasks/eval.h"
#include "testutil.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int cifar(void)
{
    char root[512];
    snprintf(root, sizeof root, "%s/datasets/cifar10", test_shared());
    jaclip_err err = {0};
    char **names;
    int n;
    REQUIRE(jc_read_classnames(root, &names, &n, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(n == 10 && !strcmp(names[0], "飛行機") && !strcmp(names[9], "トラック"), "classnames %d", n);
    jc_free_strings(names, n);
    char tp[600];
    snprintf(tp, sizeof tp, "%s/zeroshot_classification_templates.txt", root);
    char **t;
    REQUIRE(jc_read_templates(tp, &t, &n, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(n == 37, "37 templates, got %d", n);
    char *s = jc_format_template("{c}の写真、{c}", "猫");
    CHECK(s && !strcmp(s, "猫の写真、猫"), "format: %s", s);
    free(s);
    jc_free_strings(t, n);
    jc_image_set set;
    REQUIRE(jc_image_set_from_split(root, "test", JC_NEED_CLS, 10, &set, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(set.n == 10000, "10000 test samples, got %lld", (long long)set.n);
    int per[10] = {0};
    bool ok = true;
    for (int64_t i = 0; i < set.n; i++) {
        ok &= set.label[i] >= 0 && set.label[i] < 10 && set.data[i] && set.size[i] > 100;
        if (set.label[i] >= 0 && set.label[i] < 10) per[set.label[i]]++;
    }
    CHECK(ok, "labels and image bytes");
    for (int c = 0; c < 10; c++) CHECK(per[c] == 1000, "class %d has %d test images", c, per[c]);
    CHECK(!strcmp(set.keys[0], "0.tar/test00000"), "key %s", set.keys[0]);
    CHECK(set.data[0][0] == 0xFF && set.data[0][1] == 0xD8, "JPEG bytes");
    jc_image_set_free(&set);
    return 0;
}

static void add_member(jc_tar_writer *w, const char *name, const char *data)
{
    jaclip_err err = {0};
    if (jc_tar_write(w, name, data, strlen(data), &err)) fprintf(stderr, "tar write: %s\n", err.msg);
}

static int bad_layouts(void)
{
    const char *tmp = test_tmpdir();
    char root[512], p[700];
    jaclip_err err = {0};
    jc_image_set s;
    snprintf(root, sizeof root, "%s/ds", tmp);
    snprintf(p, sizeof p, "%s/test", root);
    REQUIRE(jc_mkdirs(p, &err) == JACLIP_OK, "%s", err.msg);
    /* missing classnames */
    char **names;
    int n;
    CHECK(jc_read_classnames(root, &names, &n, &err) == JACLIP_ERR_IO && strstr(err.msg, "classnames.txt"), "classnames: %s", err.msg);
    /* missing nshards.txt */
    CHECK(jc_image_set_from_split(root, "test", JC_NEED_CLS, 3, &s, &err) != JACLIP_OK && strstr(err.msg, "nshards.txt"),
          "nshards: %s", err.msg);
    snprintf(p, sizeof p, "%s/test/nshards.txt", root);
    write_file(p, "1\n");
    /* a shard where sample b lacks .cls */
    jc_tar_writer w;
    snprintf(p, sizeof p, "%s/test/0.tar", root);
    REQUIRE(jc_tar_writer_open(p, &w, &err) == JACLIP_OK, "%s", err.msg);
    add_member(&w, "a.jpg", "\xff\xd8 not really a jpeg");
    add_member(&w, "a.cls", "1");
    add_member(&w, "b.jpg", "\xff\xd8 x");
    add_member(&w, "c.jpg", "\xff\xd8 y");
    add_member(&w, "c.cls", "2\n");
    REQUIRE(jc_tar_writer_close(&w, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_image_set_from_split(root, "test", JC_NEED_CLS, 3, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "0.tar") &&
              strstr(err.msg, "'b'") && strstr(err.msg, ".cls"),
          "missing cls: %s", err.msg);
    /* a label outside the classes */
    REQUIRE(jc_tar_writer_open(p, &w, &err) == JACLIP_OK, "%s", err.msg);
    add_member(&w, "a.jpg", "\xff\xd8");
    add_member(&w, "a.cls", "7");
    REQUIRE(jc_tar_writer_close(&w, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_image_set_from_split(root, "test", JC_NEED_CLS, 3, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "'a'") &&
              strstr(err.msg, "[0, 3)"),
          "label range: %s", err.msg);
    /* retrieval: sample without .txt, then a good one with several captions */
    REQUIRE(jc_tar_writer_open(p, &w, &err) == JACLIP_OK, "%s", err.msg);
    add_member(&w, "x.jpg", "\xff\xd8");
    add_member(&w, "x.txt", "赤い車\n青い空\r\n\n海の夕焼け\n");
    add_member(&w, "y.webp", "RIFF");
    REQUIRE(jc_tar_writer_close(&w, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(jc_image_set_from_split(root, "test", JC_NEED_TXT, 0, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "'y'") &&
              strstr(err.msg, ".txt"),
          "missing txt: %s", err.msg);
    REQUIRE(jc_tar_writer_open(p, &w, &err) == JACLIP_OK, "%s", err.msg);
    add_member(&w, "x.jpg", "\xff\xd8");
    add_member(&w, "x.txt", "赤い車\n青い空\r\n\n海の夕焼け\n");
    add_member(&w, "y.png", "\x89PNG");
    add_member(&w, "y.txt", "犬");
    REQUIRE(jc_tar_writer_close(&w, &err) == JACLIP_OK, "%s", err.msg);
    REQUIRE(jc_image_set_from_split(root, "test", JC_NEED_TXT, 0, &s, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(s.n == 2 && s.n_caps == 4 && s.cap_first[0] == 0 && s.cap_first[1] == 3 && s.cap_first[2] == 4, "captions grouped");
    CHECK(!strcmp(s.caps[1], "青い空") && !strcmp(s.caps[2], "海の夕焼け") && !strcmp(s.caps[3], "犬"), "caption text (CR stripped, blank skipped)");
    jc_image_set_free(&s);
    /* templates without {c} */
    snprintf(p, sizeof p, "%s/tmpl.txt", root);
    write_file(p, "{c}の写真\n写真です\n");
    char **t;
    CHECK(jc_read_templates(p, &t, &n, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "line 2") && strstr(err.msg, "tmpl.txt"), "tmpl: %s", err.msg);

    /* COCO captions */
    snprintf(p, sizeof p, "%s/caps.json", root);
    write_file(p, "{\"images\":[{\"id\":5,\"file_name\":\"e.jpg\"},{\"id\":2,\"file_name\":\"b.jpg\"},{\"id\":9,\"file_name\":\"none.jpg\"}],"
                  "\"annotations\":[{\"id\":1,\"image_id\":5,\"caption\":\"五\"},{\"id\":2,\"image_id\":2,\"caption\":\"二a\"},"
                  "{\"id\":3,\"image_id\":5,\"caption\":\"五b\"},{\"id\":4,\"image_id\":2,\"caption\":\"二b\"}]}");
    REQUIRE(jc_image_set_from_coco("/imgs", p, NULL, &s, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(s.n == 2 && !strcmp(s.keys[0], "/imgs/b.jpg") && !strcmp(s.keys[1], "/imgs/e.jpg"), "images in id order, caption-less left out");
    CHECK(s.n_caps == 4 && !strcmp(s.caps[0], "二a") && !strcmp(s.caps[1], "二b") && !strcmp(s.caps[2], "五") && !strcmp(s.caps[3], "五b"),
          "captions per image in file order");
    jc_image_set_free(&s);
    /* a subset by id and by (Karpathy-style) path */
    char lp[700];
    snprintf(lp, sizeof lp, "%s/list.txt", root);
    write_file(lp, "val2014/e.jpg\n");
    REQUIRE(jc_image_set_from_coco("/imgs", p, lp, &s, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(s.n == 1 && !strcmp(s.keys[0], "/imgs/e.jpg") && s.n_caps == 2 && !strcmp(s.caps[1], "五b"), "subset by name");
    jc_image_set_free(&s);
    write_file(lp, "# karpathy test\n2\n5\n");
    REQUIRE(jc_image_set_from_coco("/imgs", p, lp, &s, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(s.n == 2 && s.n_caps == 4, "subset by ids");
    jc_image_set_free(&s);
    write_file(lp, "2\n77\n");
    CHECK(jc_image_set_from_coco("/imgs", p, lp, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "list.txt") && strstr(err.msg, "line 2") &&
              strstr(err.msg, "'77'"),
          "unknown list entry: %s", err.msg);
    write_file(p, "{\"images\":[{\"id\":5,\"file_name\":\"e.jpg\"}],"
                  "\"annotations\":[{\"id\":1,\"image_id\":5,\"caption\":\"五\"},{\"id\":77,\"image_id\":123,\"caption\":\"x\"}]}");
    CHECK(jc_image_set_from_coco("/imgs", p, NULL, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "caps.json") && strstr(err.msg, "image_id 123") &&
              strstr(err.msg, "annotation 77"),
          "unknown image id: %s", err.msg);
    write_file(p, "{\"images\":[], \"annotations\": 3}");
    CHECK(jc_image_set_from_coco("/imgs", p, NULL, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "annotations"), "bad json: %s", err.msg);
    write_file(p, "{\"images\":[");
    CHECK(jc_image_set_from_coco("/imgs", p, NULL, &s, &err) == JACLIP_ERR_FORMAT && strstr(err.msg, "not valid JSON"), "broken json: %s", err.msg);
    return 0;
}

/* feature "model" for the cache test: row i = (i, 2i, ...); fails at row fail_at */
typedef struct fake {
    int64_t fail_at;
    int64_t computed;
} fake;

static jaclip_status fake_rows(void *vc, int64_t from, int64_t to, float *out, jaclip_err *err)
{
    fake *f = vc;
    for (int64_t i = from; i < to; i++) {
        if (i == f->fail_at) return jc_err(err, JACLIP_ERR_IO, "interrupted at %lld", (long long)i);
        for (int d = 0; d < 4; d++) out[(i - from) * 4 + d] = (float)(i * (d + 1));
        f->computed++;
    }
    return JACLIP_OK;
}

static int cache(void)
{
    char root[512];
    snprintf(root, sizeof root, "%s/cache", test_tmpdir());
    enum { N = 5000 };
    float *out = calloc(N * 4, sizeof(float));
    jaclip_err err = {0};
    int64_t reused;
    fake f = {.fail_at = 4500};
    CHECK(jc_cache_features(root, "ds=x model=y", N, 4, NULL, fake_rows, &f, out, &reused, &err) == JACLIP_ERR_IO, "interrupted run fails");
    CHECK(reused == 0 && f.computed == 4500, "computed %lld", (long long)f.computed);
    f = (fake){.fail_at = -1};
    CHECK(jc_cache_features(root, "ds=x model=y", N, 4, NULL, fake_rows, &f, out, &reused, &err) == JACLIP_OK, "%s", err.msg);
    CHECK(reused == 4096 && f.computed == N - 4096, "resume: reused %lld, computed %lld", (long long)reused, (long long)f.computed);
    bool ok = true;
    for (int i = 0; i < N; i++) ok &= out[i * 4 + 3] == (float)(i * 4);
    CHECK(ok, "values after resume");
    f = (fake){.fail_at = -1};
    memset(out, 0, N * 4 * sizeof(float));
    CHECK(jc_cache_features(root, "ds=x model=y", N, 4, NULL, fake_rows, &f, out, &reused, &err) == JACLIP_OK && reused == N && f.computed == 0,
          "second run reuses everything (%lld)", (long long)reused);
    CHECK(out[4999 * 4 + 1] == 9998.0f, "cached values");
    f = (fake){.fail_at = -1};
    char **keys = malloc(N * sizeof *keys);
    for (int i = 0; i < N; i++) {
        keys[i] = malloc(16);
        snprintf(keys[i], 16, "k%d", i);
    }
    CHECK(jc_cache_features(root, "ds=x model=OTHER", N, 4, (const char *const *)keys, fake_rows, &f, out, &reused, &err) == JACLIP_OK && reused == 0 && f.computed == N,
          "another model does not reuse");
    {
        char hx[32], kp[700];
        snprintf(hx, sizeof hx, "%016llx", (unsigned long long)jc_hash64(0, "ds=x model=OTHER", strlen("ds=x model=OTHER")));
        snprintf(kp, sizeof kp, "%s/%s/keys.txt", root, hx);
        char **lines;
        int nl;
        CHECK(jc_read_lines(kp, &lines, &nl, &err) == JACLIP_OK && nl == N && !strcmp(lines[4999], "k4999"), "keys.txt index");
        if (nl) jc_free_strings(lines, nl);
    }
    for (int i = 0; i < N; i++) free(keys[i]);
    free(keys);
    /* a damaged chunk is recomputed */
    char hex[32], cmd[1024];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)jc_hash64(0, "ds=x model=y", strlen("ds=x model=y")));
    test_system("truncate -s 50 %s/%s/chunk-000001.npy", root, hex);
    snprintf(cmd, sizeof cmd, "%s/%s/chunk-000001.npy", root, hex);
    f = (fake){.fail_at = -1};
    CHECK(jc_cache_features(root, "ds=x model=y", N, 4, NULL, fake_rows, &f, out, &reused, &err) == JACLIP_OK && f.computed == 2048,
          "damaged chunk recomputed (%lld)", (long long)f.computed);
    CHECK(out[3000 * 4] == 3000.0f, "value from recomputed chunk");
    free(out);
    return 0;
}

int main(void)
{
    if (cifar()) return 1;
    if (bad_layouts()) return 1;
    if (cache()) return 1;
    return test_done();
}
