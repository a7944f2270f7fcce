/*
 * search.c — `jaclip search`: the top-k images of an index for a text, an image or a
 * precomputed query vector. Exact search (full scan, SIMD, --threads); the index layout
 * is in src/tasks/index.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/base.h"
#include "cli.h"
#include "tasks/eval.h"
#include "tasks/index.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip search --index INDEX (--text TEXT | --image FILE | --vector Q.npy) [options]\n"
            "\n"
            "Finds the images of INDEX (made by `jaclip index build`) closest to a text or an image.\n"
            "\n"
            "  --index DIR       the index directory\n"
            "  --text TEXT       a Japanese query, embedded with the text tower\n"
            "  --image FILE      a query image (JPEG/PNG/WebP), embedded with the image tower\n"
            "  --vector Q.npy    a precomputed query feature (dim floats, any norm)\n"
            "  --model DIR       model for --text/--image (default: the model recorded in the index)\n"
            "  --tokenizer FILE  SentencePiece model (default: MODEL/spiece.model)\n"
            "  --top K           how many results (default 10)\n"
            "  --json            print one JSON object: {\"query\":..., \"results\":[{\"rank\",\"key\",\"score\"}]}\n"
            "  --threads N       threads for the scan (default: all cores)\n"
            "\n"
            "Scores are cosine similarities. Ties are ordered by row (insertion order).\n"
            "\n"
            "example:\n"
            "  jaclip search --index photos.idx --text \"夕焼けの海\" --top 5\n");
}

int run_search(int argc, char **argv)
{
    const char *cmd = "search";
    const char *index = NULL, *text = NULL, *image = NULL, *vector = NULL, *model = NULL, *tokenizer = NULL;
    long top = 10, threads = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--index")) {
            if (!(index = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--text")) {
            if (!(text = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--image")) {
            if (!(image = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--vector")) {
            if (!(vector = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--model")) {
            if (!(model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--tokenizer")) {
            if (!(tokenizer = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--top")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(cmd, "--top", v, 1, 100000, &top)) return 2;
        } else if (!strcmp(a, "--threads")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(cmd, "--threads", v, 0, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            cli_failf(cmd, "unknown option '%s' (jaclip search --help)", a);
            return 2;
        }
    }
    if (!index) {
        cli_failf(cmd, "--index is required (jaclip search --help)");
        return 2;
    }
    if ((text != NULL) + (image != NULL) + (vector != NULL) != 1) {
        cli_failf(cmd, "give exactly one of --text, --image, --vector");
        return 2;
    }
    jaclip_err err = {0};
    jc_index *ix = NULL;
    if (jc_index_open(index, &ix, &err)) return cli_fail(cmd, &err);
    int dim = jc_index_dim(ix);
    float *q = jc_calloc((size_t)dim, sizeof(float));
    jaclip_pool *pool = NULL;
    jc_hit *hits = jc_calloc((size_t)top, sizeof(jc_hit));
    int rc = 1, n_hits = 0;
    if (!q || !hits) {
        cli_failf(cmd, "out of memory");
        goto done;
    }
    if (jaclip_pool_create((int)threads, &pool, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    if (vector) {
        jc_npy v;
        if (jc_npy_map(vector, &v, &err)) {
            cli_fail(cmd, &err);
            goto done;
        }
        bool ok = strcmp(v.descr, "<f4") == 0 && (int64_t)v.count == dim;
        if (ok) memcpy(q, v.data, (size_t)dim * sizeof(float));
        jc_npy_unmap(&v);
        if (!ok) {
            cli_failf(cmd, "%s: expected %d float32 values (the index dim)", vector, dim);
            goto done;
        }
    } else {
        const char *mdir = model ? model : jc_index_model(ix);
        if (!mdir[0]) {
            cli_failf(cmd, "%s records no model; name one with --model", index);
            goto done;
        }
        if (jc_embed_query(mdir, tokenizer, text, image, pool, q, dim, &err)) {
            cli_fail(cmd, &err);
            goto done;
        }
    }
    double t0 = jc_now();
    if (jc_index_search(ix, q, (int)top, pool, hits, &n_hits, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    double ms = (jc_now() - t0) * 1e3;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "query", text ? text : image ? image : vector);
        cJSON_AddNumberToObject(j, "searched", (double)jc_index_count(ix));
        cJSON_AddNumberToObject(j, "ms", ms);
        cJSON *arr = cJSON_AddArrayToObject(j, "results");
        for (int i = 0; i < n_hits; i++) {
            size_t len;
            const char *k = jc_index_key(ix, hits[i].row, &len);
            char *ks = malloc(len + 1);
            if (!ks) break;
            memcpy(ks, k, len);
            ks[len] = 0;
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "rank", i + 1);
            cJSON_AddStringToObject(r, "key", ks);
            cJSON_AddNumberToObject(r, "score", hits[i].score);
            cJSON_AddItemToArray(arr, r);
            free(ks);
        }
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        for (int i = 0; i < n_hits; i++) {
            size_t len;
            const char *k = jc_index_key(ix, hits[i].row, &len);
            printf("%3d  %.4f  %.*s\n", i + 1, hits[i].score, (int)len, k);
        }
        fprintf(stderr, "searched %lld images in %.1f ms\n", (long long)jc_index_count(ix), ms);
    }
    rc = 0;
done:
    jaclip_pool_free(pool);
    free(q);
    free(hits);
    jc_index_close(ix);
    return rc;
}

JACLIP_COMMAND(cmd_search, "search", "find the images of an index closest to a text or an image", run_search);
