/*
 * classify.c — `jaclip classify`: zero-shot classification of images against a list of
 * labels. Each label becomes one text (or, with --templates, the L2-normalised mean of its
 * template sentences, CLIP's prompt ensembling); probabilities are the softmax of
 * cosine / temperature over the labels, the model's own logits.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "cli_model.h"

static const char *const CMD = "classify";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip classify --model DIR IMAGE... --labels 犬,猫,象 [options]\n"
            "\n"
            "Zero-shot classification: for each image, the probability of each label, the softmax of\n"
            "cosine(image, label text) / temperature (the model's own logit scale).\n"
            "\n"
            "options:\n"
            "  --model DIR            Hugging Face snapshot (config.json, model.safetensors, ...)\n"
            "  --labels A,B,C         comma-separated labels\n"
            "  --labels-from FILE     one label per line (labels may then contain commas)\n"
            "  --templates FILE       one template per line with {} where the label goes, e.g. {}の写真;\n"
            "                         a label's text feature is the normalised mean over templates\n"
            "  --images-from LIST     image paths, one per line (besides IMAGE arguments)\n"
            "  --top K                print the K most probable labels per image (default 5)\n"
            "  --json                 one JSON object per image (JSONL) instead of a table\n"
            "  --tokenizer FILE       the SentencePiece model, when DIR has no spiece.model\n"
            "  --threads N            worker threads (default: all CPUs)\n"
            "  --dtype fp32|fp16|int8 fp16: block weights stored as fp16 (half the memory traffic,\n"
            "                         fp32 math, cosine > 0.99999); int8: quantize the transformer\n"
            "                         blocks at load (fastest, cosine ~0.999)\n"
            "  --allow-unknown-config warn about unknown config.json keys instead of refusing the model\n"
            "\n"
            "example:\n"
            "  jaclip classify --model clip-japanese-base-v2 dog.jpg --labels 犬,猫,象\n"
            "  dog.jpg\n"
            "    0.9987  犬\n"
            "    0.0009  猫\n"
            "    0.0004  象\n");
}

static bool split_labels(const char *s, cli_strs *out)
{
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char *l = strndup(p, n);
        if (!l) return false;
        bool ok = n == 0 || cli_strs_push(out, l); /* empty items (a,,b) are dropped */
        free(l);
        if (!ok) return false;
        if (!c) return true;
        p = c + 1;
    }
}

/* "{}の写真" with label -> "犬の写真" (every {} replaced). */
static char *fill_template(const char *t, const char *label)
{
    size_t ll = strlen(label), n = 0;
    for (const char *p = strstr(t, "{}"); p; p = strstr(p + 2, "{}")) n++;
    char *out = malloc(strlen(t) + n * ll + 1), *o = out;
    if (!out) return NULL;
    while (*t) {
        if (t[0] == '{' && t[1] == '}') {
            memcpy(o, label, ll), o += ll, t += 2;
        } else {
            *o++ = *t++;
        }
    }
    *o = 0;
    return out;
}

typedef struct { int idx; float p; } ranked;

static int cmp_ranked(const void *a, const void *b)
{
    float x = ((const ranked *)a)->p, y = ((const ranked *)b)->p;
    return x < y ? 1 : x > y ? -1 : ((const ranked *)a)->idx - ((const ranked *)b)->idx;
}

static int run_classify(int argc, char **argv)
{
    const char *templates_path = NULL;
    cli_model_opts mo = {0};
    cli_strs images = {0}, labels = {0}, templates = {0};
    long top = 5;
    bool json = false;
    int taken;
    int rc = 1;
    jaclip_model *m = NULL;
    float *lab = NULL, *tfeat = NULL, *img = NULL, *chw = NULL;
    char **texts = NULL;
    ranked *rk = NULL;
    jaclip_err err = {0};
    int n_texts = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if ((taken = cli_model_opt(CMD, argc, argv, &i, &mo)) != 0) {
            if (taken < 0) goto done;
        } else if (strcmp(a, "--labels") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i))) goto done;
            if (!split_labels(v, &labels)) goto done;
        } else if (strcmp(a, "--labels-from") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_read_lines(CMD, v, true, &labels)) goto done;
        } else if (strcmp(a, "--templates") == 0) {
            if (!(templates_path = cli_value(CMD, argc, argv, &i)) ||
                !cli_read_lines(CMD, templates_path, true, &templates))
                goto done;
        } else if (strcmp(a, "--images-from") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_read_lines(CMD, v, true, &images)) goto done;
        } else if (strcmp(a, "--top") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, a, v, 1, 1 << 20, &top)) goto done;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strncmp(a, "--", 2) == 0) {
            cli_failf(CMD, "unknown option '%s' (jaclip classify --help)", a);
            goto done;
        } else if (!cli_strs_push(&images, a)) {
            goto done;
        }
    }
    if (!mo.dir) {
        cli_failf(CMD, "--model DIR is required (jaclip classify --help)");
        goto done;
    }
    if (labels.n < 1) {
        cli_failf(CMD, "no labels: give --labels A,B,C or --labels-from FILE");
        goto done;
    }
    if (images.n < 1) {
        cli_failf(CMD, "no images given");
        goto done;
    }
    if (templates_path && templates.n == 0) {
        cli_failf(CMD, "%s: no templates in the file", templates_path);
        goto done;
    }
    for (int t = 0; t < templates.n; t++)
        if (!strstr(templates.v[t], "{}")) {
            cli_failf(CMD, "%s: line %d has no {} for the label: %s", templates_path, t + 1, templates.v[t]);
            goto done;
        }
    if (!(m = cli_model_load(CMD, &mo))) goto done;
    int D = jaclip_model_dim(m), NL = labels.n, NT = templates.n ? templates.n : 1;
    float inv_tau = 1.0f / jaclip_model_temperature(m);

    /* label features */
    n_texts = NL * NT;
    texts = calloc((size_t)n_texts, sizeof *texts);
    lab = calloc((size_t)NL * D, sizeof *lab);
    tfeat = malloc((size_t)n_texts * D * sizeof *tfeat);
    if (!texts || !lab || !tfeat) goto oom;
    for (int l = 0; l < NL; l++)
        for (int t = 0; t < NT; t++) {
            texts[l * NT + t] = templates.n ? fill_template(templates.v[t], labels.v[l]) : strdup(labels.v[l]);
            if (!texts[l * NT + t]) goto oom;
        }
    jc_progress prog; /* thousands of labels x templates take minutes: show progress */
    jc_progress_start(&prog, "label texts", "texts", n_texts, false);
    for (int i = 0; i < n_texts; i += 64) {
        int b = n_texts - i < 64 ? n_texts - i : 64;
        if (jaclip_embed_texts(m, (const char *const *)texts + i, b, tfeat + (size_t)i * D, &err)) {
            jc_progress_finish(&prog);
            cli_fail(CMD, &err);
            goto done;
        }
        jc_progress_add(&prog, b);
    }
    jc_progress_finish(&prog);
    jaclip_l2_normalize(tfeat, n_texts, D);
    for (int l = 0; l < NL; l++) {
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < D; j++) lab[(size_t)l * D + j] += tfeat[((size_t)l * NT + t) * D + j];
    }
    jaclip_l2_normalize(lab, NL, D);

    /* images, in batches of 8 */
    int S = jaclip_model_image_params(m)->image_size, B = 8;
    chw = malloc((size_t)B * 3 * S * S * sizeof *chw);
    img = malloc((size_t)B * D * sizeof *img);
    rk = malloc((size_t)NL * sizeof *rk);
    if (!chw || !img || !rk) goto oom;
    int K = top < NL ? (int)top : NL;
    for (int i = 0; i < images.n; i += B) {
        int b = images.n - i < B ? images.n - i : B;
        if (cli_load_images(m, images.v + i, b, chw, &err) || jaclip_embed_pixels(m, chw, b, img, &err)) {
            cli_fail(CMD, &err);
            goto done;
        }
        jaclip_l2_normalize(img, b, D);
        for (int k = 0; k < b; k++) {
            double mx = -INFINITY, sum = 0;
            for (int l = 0; l < NL; l++) {
                double c = 0;
                for (int j = 0; j < D; j++) c += (double)img[(size_t)k * D + j] * lab[(size_t)l * D + j];
                rk[l].idx = l;
                rk[l].p = (float)(c * inv_tau);
                if (rk[l].p > mx) mx = rk[l].p;
            }
            for (int l = 0; l < NL; l++) sum += exp(rk[l].p - mx);
            for (int l = 0; l < NL; l++) rk[l].p = (float)(exp(rk[l].p - mx) / sum);
            qsort(rk, (size_t)NL, sizeof *rk, cmp_ranked);
            if (json) {
                cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
                cJSON_AddStringToObject(o, "image", images.v[i + k]);
                for (int r = 0; r < K; r++) {
                    cJSON *e = cJSON_CreateObject();
                    cJSON_AddStringToObject(e, "label", labels.v[rk[r].idx]);
                    cJSON_AddNumberToObject(e, "prob", rk[r].p);
                    cJSON_AddItemToArray(arr, e);
                }
                cJSON_AddItemToObject(o, "top", arr);
                char *s = cJSON_PrintUnformatted(o);
                if (s) printf("%s\n", s);
                free(s);
                cJSON_Delete(o);
            } else {
                printf("%s\n", images.v[i + k]);
                for (int r = 0; r < K; r++) printf("  %.4f  %s\n", rk[r].p, labels.v[rk[r].idx]);
            }
        }
        fflush(stdout);
    }
    rc = 0;
    goto done;
oom:
    cli_failf(CMD, "out of memory");
done:
    if (texts)
        for (int i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    free(lab);
    free(tfeat);
    free(img);
    free(chw);
    free(rk);
    jaclip_model_free(m);
    cli_strs_free(&images);
    cli_strs_free(&labels);
    cli_strs_free(&templates);
    return rc;
}

JACLIP_COMMAND(cmd_classify, "classify", "zero-shot classification of images against labels", run_classify);
