/*
 * filter.c — `jaclip filter`: turns per-pair scores (from `jaclip score`) into the list of
 * kept pairs: the top fraction, or a threshold, optionally followed by the second
 * (NormSim) stage of the negCLIPLoss reference. The selection lives in src/tasks/filter.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

static const char *CMD = "filter";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip filter --scores scores.npy (--keep-fraction F | --threshold T) --out keep.npy\n"
            "                     [--second-scores normsim.npy --second-fraction F2] [--mask]\n"
            "\n"
            "Selects pairs by score (higher is better):\n"
            "  --keep-fraction F      keep the top int(N*F) pairs (ties at the cut: lower index first)\n"
            "  --threshold T          keep every pair with score >= T\n"
            "  --second-scores FILE   second stage (negCLIPLoss -> NormSim): among the survivors keep\n"
            "  --second-fraction F2   the top int(N*F2) by these scores, N = the whole pool; skipped\n"
            "                         when that is not fewer than the survivors (as the reference)\n"
            "  --out FILE             int64 .npy of the kept pair indices, ascending\n"
            "  --mask                 write a uint8 (N,) mask (1 = kept) instead of indices\n"
            "\n"
            "example (the negCLIPLoss paper's best: negCLIPLoss 30%% then NormSim-inf 20%%):\n"
            "  jaclip score --image-emb img.npy --text-emb txt.npy --method negclip --out neg.npy\n"
            "  jaclip score --image-emb img.npy --target-emb target.npy --method normsim --out ns.npy\n"
            "  jaclip filter --scores neg.npy --keep-fraction 0.3 --second-scores ns.npy \\\n"
            "      --second-fraction 0.2 --out keep.npy\n");
}

static int map_scores(const char *path, jc_npy *npy)
{
    jaclip_err err = {0};
    if (jc_npy_map(path, npy, &err)) return cli_fail(CMD, &err);
    if (strcmp(npy->descr, "<f4") || npy->ndim != 1) {
        jc_npy_unmap(npy);
        return cli_failf(CMD, "%s: expected a float32 (N,) array of scores (as `jaclip score` writes)", path);
    }
    return 0;
}

static int run_filter(int argc, char **argv)
{
    const char *scores_path = NULL, *second_path = NULL, *out_path = NULL;
    jaclip_filter_params fp = jaclip_filter_default_params();
    int have_frac = 0, have_thr = 0, have_f2 = 0, mask = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
#define VAL() do { if (!(v = cli_value(CMD, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "--scores")) { VAL(); scores_path = v; }
        else if (!strcmp(a, "--second-scores")) { VAL(); second_path = v; }
        else if (!strcmp(a, "--out")) { VAL(); out_path = v; }
        else if (!strcmp(a, "--mask")) mask = 1;
        else if (!strcmp(a, "--keep-fraction")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, 0, 1, &fp.keep_fraction)) return 2;
            have_frac = 1;
        } else if (!strcmp(a, "--threshold")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, -1e30, 1e30, &fp.threshold)) return 2;
            have_thr = 1;
        } else if (!strcmp(a, "--second-fraction")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, 0, 1, &fp.second_fraction)) return 2;
            have_f2 = 1;
        } else {
            cli_failf(CMD, "unknown option '%s' (jaclip filter --help lists them)", a);
            return 2;
        }
#undef VAL
    }
    if (!scores_path || !out_path) return cli_failf(CMD, "--scores and --out are required"), 2;
    if (have_frac == have_thr) return cli_failf(CMD, "give exactly one of --keep-fraction and --threshold"), 2;
    if (!have_frac) fp.keep_fraction = -1;
    if (!!second_path != have_f2) return cli_failf(CMD, "--second-scores and --second-fraction go together"), 2;

    jc_npy s1 = {0}, s2 = {0};
    uint8_t *keep = NULL;
    int rc = 1;
    jaclip_err err = {0};
    if (map_scores(scores_path, &s1)) return 1;
    int64_t n = s1.shape[0];
    if (second_path) {
        if (map_scores(second_path, &s2)) goto done;
        if (s2.shape[0] != n) {
            cli_failf(CMD, "%s has %lld scores but %s has %lld: both must score the same pairs", scores_path,
                      (long long)n, second_path, (long long)s2.shape[0]);
            goto done;
        }
        fp.second = s2.data;
    }
    keep = malloc(n ? (size_t)n : 1);
    if (!keep) {
        cli_failf(CMD, "out of memory");
        goto done;
    }
    int64_t kept;
    if (jaclip_filter_select(s1.data, n, &fp, keep, &kept, &err)) {
        jc_err_prefix(&err, "%s", strncmp(err.msg, "second", 6) == 0 ? second_path : scores_path);
        cli_fail(CMD, &err);
        goto done;
    }
    if (mask) {
        int64_t shape[1] = {n};
        if (jc_npy_write(out_path, "|u1", shape, 1, keep, &err)) {
            cli_fail(CMD, &err);
            goto done;
        }
    } else {
        int64_t *idx = jc_malloc_array(kept ? (size_t)kept : 1, sizeof *idx), m = 0;
        if (!idx) {
            cli_failf(CMD, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            if (keep[i]) idx[m++] = i;
        int64_t shape[1] = {kept};
        jaclip_status st = jc_npy_write(out_path, "<i8", shape, 1, idx, &err);
        free(idx);
        if (st) {
            cli_fail(CMD, &err);
            goto done;
        }
    }
    const float *sc = s1.data;
    float lo = 0;
    int any = 0;
    for (int64_t i = 0; i < n; i++)
        if (keep[i] && (!any || sc[i] < lo)) {
            lo = sc[i];
            any = 1;
        }
    printf("kept %lld of %lld pairs (%.2f%%)", (long long)kept, (long long)n, n ? 100.0 * (double)kept / (double)n : 0.0);
    if (any) printf(", lowest kept score %.6f", lo);
    printf(" -> %s\n", out_path);
    rc = 0;
done:
    free(keep);
    jc_npy_unmap(&s1);
    jc_npy_unmap(&s2);
    return rc;
}

JACLIP_COMMAND(cmd_filter, "filter", "select pairs by score: top fraction, threshold, two-stage NormSim", run_filter);
