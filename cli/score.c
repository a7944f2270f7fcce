/*
 * score.c — `jaclip score`: per-pair data-selection scores from precomputed embeddings
 * (CLIP score, negCLIPLoss, NormSim), written as a float32 .npy and, with --keys, as JSONL
 * with one key per pair. The embeddings are memory-mapped, never loaded whole.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "tasks/score.h"

static const char *CMD = "score";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip score --image-emb I.npy --text-emb T.npy --method clipscore|negclip --out scores.npy\n"
            "       jaclip score --image-emb I.npy --target-emb G.npy --method normsim [--norm inf|2] --out s.npy\n"
            "\n"
            "Scores every image-text pair for data filtering. Embeddings are (N, D) float32 or float16\n"
            "(\"<f2\") .npy files, row i of both files being pair i; rows are L2-normalised first.\n"
            "\n"
            "methods:\n"
            "  clipscore   cosine of the pair (DataComp CLIP score)\n"
            "  negclip     negCLIPLoss (Wang et al. 2024): cosine minus tau/2 x (row LSE + column LSE)\n"
            "              of the similarities inside random batches, averaged over K batchings;\n"
            "              penalises generic images and captions that match many others\n"
            "  normsim     NormSim_p of each image against target image embeddings (--target-emb)\n"
            "\n"
            "options:\n"
            "  --image-emb FILE     image embeddings (N, D)\n"
            "  --text-emb FILE      text embeddings (N, D) (clipscore, negclip)\n"
            "  --target-emb FILE    target-set image embeddings (M, D) (normsim)\n"
            "  --norm inf|2         NormSim norm (default inf: similarity to the nearest target)\n"
            "  --batch B            negclip batch size (default 32768); batches are near-equal in size\n"
            "  --repeats K          negclip random batchings averaged (default 10)\n"
            "  --temperature T      tau of the model that made the embeddings (default 0.01)\n"
            "  --seed S             batching seed (default 0); same seed, same scores\n"
            "  --threads N          threads (default: all CPUs)\n"
            "  --keys FILE          one key per line (N lines): also write JSONL {\"key\",\"score\",...}\n"
            "  --jsonl FILE         where the JSONL goes (default: the --out path with .jsonl)\n"
            "  --quiet              no progress line\n"
            "  --out FILE           scores, float32 .npy of shape (N,); higher is better\n"
            "\n"
            "example:\n"
            "  jaclip score --image-emb img.npy --text-emb txt.npy --method negclip --temperature 0.01 \\\n"
            "      --keys keys.txt --out scores.npy\n");
}

static int map_emb(const char *path, jc_npy *npy, jaclip_emb_view *v)
{
    jaclip_err err = {0};
    if (jc_npy_map(path, npy, &err)) return cli_fail(CMD, &err);
    if (npy->ndim != 2) {
        jc_npy_unmap(npy);
        return cli_failf(CMD, "%s: expected a 2-D (N, D) array of embeddings, got %d dimensions", path, npy->ndim);
    }
    if (strcmp(npy->descr, "<f4") && strcmp(npy->descr, "<f2")) {
        char d[8];
        memcpy(d, npy->descr, sizeof d);
        jc_npy_unmap(npy);
        return cli_failf(CMD, "%s: embeddings must be float32 (<f4) or float16 (<f2), not %s", path, d);
    }
    if (npy->shape[1] < 1 || npy->shape[1] > (1 << 20)) {
        jc_npy_unmap(npy);
        return cli_failf(CMD, "%s: embedding size %lld is not usable", path, (long long)npy->shape[1]);
    }
    v->data = npy->data;
    v->n = npy->shape[0];
    v->dim = (int)npy->shape[1];
    v->dtype = strcmp(npy->descr, "<f2") == 0 ? JACLIP_F16 : JACLIP_F32;
    v->name = path;
    return 0;
}

/* n floats for the scores. Past 256 MB they live in an unlinked temp file next to the output,
 * mapped shared: page cache the kernel can write back, not anonymous memory, so the resident
 * memory of `jaclip score` stays O(B*D) for any number of pairs. *maplen = 0: malloc'd.
 * JACLIP_SCORES_INMEM_MAX (bytes) moves the limit (the tests set 0 to exercise the file). */
static float *alloc_scores(const char *out_path, int64_t n, size_t *maplen)
{
    size_t bytes = (size_t)n * sizeof(float);
    *maplen = 0;
    size_t limit = (size_t)256 << 20;
    const char *env = getenv("JACLIP_SCORES_INMEM_MAX");
    if (env && *env) limit = (size_t)strtoull(env, NULL, 10);
    if (bytes < limit || bytes == 0) return malloc(bytes ? bytes : 1);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.scores-tmp.%d", out_path, (int)getpid());
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return NULL;
    unlink(tmp);
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)bytes) == 0) p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return NULL;
    *maplen = bytes;
    return p;
}

static void free_scores(float *p, size_t maplen)
{
    if (maplen) munmap(p, maplen);
    else free(p);
}

static int run_score(int argc, char **argv)
{
    const char *img_path = NULL, *txt_path = NULL, *tgt_path = NULL, *out_path = NULL, *method = NULL;
    const char *keys_path = NULL, *jsonl_path = NULL;
    jaclip_negclip_params np = jaclip_negclip_default_params();
    np.quiet = 0;
    double norm = INFINITY;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long lv;
        double dv;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
#define VAL() do { if (!(v = cli_value(CMD, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "--image-emb")) { VAL(); img_path = v; }
        else if (!strcmp(a, "--text-emb")) { VAL(); txt_path = v; }
        else if (!strcmp(a, "--target-emb")) { VAL(); tgt_path = v; }
        else if (!strcmp(a, "--out")) { VAL(); out_path = v; }
        else if (!strcmp(a, "--method")) { VAL(); method = v; }
        else if (!strcmp(a, "--keys")) { VAL(); keys_path = v; }
        else if (!strcmp(a, "--jsonl")) { VAL(); jsonl_path = v; }
        else if (!strcmp(a, "--quiet")) np.quiet = 1;
        else if (!strcmp(a, "--norm")) {
            VAL();
            if (!strcmp(v, "inf")) norm = INFINITY;
            else if (!strcmp(v, "2")) norm = 2;
            else return cli_failf(CMD, "--norm expects inf or 2, got '%s'", v), 2;
        } else if (!strcmp(a, "--batch")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 2, 1L << 24, &lv)) return 2;
            np.batch = lv;
        } else if (!strcmp(a, "--repeats")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 1, 10000, &lv)) return 2;
            np.repeats = (int)lv;
        } else if (!strcmp(a, "--seed")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 0, 0x7fffffffffffffffL, &lv)) return 2;
            np.seed = (uint64_t)lv;
        } else if (!strcmp(a, "--temperature")) {
            VAL();
            if (!cli_parse_double(CMD, a, v, 1e-4, 100, &dv)) return 2;
            np.temperature = (float)dv;
        } else if (!strcmp(a, "--threads")) {
            VAL();
            if (!cli_parse_int(CMD, a, v, 0, 1024, &threads)) return 2;
        } else {
            cli_failf(CMD, "unknown option '%s' (jaclip score --help lists them)", a);
            return 2;
        }
#undef VAL
    }
    if (!method) return cli_failf(CMD, "--method clipscore|negclip|normsim is required"), 2;
    int m_clip = !strcmp(method, "clipscore"), m_neg = !strcmp(method, "negclip"), m_ns = !strcmp(method, "normsim");
    if (!m_clip && !m_neg && !m_ns) return cli_failf(CMD, "unknown --method '%s' (clipscore, negclip, normsim)", method), 2;
    if (!img_path) return cli_failf(CMD, "--image-emb is required"), 2;
    if (!out_path) return cli_failf(CMD, "--out is required"), 2;
    if (!m_ns && !txt_path) return cli_failf(CMD, "--method %s needs --text-emb", method), 2;
    if (m_ns && !tgt_path) return cli_failf(CMD, "--method normsim needs --target-emb (target-set image embeddings)"), 2;
    if (!m_ns && tgt_path) return cli_failf(CMD, "--target-emb is only used by --method normsim"), 2;

    jc_npy ni = {0}, nt = {0}, ng = {0};
    jaclip_emb_view vi = {0}, vt = {0}, vg = {0};
    float *out = NULL, *cosv = NULL;
    size_t out_map = 0, cos_map = 0;
    jaclip_pool *pool = NULL;
    jaclip_err err = {0};
    int rc = 1;
    if (map_emb(img_path, &ni, &vi)) return 1;
    if (txt_path && map_emb(txt_path, &nt, &vt)) goto done;
    if (tgt_path && map_emb(tgt_path, &ng, &vg)) goto done;
    if (jaclip_pool_create((int)threads, &pool, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    np.pool = pool;
    out = alloc_scores(out_path, vi.n, &out_map);
    if (!out) {
        cli_failf(CMD, "out of memory for %lld scores", (long long)vi.n);
        goto done;
    }
    double t0 = jc_now();
    jaclip_status st;
    if (m_clip) st = jaclip_score_clip(&vi, &vt, out, &err);
    else if (m_neg) st = jaclip_score_negclip(&vi, &vt, &np, out, &err);
    else st = jaclip_score_normsim(&vi, &vg, norm, pool, out, &err);
    if (st) {
        cli_fail(CMD, &err);
        goto done;
    }
    double dt = jc_now() - t0;
    int64_t shape[1] = {vi.n};
    if (jc_npy_write(out_path, "<f4", shape, 1, out, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    double mn = INFINITY, mx = -INFINITY, mean = 0;
    for (int64_t i = 0; i < vi.n; i++) {
        mn = fmin(mn, out[i]);
        mx = fmax(mx, out[i]);
        mean += out[i];
    }
    mean /= (double)vi.n;
    if (m_neg)
        printf("negclip: %lld pairs, D=%d, B=%lld, K=%d, tau=%g, seed=%llu, kernel %s, %d threads: %.2f s\n",
               (long long)vi.n, vi.dim, (long long)np.batch, np.repeats, (double)np.temperature,
               (unsigned long long)np.seed, jc_score_kernel_name(), jaclip_pool_size(pool), dt);
    else if (m_ns)
        printf("normsim: %lld images against %lld targets, D=%d, p=%s, kernel %s: %.2f s\n", (long long)vi.n,
               (long long)vg.n, vi.dim, isinf(norm) ? "inf" : "2", jc_score_kernel_name(), dt);
    else
        printf("clipscore: %lld pairs, D=%d: %.2f s\n", (long long)vi.n, vi.dim, dt);
    printf("scores: min %.6f  mean %.6f  max %.6f -> %s\n", mn, mean, mx, out_path);

    if (keys_path) {
        char *jp = NULL;
        if (!jsonl_path) {
            size_t l = strlen(out_path);
            jp = malloc(l + 8);
            if (!jp) goto done;
            memcpy(jp, out_path, l + 1);
            if (l > 4 && !strcmp(jp + l - 4, ".npy")) jp[l - 4] = 0;
            strcat(jp, ".jsonl");
        }
        const char *names[2] = {method, "clipscore"};
        const float *cols[2] = {out, NULL};
        int ncols = 1;
        if (m_neg) {
            cosv = alloc_scores(out_path, vi.n, &cos_map);
            if (!cosv || jaclip_score_clip(&vi, &vt, cosv, &err)) {
                free(jp);
                cli_fail(CMD, &err);
                goto done;
            }
            cols[1] = cosv;
            ncols = 2;
        }
        names[0] = "score";
        st = jc_scores_write_jsonl(jsonl_path ? jsonl_path : jp, keys_path, vi.n, ncols, names, cols, &err);
        if (st) {
            free(jp);
            cli_fail(CMD, &err);
            goto done;
        }
        printf("keys and scores -> %s\n", jsonl_path ? jsonl_path : jp);
        free(jp);
    }
    rc = 0;
done:
    if (out) free_scores(out, out_map);
    if (cosv) free_scores(cosv, cos_map);
    jaclip_pool_free(pool);
    jc_npy_unmap(&ni);
    jc_npy_unmap(&nt);
    jc_npy_unmap(&ng);
    return rc;
}

JACLIP_COMMAND(cmd_score, "score", "score pairs for filtering: CLIP score, negCLIPLoss, NormSim", run_score);
