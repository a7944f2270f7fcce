/*
 * filter_shards.c — `jaclip filter-shards`: WebDataset shards in, the best pairs out
 * (embed with the model, score globally with negCLIPLoss or CLIP score, keep the top
 * fraction, write new shards with the scores in <key>.json). Resumable; the pipeline is
 * src/tasks/filter_shards.c.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

static const char *CMD = "filter-shards";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip filter-shards --model DIR --in SHARDS --out SHARDS2 [--method negclip|clipscore]\n"
            "                            --keep-fraction F [options]\n"
            "\n"
            "Embeds every (image, .txt) sample of WebDataset shards with the model, scores all pairs\n"
            "together (negCLIPLoss by default, tau = the model's temperature), keeps the top int(N*F)\n"
            "and writes them, every field unchanged, to SHARDS2/<same shard name>, with <key>.json\n"
            "holding \"score\", \"clipscore\" and \"method\" (merged into the sample's own JSON).\n"
            "Interrupted? Run the same command again: finished steps (in SHARDS2/.jaclip-filter/) and\n"
            "finished shards are kept, every file is written atomically.\n"
            "\n"
            "options:\n"
            "  --model DIR          model snapshot (config.json, model.safetensors, ...)\n"
            "  --tokenizer FILE     SentencePiece model when DIR has no spiece.model\n"
            "  --in PATH            a .tar shard, or a directory of them (repeatable; sorted by name)\n"
            "  --out DIR            output directory\n"
            "  --method M           negclip (default) or clipscore\n"
            "  --keep-fraction F    fraction of all pairs to keep, in [0, 1]\n"
            "  --batch B --repeats K --temperature T --seed S   negCLIPLoss settings (32768, 10,\n"
            "                       the model's tau, 0)\n"
            "  --embed-batch N      samples per model call (default 32)\n"
            "  --threads N          threads (default: all CPUs)\n"
            "  --quiet              no progress lines\n"
            "\n"
            "example:\n"
            "  jaclip filter-shards --model clip-japanese-base-v2 --in shards/ --out filtered/ --keep-fraction 0.3\n");
}

static int cmp_ver(const void *a, const void *b) { return strverscmp(*(char *const *)a, *(char *const *)b); }

/* Appends PATH (a .tar) or the .tar files of directory PATH to *v. */
static int add_input(const char *path, char ***v, int *n, int *cap)
{
    char **found = NULL;
    int nf = 0, cf = 0;
    if (jc_is_dir(path)) {
        DIR *d = opendir(path);
        if (!d) return cli_failf(CMD, "%s: cannot read the directory", path);
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".tar")) continue;
            if (nf == cf) {
                cf = cf ? cf * 2 : 16;
                char **g = realloc(found, (size_t)cf * sizeof *g);
                if (!g) break;
                found = g;
            }
            found[nf++] = jc_path_join(path, de->d_name);
        }
        closedir(d);
        if (nf == 0) {
            free(found);
            return cli_failf(CMD, "%s holds no .tar shards", path);
        }
        qsort(found, (size_t)nf, sizeof *found, cmp_ver);
    } else {
        if (!jc_file_exists(path)) return cli_failf(CMD, "%s: no such shard or directory", path);
        found = malloc(sizeof *found);
        if (!found) return 1;
        found[nf++] = jc_strdup(path);
    }
    for (int i = 0; i < nf; i++) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            char **g = realloc(*v, (size_t)*cap * sizeof *g);
            if (!g) return 1;
            *v = g;
        }
        (*v)[(*n)++] = found[i];
    }
    free(found);
    return 0;
}

static int run_filter_shards(int argc, char **argv)
{
    const char *model_dir = NULL, *out_dir = NULL, *method = "negclip";
    jaclip_model_params mp = jaclip_model_default_params();
    jaclip_filter_shards_params fp = jaclip_filter_shards_default_params();
    char **in = NULL;
    int n_in = 0, cap_in = 0, have_frac = 0, rc = 2;
    long threads = 0, lv;
    double dv;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            rc = 0;
            goto done;
        }
#define VAL() do { if (!(v = cli_value(CMD, argc, argv, &i))) goto done; } while (0)
        if (!strcmp(a, "--model")) { VAL(); model_dir = v; }
        else if (!strcmp(a, "--tokenizer")) { VAL(); mp.tokenizer_path = v; }
        else if (!strcmp(a, "--out")) { VAL(); out_dir = v; }
        else if (!strcmp(a, "--method")) { VAL(); method = v; }
        else if (!strcmp(a, "--quiet")) fp.quiet = 1;
        else if (!strcmp(a, "--in")) {
            VAL();
            if (add_input(v, &in, &n_in, &cap_in)) { rc = 1; goto done; }
        } else if (!strcmp(a, "--keep-fraction")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, 0, 1, &fp.keep_fraction)) goto done;
            have_frac = 1;
        } else if (!strcmp(a, "--batch")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 2, 1L << 24, &lv)) goto done;
            fp.negclip.batch = lv;
        } else if (!strcmp(a, "--repeats")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 1, 10000, &lv)) goto done;
            fp.negclip.repeats = (int)lv;
        } else if (!strcmp(a, "--seed")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 0, 0x7fffffffffffffffL, &lv)) goto done;
            fp.negclip.seed = (uint64_t)lv;
        } else if (!strcmp(a, "--temperature")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, 1e-4, 100, &dv)) goto done;
            fp.negclip.temperature = (float)dv;
        } else if (!strcmp(a, "--embed-batch")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 1, 4096, &lv)) goto done;
            fp.embed_batch = (int)lv;
        } else if (!strcmp(a, "--threads")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 0, 1024, &threads)) goto done;
        } else {
            cli_failf(CMD, "unknown option '%s' (jaclip filter-shards --help lists them)", a);
            goto done;
        }
#undef VAL
    }
    if (!model_dir || !out_dir || !n_in || !have_frac) {
        cli_failf(CMD, "--model, --in, --out and --keep-fraction are required");
        goto done;
    }
    if (strcmp(method, "negclip") && strcmp(method, "clipscore")) {
        cli_failf(CMD, "--method must be negclip or clipscore, not '%s'", method);
        goto done;
    }
    fp.use_clipscore = !strcmp(method, "clipscore");
    rc = 1;
    jaclip_err err = {0};
    jaclip_pool *pool = NULL;
    jaclip_model *m = NULL;
    if (jaclip_pool_create((int)threads, &pool, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    mp.pool = pool;
    if (jaclip_model_load(model_dir, &mp, &m, &err)) {
        cli_fail(CMD, &err);
        jaclip_pool_free(pool);
        goto done;
    }
    fp.in_shards = (const char *const *)in;
    fp.n_in = n_in;
    fp.out_dir = out_dir;
    fp.negclip.pool = pool;
    jaclip_filter_shards_result res;
    double t0 = jc_now();
    jaclip_status st = jaclip_filter_shards(m, &fp, &res, &err);
    if (st) {
        cli_fail(CMD, &err);
        fprintf(stderr, "jaclip filter-shards: finished steps are kept; fix the problem and run the same command again\n");
    } else {
        printf("%d shards: %d embedded, %d from a previous run; %lld pairs (%lld samples skipped)\n", n_in,
               res.shards_embedded, res.shards_cached, (long long)res.n_pairs, (long long)res.n_skipped);
        printf("%s, kept %lld of %lld pairs (%.2f%%) -> %s: %d shards written, %d already there (%.1f s)\n", method,
               (long long)res.n_kept, (long long)res.n_pairs, 100.0 * (double)res.n_kept / (double)res.n_pairs, out_dir,
               res.shards_written, res.shards_existing, jc_now() - t0);
        rc = 0;
    }
    jaclip_model_free(m);
    jaclip_pool_free(pool);
done:
    for (int i = 0; i < n_in; i++) free(in[i]);
    free(in);
    return rc;
}

JACLIP_COMMAND(cmd_filter_shards, "filter-shards", "filter WebDataset shards: embed, score globally, keep the best pairs",
               run_filter_shards);
