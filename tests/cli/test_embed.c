/*
 * test_embed.c — `jaclip embed` and `jaclip classify` end to end on the small golden model:
 * image files and texts give the PyTorch reference's features (decoding, letterbox and
 * tokenizer included), --normalize gives unit rows, --batch does not change results,
 * classify's probabilities are a softmax over the labels, bench --texts-from times the
 * file's texts; and the failure paths: missing
 * tokenizer, non-image file, corrupt weights, bad options — each a clear message, a
 * non-zero exit and no output file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"

#define GOLD "tests/golden/model/"
static const char *bin, *tmp;
static char tok[600], model[] = GOLD "small";

/* Runs a jaclip command line; stderr goes to tmp/err.txt. Returns the exit status. */
static int jaclip(const char *args)
{
    return test_system("%s %s >%s/out.txt 2>%s/err.txt", bin, args, tmp, tmp);
}

static char *slurp(const char *name)
{
    char path[700], *s = NULL;
    size_t n;
    jaclip_err e;
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    if (jc_read_file(path, 1 << 20, &s, &n, &e)) return strdup("");
    return s;
}

static void expect_error(const char *what, const char *args, const char *needle, const char *out_npy)
{
    int rc = jaclip(args);
    char *err = slurp("err.txt");
    CHECK(rc != 0 && rc < 128, "%s: exit status %d", what, rc);
    CHECK(strstr(err, needle) != NULL, "%s: stderr lacks '%s': %s", what, needle, err);
    CHECK(!out_npy || !jc_file_exists(out_npy), "%s: output file was left behind", what);
    printf("%-20s -> %s", what, err);
    free(err);
}

static void compare_npy(const char *what, const char *path, const char *gold, bool normalized)
{
    jc_npy a, b;
    jaclip_err e = {0};
    if (jc_npy_map(path, &a, &e)) {
        CHECK(0, "%s: %s", what, e.msg);
        return;
    }
    if (jc_npy_map(gold, &b, &e)) {
        CHECK(0, "%s: %s", what, e.msg);
        jc_npy_unmap(&a);
        return;
    }
    CHECK(a.ndim == 2 && a.shape[0] == b.shape[0] && a.shape[1] == b.shape[1] && strcmp(a.descr, "<f4") == 0,
          "%s: shape", what);
    int n = (int)b.shape[0], d = (int)b.shape[1];
    double mx = test_max_abs(b.data, (size_t)n * d);
    for (int i = 0; i < n && a.shape[0] == n; i++) {
        const float *x = (const float *)a.data + (size_t)i * d, *y = (const float *)b.data + (size_t)i * d;
        double cs = test_cosine(x, y, (size_t)d);
        CHECK(cs >= 0.99999, "%s row %d: cosine %.8f", what, i, cs);
        if (normalized) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (double)x[j] * x[j];
            CHECK(fabs(s - 1) < 1e-5, "%s row %d: norm² %g", what, i, s);
        } else {
            double md = test_max_abs_diff(x, y, (size_t)d);
            CHECK(md <= 1e-4 * mx, "%s row %d: max abs diff %g", what, i, md);
        }
    }
    jc_npy_unmap(&a), jc_npy_unmap(&b);
}

int main(void)
{
    bin = getenv("JACLIP_BIN");
    REQUIRE(bin != NULL, "JACLIP_BIN not set (run through ctest)");
    tmp = test_tmpdir();
    snprintf(tok, sizeof tok, "%s", test_tokenizer());
    char args[4096], list[700], out[700];

    /* image list with absolute paths into the shared folder */
    snprintf(list, sizeof list, "%s/images.txt", tmp);
    test_system("sed 's|^|%s/images/|' " GOLD "images.txt > %s", test_shared(), list);
    snprintf(out, sizeof out, "%s/img.npy", tmp);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --images-from %s --out %s --threads 2", model, tok, list, out);
    CHECK(jaclip(args) == 0, "embed images failed");
    compare_npy("images", out, GOLD "image_features.npy", false);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --images-from %s --out %s.b3.npy --batch 3 --quiet", model,
             tok, list, out);
    CHECK(jaclip(args) == 0, "embed --batch 3 failed");
    snprintf(args, sizeof args, "%s.b3.npy", out);
    compare_npy("images --batch 3", args, GOLD "image_features.npy", false);

    snprintf(out, sizeof out, "%s/txt.npy", tmp);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --texts-from " GOLD "texts.txt --out %s", model, tok, out);
    CHECK(jaclip(args) == 0, "embed texts failed");
    compare_npy("texts", out, GOLD "text_features.npy", false);
    /* --text with --normalize: the first two golden texts (犬, 猫) as unit rows */
    snprintf(out, sizeof out, "%s/txt2.npy", tmp);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --text 犬 猫 --normalize --out %s", model, tok, out);
    CHECK(jaclip(args) == 0, "embed --text failed");
    {
        jc_npy a, g;
        jaclip_err e;
        if (jc_npy_map(out, &a, &e) == JACLIP_OK && jc_npy_map(GOLD "text_features.npy", &g, &e) == JACLIP_OK) {
            CHECK(a.shape[0] == 2, "two rows");
            for (int i = 0; i < 2 && a.shape[0] == 2; i++) {
                double c = test_cosine((const float *)a.data + i * 16, (const float *)g.data + i * 16, 16);
                double n2 = 0;
                for (int j = 0; j < 16; j++) n2 += pow(((const float *)a.data)[i * 16 + j], 2);
                CHECK(c >= 0.99999 && fabs(n2 - 1) < 1e-5, "text %d: cos %g norm² %g", i, c, n2);
            }
            jc_npy_unmap(&a), jc_npy_unmap(&g);
        } else {
            CHECK(0, "%s", e.msg);
        }
    }

    /* classify: JSONL, probabilities over all labels sum to 1 */
    snprintf(args, sizeof args, "classify --model %s --tokenizer %s --images-from %s --labels 犬,猫,象,車 --top 4 --json",
             model, tok, list);
    CHECK(jaclip(args) == 0, "classify failed");
    {
        char *o = slurp("out.txt");
        int lines = 0;
        for (char *l = strtok(o, "\n"); l; l = strtok(NULL, "\n"), lines++) {
            double s = 0;
            for (char *p = strstr(l, "\"prob\":"); p; p = strstr(p + 1, "\"prob\":")) s += atof(p + 7);
            CHECK(fabs(s - 1) < 1e-4 && strstr(l, "\"image\":") && strstr(l, "\"label\":\"犬\""), "jsonl line: %s", l);
        }
        CHECK(lines == 7, "%d JSONL lines", lines);
        free(o);
    }
    snprintf(args, sizeof args, "%s/templates.txt", tmp);
    test_system("printf '{}の写真\\n{}のイラスト\\n' > %s", args);
    snprintf(args, sizeof args, "classify --model %s --tokenizer %s %s/images/photos/chelsea.png --labels 犬,猫 "
             "--templates %s/templates.txt", model, tok, test_shared(), tmp);
    CHECK(jaclip(args) == 0, "classify --templates failed");
    {
        char *o = slurp("out.txt");
        CHECK(strstr(o, "chelsea.png\n") && strstr(o, "  犬\n") && strstr(o, "  猫\n"), "table: %s", o);
        free(o);
    }

    /* bench --texts-from: the file's texts are what is timed (count and mean length as the
     * tokenizer gives them), at each --batches size */
    snprintf(args, sizeof args, "tokenize --tokenizer %s --texts-from " GOLD "texts.txt", tok);
    CHECK(jaclip(args) == 0, "tokenize failed");
    {
        char *o = slurp("out.txt");
        int n = 0, ids = 0;
        for (const char *p = o; *p; p++) n += *p == '\n', ids += *p == ',' || *p == '[';
        free(o);
        snprintf(args, sizeof args, "bench --model %s --tokenizer %s --only text --texts-from " GOLD "texts.txt "
                 "--runs 1 --batches 1,3 --threads 2 --json", model, tok);
        CHECK(jaclip(args) == 0, "bench --texts-from failed");
        o = slurp("out.txt");
        char want[64];
        snprintf(want, sizeof want, "\"texts\": %d, \"mean_text_len\": %.2f,", n, (double)ids / (n ? n : 1));
        CHECK(n > 3 && strstr(o, want), "bench --texts-from: expected %s in %s", want, o);
        CHECK(strstr(o, "{\"tower\": \"text\", \"batch\": 1,") && strstr(o, "{\"tower\": \"text\", \"batch\": 3,") &&
                  !strstr(o, "\"image\""),
              "bench --texts-from: results %s", o);
        free(o);
    }
    snprintf(args, sizeof args, "%s/empty.txt", tmp);
    test_system(": > %s", args);
    snprintf(args, sizeof args, "bench --model %s --tokenizer %s --only text --texts-from %s/empty.txt", model, tok, tmp);
    expect_error("bench empty texts", args, "no texts", NULL);
    snprintf(args, sizeof args, "bench --model %s --tokenizer %s --only image --texts-from " GOLD "texts.txt", model, tok);
    expect_error("bench texts + image", args, "--only image", NULL);
    snprintf(args, sizeof args, "bench --model %s --tokenizer %s --batches 1,8, --runs 1", model, tok);
    expect_error("bench --batches 1,8,", args, "--batches", NULL);

    /* failures */
    snprintf(out, sizeof out, "%s/fail.npy", tmp);
    snprintf(args, sizeof args, "embed --model %s --text 犬 --out %s", model, out);
    expect_error("missing tokenizer", args, "spiece.model", out);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --image " GOLD "texts.txt --out %s", model, tok, out);
    expect_error("non-image file", args, "texts.txt", out);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --image /nonexistent.jpg --out %s", model, tok, out);
    expect_error("missing image", args, "/nonexistent.jpg", out);
    test_system("mkdir -p %s/trunc && cp %s/config.json %s/preprocessor_config.json %s/trunc/ && head -c 100000 "
                "%s/model.safetensors > %s/trunc/model.safetensors", tmp, model, model, tmp, model, tmp);
    snprintf(args, sizeof args, "embed --model %s/trunc --tokenizer %s --text 犬 --out %s", tmp, tok, out);
    expect_error("truncated weights", args, "out of range", out);
    snprintf(args, sizeof args, "embed --model /nonexistent-model --text 犬 --out %s", out);
    expect_error("missing model dir", args, "/nonexistent-model", out);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --text 犬 --image x.jpg --out %s", model, tok, out);
    expect_error("images and texts", args, "one kind of input", out);
    snprintf(args, sizeof args, "embed --model %s --tokenizer %s --text 犬 --batch 0 --out %s", model, tok, out);
    expect_error("bad --batch", args, "--batch", out);
    snprintf(args, sizeof args, "classify --model %s --tokenizer %s x.jpg", model, tok);
    expect_error("classify no labels", args, "labels", NULL);
    snprintf(args, sizeof args, "classify --model %s --tokenizer %s %s/images/photos/chelsea.png --labels 犬 "
             "--templates " GOLD "images.txt", model, tok, test_shared());
    expect_error("template without {}", args, "{}", NULL);
    CHECK(jaclip("embed --help") == 0, "embed --help");
    CHECK(jaclip("classify --help") == 0, "classify --help");
    return test_done();
}
