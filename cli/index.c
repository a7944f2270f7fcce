/*
 * index.c — `jaclip index build|add|add-features|info`: make and grow a search index
 * (layout in src/tasks/index.h). Images are embedded in batches and committed in segments
 * of SEGMENT_ROWS rows, so an interrupted build keeps what it finished and
 * `jaclip index add` with the same inputs continues where it stopped (keys already in the
 * index are skipped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "tasks/eval.h"
#include "tasks/index.h"

#define SEGMENT_ROWS 8192

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip index build --model DIR (IMAGES... | --images-from LIST | --shards DIR) --out INDEX [options]\n"
            "       jaclip index add   --index INDEX [--model DIR] (IMAGES... | --images-from LIST | --shards DIR)\n"
            "       jaclip index add-features --index INDEX --features F.npy --keys KEYS.txt [--f16 | --int8]\n"
            "       jaclip index info  --index INDEX\n"
            "\n"
            "Builds an image search index for `jaclip search`: every image is embedded with the image\n"
            "tower, L2-normalised and stored (memory-mapped at search time) with its path or shard key.\n"
            "\n"
            "  --model DIR         model directory (config.json, model.safetensors, spiece.model)\n"
            "  --tokenizer FILE    SentencePiece model if not DIR/spiece.model (recorded for search)\n"
            "  IMAGES...           image files (JPEG/PNG/WebP)\n"
            "  --images-from LIST  a file with one image path per line\n"
            "  --shards DIR        every DIR/*.tar WebDataset shard (keys become SHARD.tar/KEY)\n"
            "  --out INDEX         the index directory to create\n"
            "  --f16               store float16 rows (half the size and scan time; ranks almost unchanged)\n"
            "  --int8              store int8 rows + one scale per row (4x smaller, slightly lower recall)\n"
            "  --features F.npy    (add-features) precomputed (n, dim) float32 features ...\n"
            "  --keys KEYS.txt     ... and their n keys, one a line; creates INDEX if it does not exist\n"
            "  --threads N         threads (default: all cores)\n"
            "  --quiet             no progress line\n"
            "\n"
            "`add` appends without rewriting what is stored and skips images whose key is already in the\n"
            "index, so rerunning an interrupted build as `add` resumes it. Images that cannot be decoded\n"
            "are skipped with a warning.\n"
            "\n"
            "example:\n"
            "  jaclip index build --model clip-japanese-base-v2 photos/*.jpg --out photos.idx\n"
            "  jaclip search --index photos.idx --text \"夕焼けの海\"\n");
}

typedef struct opts {
    const char *model, *tokenizer, *list, *shards, *out, *index, *features, *keys;
    const char **images;
    int n_images;
    bool int8, f16, quiet;
    long threads;
} opts;

static int parse(const char *cmd, int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->images = calloc((size_t)argc + 1, sizeof *o->images);
    if (!o->images) return cli_failf(cmd, "out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--model")) dst = &o->model;
        else if (!strcmp(a, "--tokenizer")) dst = &o->tokenizer;
        else if (!strcmp(a, "--images-from")) dst = &o->list;
        else if (!strcmp(a, "--shards")) dst = &o->shards;
        else if (!strcmp(a, "--out")) dst = &o->out;
        else if (!strcmp(a, "--index")) dst = &o->index;
        else if (!strcmp(a, "--features")) dst = &o->features;
        else if (!strcmp(a, "--keys")) dst = &o->keys;
        else if (!strcmp(a, "--int8")) o->int8 = true;
        else if (!strcmp(a, "--f16")) o->f16 = true;
        else if (!strcmp(a, "--quiet")) o->quiet = true;
        else if (!strcmp(a, "--threads")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(cmd, "--threads", v, 0, 1024, &o->threads)) return 2;
        } else if (a[0] == '-' && a[1]) {
            cli_failf(cmd, "unknown option '%s' (jaclip index --help)", a);
            return 2;
        } else {
            o->images[o->n_images++] = a;
        }
        if (dst && !(*dst = cli_value(cmd, argc, argv, &i))) return 2;
    }
    return 0;
}

static jc_index_dtype row_type(const opts *o)
{
    return o->int8 ? JC_INDEX_I8 : o->f16 ? JC_INDEX_F16 : JC_INDEX_F32;
}

static int load_images(const char *cmd, const opts *o, jc_image_set *s)
{
    jaclip_err err = {0};
    int sources = (o->n_images > 0) + (o->list != NULL) + (o->shards != NULL);
    if (sources != 1) return cli_failf(cmd, "give the images one way: file arguments, --images-from LIST or --shards DIR");
    jaclip_status st = o->n_images ? jc_image_set_from_files(o->images, o->n_images, s, &err)
                       : o->list   ? jc_image_set_from_list(o->list, s, &err)
                                   : jc_image_set_from_shard_dir(o->shards, s, &err);
    return st ? cli_fail(cmd, &err) : 0;
}

/* Embeds the images whose keys are not yet in the index and appends them in segments. */
static int add_images(const char *cmd, const char *index, const char *model_dir, const opts *o)
{
    jaclip_err err = {0};
    jc_image_set s;
    if (load_images(cmd, o, &s)) return 1;
    jc_index *ix = NULL;
    jc_keyset *ks = NULL;
    jaclip_pool *pool = NULL;
    jaclip_model *m = NULL;
    int64_t *todo = NULL;
    float *feat = NULL;
    uint8_t *ok = NULL;
    const char **keys = NULL;
    float *packed = NULL;
    int rc = 1;
    if (jc_index_open(index, &ix, &err) || jc_index_keyset(ix, &ks, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    int dim = jc_index_dim(ix);
    todo = jc_malloc_array((size_t)s.n + 1, sizeof *todo);
    if (!todo) goto oom;
    int64_t n_todo = 0;
    for (int64_t i = 0; i < s.n; i++)
        if (!jc_keyset_has(ks, s.keys[i], strlen(s.keys[i]))) todo[n_todo++] = i;
    int64_t already = s.n - n_todo;
    jc_keyset_free(ks);
    ks = NULL;
    jc_index_close(ix);
    ix = NULL;
    if (already) fprintf(stderr, "%lld of %lld images are already in %s; adding the other %lld\n", (long long)already,
                         (long long)s.n, index, (long long)n_todo);
    if (n_todo == 0) {
        rc = 0;
        goto done;
    }
    if (jaclip_pool_create((int)o->threads, &pool, &err) || jc_eval_model_load(model_dir, o->tokenizer, pool, &m, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    if (jaclip_model_dim(m) != dim) {
        cli_failf(cmd, "%s: model features have dim %d but %s holds dim %d", model_dir, jaclip_model_dim(m), index, dim);
        goto done;
    }
    feat = jc_malloc_array(SEGMENT_ROWS, (size_t)dim * sizeof(float));
    packed = jc_malloc_array(SEGMENT_ROWS, (size_t)dim * sizeof(float));
    ok = malloc(SEGMENT_ROWS);
    keys = calloc(SEGMENT_ROWS, sizeof *keys);
    if (!feat || !packed || !ok || !keys) goto oom;
    jc_progress prog;
    jc_progress_start(&prog, "index", "img", n_todo, o->quiet);
    int64_t added = 0, skipped = 0;
    /* The images to add are not contiguous in the set when some are already indexed: embed
     * them through a view that lists only those. */
    jc_image_set view = s;
    view.keys = malloc((size_t)n_todo * sizeof *view.keys);
    view.data = malloc((size_t)n_todo * sizeof *view.data);
    view.size = malloc((size_t)n_todo * sizeof *view.size);
    if (!view.keys || !view.data || !view.size) {
        free(view.keys);
        free(view.data);
        free(view.size);
        goto oom;
    }
    for (int64_t i = 0; i < n_todo; i++) {
        view.keys[i] = s.keys[todo[i]];
        view.data[i] = s.data[todo[i]];
        view.size[i] = s.size[todo[i]];
    }
    view.n = n_todo;
    jaclip_status st = JACLIP_OK;
    for (int64_t b0 = 0; b0 < n_todo && !st; b0 += SEGMENT_ROWS) {
        int64_t b1 = b0 + SEGMENT_ROWS < n_todo ? b0 + SEGMENT_ROWS : n_todo;
        st = jc_embed_image_set(m, &view, b0, b1, pool, feat, ok, &prog, &err);
        if (st) break;
        int64_t g = 0;
        for (int64_t i = 0; i < b1 - b0; i++) {
            if (!ok[i]) {
                skipped++;
                continue;
            }
            memcpy(packed + (size_t)g * (size_t)dim, feat + (size_t)i * (size_t)dim, (size_t)dim * sizeof(float));
            keys[g++] = view.keys[b0 + i];
        }
        st = jc_index_append(index, packed, g, dim, keys, &err);
        added += g;
    }
    jc_progress_finish(&prog);
    free(view.keys);
    free(view.data);
    free(view.size);
    if (st) {
        cli_fail(cmd, &err);
        fprintf(stderr, "%lld images were committed before the error; rerun with `jaclip index add` to continue\n",
                (long long)added);
        goto done;
    }
    printf("added %lld images to %s", (long long)added, index);
    if (skipped) printf(" (%lld could not be decoded and were skipped)", (long long)skipped);
    printf("\n");
    rc = 0;
    goto done;
oom:
    cli_failf(cmd, "out of memory");
done:
    jc_keyset_free(ks);
    jc_index_close(ix);
    jaclip_model_free(m);
    jaclip_pool_free(pool);
    jc_image_set_free(&s);
    free(todo);
    free(feat);
    free(packed);
    free(ok);
    free(keys);
    return rc;
}

static int cmd_build(const opts *o)
{
    const char *cmd = "index build";
    if (!o->model) return cli_failf(cmd, "--model is required (jaclip index --help)");
    if (!o->out) return cli_failf(cmd, "--out INDEX is required");
    jaclip_err err = {0};
    jaclip_pool *pool = NULL;
    jaclip_model *m = NULL;
    /* load the model first so that a bad model does not leave an empty index behind */
    if (jaclip_pool_create(1, &pool, &err) || jc_eval_model_load(o->model, o->tokenizer, pool, &m, &err)) {
        jaclip_pool_free(pool);
        return cli_fail(cmd, &err);
    }
    int dim = jaclip_model_dim(m);
    jaclip_model_free(m);
    jaclip_pool_free(pool);
    char *abs = realpath(o->model, NULL);
    jaclip_status st = jc_index_create(o->out, dim, row_type(o), abs ? abs : o->model, &err);
    free(abs);
    if (st) return cli_fail(cmd, &err);
    return add_images(cmd, o->out, o->model, o);
}

static int cmd_add(const opts *o)
{
    const char *cmd = "index add";
    if (!o->index) return cli_failf(cmd, "--index is required");
    jaclip_err err = {0};
    jc_index *ix;
    if (jc_index_open(o->index, &ix, &err)) return cli_fail(cmd, &err);
    char *model = jc_strdup(o->model ? o->model : jc_index_model(ix));
    jc_index_close(ix);
    if (!model || !model[0]) {
        free(model);
        return cli_failf(cmd, "%s records no model; name one with --model", o->index);
    }
    int rc = add_images(cmd, o->index, model, o);
    free(model);
    return rc;
}

static int cmd_add_features(const opts *o)
{
    const char *cmd = "index add-features";
    if (!o->index || !o->features || !o->keys) return cli_failf(cmd, "--index, --features and --keys are required");
    jaclip_err err = {0};
    jc_npy f;
    if (jc_npy_map(o->features, &f, &err)) return cli_fail(cmd, &err);
    char **keys = NULL;
    int n_keys = 0;
    int rc = 1;
    if (strcmp(f.descr, "<f4") != 0 || f.ndim != 2 || f.shape[1] < 1) {
        cli_failf(cmd, "%s: expected a 2-d float32 (n, dim) array, found %s with %d dims", o->features, f.descr, f.ndim);
        goto done;
    }
    if (jc_read_lines(o->keys, &keys, &n_keys, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    if (n_keys != f.shape[0]) {
        cli_failf(cmd, "%s has %d keys but %s has %lld rows", o->keys, n_keys, o->features, (long long)f.shape[0]);
        goto done;
    }
    char *p = jc_path_join(o->index, "index.json");
    bool exists = p && jc_file_exists(p);
    free(p);
    if (!exists && jc_index_create(o->index, (int)f.shape[1], row_type(o), o->model, &err)) {
        p = jc_path_join(o->index, "index.json");
        exists = p && jc_file_exists(p); /* another process created it meanwhile: append to it */
        free(p);
        if (!exists) {
            cli_fail(cmd, &err);
            goto done;
        }
    }
    if (jc_index_append(o->index, f.data, f.shape[0], (int)f.shape[1], (const char *const *)keys, &err)) {
        cli_fail(cmd, &err);
        goto done;
    }
    printf("added %lld rows to %s\n", (long long)f.shape[0], o->index);
    rc = 0;
done:
    jc_free_strings(keys, n_keys);
    jc_npy_unmap(&f);
    return rc;
}

static int cmd_info(const opts *o)
{
    const char *cmd = "index info";
    if (!o->index) return cli_failf(cmd, "--index is required");
    jaclip_err err = {0};
    jc_index *ix;
    if (jc_index_open(o->index, &ix, &err)) return cli_fail(cmd, &err);
    printf("index   %s\nrows    %lld\ndim     %d\ndtype   %s\nmodel   %s\nbytes   %llu\nsimd    %s\n", o->index,
           (long long)jc_index_count(ix), jc_index_dim(ix), jc_index_get_dtype(ix) == JC_INDEX_I8    ? "int8"
           : jc_index_get_dtype(ix) == JC_INDEX_F16 ? "float16"
                                                    : "float32",
           jc_index_model(ix)[0] ? jc_index_model(ix) : "(none)", (unsigned long long)jc_index_file_bytes(ix),
           jc_simd_name(jc_simd_level()));
    jc_index_close(ix);
    return 0;
}

static int run_index(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    opts o;
    int r = parse("index", argc, argv, &o);
    if (!r && o.int8 && o.f16) r = cli_failf("index", "--f16 and --int8 exclude each other"), r = 2;
    if (r) {
        free(o.images);
        return r < 0 ? 0 : r;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "build")) r = cmd_build(&o);
    else if (!strcmp(sub, "add")) r = cmd_add(&o);
    else if (!strcmp(sub, "add-features")) r = cmd_add_features(&o);
    else if (!strcmp(sub, "info")) r = cmd_info(&o);
    else r = cli_failf("index", "unknown subcommand '%s' (build, add, add-features, info)", sub), r = 2;
    free(o.images);
    return r;
}

JACLIP_COMMAND(cmd_index, "index", "build or grow an image search index (for `jaclip search`)", run_index);
