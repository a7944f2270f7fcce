/*
 * eval.c — `jaclip eval zeroshot|retrieval`: the seed's benchmark protocol
 * (algorithms.md §6) over CLIP_benchmark WebDataset layouts or COCO/STAIR caption JSON.
 * Prints a readable summary; --out writes CLIP_benchmark's result JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "cli.h"
#include "tasks/eval.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip eval zeroshot  --model DIR --dataset ROOT [--split test] [--templates FILE|none|both] [options]\n"
            "       jaclip eval retrieval --model DIR (--dataset ROOT [--split test] | --images DIR --captions FILE.json) [options]\n"
            "\n"
            "zeroshot: classifies ROOT/SPLIT/N.tar (CLIP_benchmark layout: nshards.txt, KEY.jpg + KEY.cls) into the\n"
            "  classes of ROOT/classnames.txt. A class is the renormalised mean of its normalised template embeddings;\n"
            "  templates come from ROOT/zeroshot_classification_templates.txt ({c} = class name) unless --templates\n"
            "  FILE names another; 'none' uses the bare class names, 'both' runs both and reports the better acc1\n"
            "  (the seed's protocol). Reports acc1, acc5 and mean_per_class_recall.\n"
            "retrieval: image->text and text->image recall@K with several captions per image, from ROOT/SPLIT/N.tar\n"
            "  (KEY.jpg + KEY.txt, one caption a line) or from a COCO/STAIR caption JSON with its image folder.\n"
            "  Reports image_retrieval_recall@K (text->image), text_retrieval_recall@K (image->text) and\n"
            "  mean_recall@1 = their R@1 mean (the STAIR score).\n"
            "\n"
            "options:\n"
            "  --model DIR           model directory; --tokenizer FILE if spiece.model is not in it\n"
            "  --out FILE.json       write the result (CLIP_benchmark names; fractions in [0,1]) atomically\n"
            "  --k 1,5,10            recall@K values for retrieval\n"
            "  --image-list FILE     with --captions: only these images (COCO ids or file names, one a line;\n"
            "                        e.g. the Karpathy 5k test split of val2014 for STAIR Captions)\n"
            "  --limit N             evaluate only the first N images (quick checks)\n"
            "  --cache DIR           feature cache (default $JACLIP_CACHE or ~/.cache/jaclip/features);\n"
            "  --no-cache            a second run reuses the image features, an interrupted run resumes\n"
            "  --save-features DIR   also write the features and labels used as .npy (for external checks)\n"
            "  --ties gold-last|gold-first  how exact score ties count (default gold-last: a tie is a miss)\n"
            "  --threads N           threads (default: all cores); --quiet: no progress lines\n"
            "\n"
            "example:\n"
            "  jaclip eval zeroshot --model clip-japanese-base-v2 --dataset cifar10 --templates both --out cifar10.json\n");
}

static void print_pct(const char *name, const cJSON *mo, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mo, key);
    if (cJSON_IsNumber(v)) printf("  %-28s %6.2f %%\n", name, 100.0 * v->valuedouble);
    else printf("  %-28s    n/a\n", name);
}

static int run_eval(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool zs = !strcmp(sub, "zeroshot"), rt = !strcmp(sub, "retrieval");
    char cmd[64];
    snprintf(cmd, sizeof cmd, "eval %s", sub);
    if (!zs && !rt) {
        cli_failf("eval", "unknown evaluation '%s' (zeroshot or retrieval)", sub);
        return 2;
    }
    jc_eval_params p = jc_eval_default_params();
    const char *out = NULL, *cache = NULL;
    bool no_cache = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model")) dst = &p.model_dir;
        else if (!strcmp(a, "--tokenizer")) dst = &p.tokenizer;
        else if (!strcmp(a, "--dataset")) dst = &p.dataset_root;
        else if (!strcmp(a, "--split")) dst = &p.split;
        else if (!strcmp(a, "--images")) dst = &p.images_dir;
        else if (!strcmp(a, "--captions")) dst = &p.captions;
        else if (!strcmp(a, "--image-list")) dst = &p.image_list;
        else if (!strcmp(a, "--out")) dst = &out;
        else if (!strcmp(a, "--cache")) dst = &cache;
        else if (!strcmp(a, "--save-features")) dst = &p.save_features;
        else if (!strcmp(a, "--no-cache")) no_cache = true;
        else if (!strcmp(a, "--quiet")) p.quiet = true;
        else if (!strcmp(a, "--templates")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(v, "none")) p.template_mode = JC_TEMPLATES_NONE;
            else if (!strcmp(v, "both")) p.template_mode = JC_TEMPLATES_BOTH;
            else p.templates = v;
        } else if (!strcmp(a, "--ties")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(v, "gold-last")) p.ties = JC_TIES_GOLD_LAST;
            else if (!strcmp(v, "gold-first")) p.ties = JC_TIES_GOLD_FIRST;
            else return cli_failf(cmd, "--ties expects gold-last or gold-first, got '%s'", v), 2;
        } else if (!strcmp(a, "--limit") || !strcmp(a, "--threads")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            long x;
            if (!v || !cli_parse_int(cmd, a, v, 0, a[2] == 'l' ? 2000000000L : 1024, &x)) return 2;
            if (a[2] == 'l') p.limit = x;
            else p.n_threads = (int)x;
        } else if (!strcmp(a, "--k")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            p.n_k = 0;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                long k;
                if (p.n_k == JC_RETRIEVAL_MAX_K) return cli_failf(cmd, "--k takes at most %d values", JC_RETRIEVAL_MAX_K), 2;
                if (!cli_parse_int(cmd, "--k", tok, 1, 1000000, &k)) return 2;
                p.ks[p.n_k++] = (int)k;
            }
            if (!p.n_k) return cli_failf(cmd, "--k needs values such as 1,5,10"), 2;
        } else {
            cli_failf(cmd, "unknown option '%s' (jaclip eval --help)", a);
            return 2;
        }
        if (dst && !(*dst = cli_value(cmd, argc, argv, &i))) return 2;
    }
    if (!p.model_dir) return cli_failf(cmd, "--model DIR is required (jaclip eval --help)"), 2;
    if (zs && !p.dataset_root) return cli_failf(cmd, "--dataset ROOT is required"), 2;
    if (rt && !p.dataset_root && !p.captions) return cli_failf(cmd, "give --dataset ROOT, or --images DIR --captions FILE.json"), 2;
    if (rt && p.captions && !p.images_dir) return cli_failf(cmd, "--captions needs --images DIR (the folder of the file_name entries)"), 2;
    char *cache_root = no_cache ? NULL : cache ? jc_strdup(cache) : jc_cache_default_root();
    p.cache_root = cache_root;
    jaclip_err err = {0};
    cJSON *res = NULL;
    double t0 = jc_now();
    jaclip_status st = zs ? jc_eval_zeroshot(&p, &res, &err) : jc_eval_retrieval(&p, &res, &err);
    free(cache_root);
    if (st) return cli_fail(cmd, &err);
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(res, "metrics");
    const cJSON *ni = cJSON_GetObjectItemCaseSensitive(res, "n_images");
    if (zs) {
        const cJSON *nc = cJSON_GetObjectItemCaseSensitive(res, "n_classes");
        const cJSON *best = cJSON_GetObjectItemCaseSensitive(res, "best");
        printf("zero-shot classification: %s (%s), %d images, %d classes\n", p.dataset_root, p.split, ni->valueint, nc->valueint);
        if (p.template_mode == JC_TEMPLATES_BOTH) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(res, "metrics_templates");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(res, "metrics_no_templates");
            printf("with templates:\n");
            print_pct("acc1", a, "acc1");
            print_pct("acc5", a, "acc5");
            print_pct("mean_per_class_recall", a, "mean_per_class_recall");
            printf("without templates:\n");
            print_pct("acc1", b, "acc1");
            print_pct("acc5", b, "acc5");
            print_pct("mean_per_class_recall", b, "mean_per_class_recall");
            printf("best of the two (%s):\n", best->valuestring);
        }
        print_pct("acc1", mo, "acc1");
        print_pct("acc5", mo, "acc5");
        print_pct("mean_per_class_recall", mo, "mean_per_class_recall");
    } else {
        const cJSON *nc = cJSON_GetObjectItemCaseSensitive(res, "n_captions");
        printf("image-text retrieval: %s, %d images, %d captions\n", p.captions ? p.captions : p.dataset_root, ni->valueint,
               nc->valueint);
        char k1[64], k2[64], n1[64], n2[64];
        for (int q = 0; q < p.n_k; q++) {
            snprintf(k1, sizeof k1, "image_retrieval_recall@%d", p.ks[q]);
            snprintf(n1, sizeof n1, "text->image R@%d", p.ks[q]);
            print_pct(n1, mo, k1);
        }
        for (int q = 0; q < p.n_k; q++) {
            snprintf(k2, sizeof k2, "text_retrieval_recall@%d", p.ks[q]);
            snprintf(n2, sizeof n2, "image->text R@%d", p.ks[q]);
            print_pct(n2, mo, k2);
        }
        print_pct("mean R@1 (STAIR score)", mo, "mean_recall@1");
    }
    printf("(%.1f s)\n", jc_now() - t0);
    int rc = 0;
    if (out) {
        char *text = cJSON_Print(res);
        if (!text || jc_write_file_atomic(out, text, strlen(text), &err)) rc = text ? cli_fail(cmd, &err) : cli_failf(cmd, "out of memory");
        else printf("wrote %s\n", out);
        free(text);
    }
    cJSON_Delete(res);
    return rc;
}

JACLIP_COMMAND(cmd_eval, "eval", "zero-shot classification and image-text retrieval benchmarks", run_eval);
