/*
 * bench.c — `jaclip bench`: how fast the model runs on this machine. Measures the fp32 FMA
 * peak of the CPU with a register-only probe (1 thread and all pool threads), then times
 * the image tower (batch 1 and 8, synthetic pixels) and the text tower (batch 1 and 8,
 * synthetic ids of --text-len tokens, packed without padding; or the texts of a file with
 * --texts-from, in file order, B at a time) as best-of-N and median,
 * with GFLOP/s and % of the measured peak. --profile adds a per-operation breakdown
 * (kernels/prof.h). Timings are wall clock: on a shared machine compare runs made in one
 * go, never numbers from different days.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "cli_model.h"
#include "kernels/gemm.h"
#include "kernels/prof.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define JC_X86 1
#endif

static const char *const CMD = "bench";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip bench --model DIR [options]\n"
            "\n"
            "Times the image and text towers on synthetic inputs (no image decoding or tokenizing)\n"
            "and prints ms per image / per text at batch 1 and 8 (best of N and median), GFLOP/s\n"
            "and the share of this machine's fp32 peak, measured first with an FMA probe.\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face snapshot (config.json, model.safetensors, ...)\n"
            "  --tokenizer FILE   the SentencePiece model, when DIR has no spiece.model\n"
            "  --threads N        worker threads (default: all CPUs)\n"
            "  --allow-unknown-config  accept config.json keys this version does not know\n"
            "  --dtype fp32|fp16|int8  fp16: block weights stored as fp16, fp32 math (faster batch-1 texts);\n"
            "                     int8: quantize the transformer blocks at load (see README)\n"
            "  --runs N           timed runs per measurement (default 5, after one warm-up)\n"
            "  --text-len L       tokens per synthetic text, [CLS] included (default 16)\n"
            "  --texts-from FILE  time these texts instead (UTF-8, one per line, as jaclip embed reads them):\n"
            "                     tokenized first, then embedded B at a time in file order; ms per\n"
            "                     text is a pass over the whole file divided by its size\n"
            "  --batches LIST     batch sizes, comma-separated (default 1,8)\n"
            "  --only image|text  time one tower only\n"
            "  --profile          per-operation breakdown (GEMM by shape, attention, LayerNorm, ...)\n"
            "  --json             one JSON object on stdout instead of the table\n"
            "\n"
            "environment (kernel work):\n"
            "  JACLIP_GEMM=portable|avx2|avx512|avx512vnni   cap the SIMD level\n"
            "  JACLIP_GEMM_BLOCK=KC,MC,NB[,MR]               fp32 GEMM blocking (bench/cpu_check.sh --sweep)\n"
            "\n"
            "example:\n"
            "  jaclip bench --model clip-japanese-base-v2 --threads 2 --profile\n"
            "  jaclip bench --model clip-japanese-base-v2 --only text --texts-from prompts.txt\n");
}

/* ---- FMA peak probe ------------------------------------------------------------------- */
#ifdef JC_X86
__attribute__((target("avx2,fma"))) static double probe_avx2(long iters)
{
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
           a9 = a0, a10 = a0, a11 = a0;
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, b, c), a1 = _mm256_fmadd_ps(a1, b, c), a2 = _mm256_fmadd_ps(a2, b, c);
        a3 = _mm256_fmadd_ps(a3, b, c), a4 = _mm256_fmadd_ps(a4, b, c), a5 = _mm256_fmadd_ps(a5, b, c);
        a6 = _mm256_fmadd_ps(a6, b, c), a7 = _mm256_fmadd_ps(a7, b, c), a8 = _mm256_fmadd_ps(a8, b, c);
        a9 = _mm256_fmadd_ps(a9, b, c), a10 = _mm256_fmadd_ps(a10, b, c), a11 = _mm256_fmadd_ps(a11, b, c);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float r[8];
    _mm256_storeu_ps(r, s);
    return (double)iters * 12 * 16 + (r[0] == 12345.0f); /* flops */
}

__attribute__((target("avx512f"))) static double probe_avx512(long iters)
{
    __m512 a[24];
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps(1.0f);
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        _Pragma("GCC unroll 24") for (int j = 0; j < 24; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]),
                         "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]));
        __asm__ volatile("" : "+v"(a[12]), "+v"(a[13]), "+v"(a[14]), "+v"(a[15]), "+v"(a[16]), "+v"(a[17]),
                         "+v"(a[18]), "+v"(a[19]), "+v"(a[20]), "+v"(a[21]), "+v"(a[22]), "+v"(a[23]));
    }
    float s = 0;
    for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(a[i]);
    return (double)iters * 24 * 32 + (s == 12345.0f);
}
#endif

static double probe_flops(long iters)
{
#ifdef JC_X86
    int lv = gemm_level();
    if (lv == 2) return probe_avx512(iters);
    if (lv == 1) return probe_avx2(iters);
#endif
    /* portable: a scalar FMA-free chain set; still a useful "peak" for that kernel */
    volatile float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    float x0 = a[0], x1 = a[1], x2 = a[2], x3 = a[3];
    for (long i = 0; i < iters * 8; i++) x0 = x0 * 0.999999f + 1e-7f, x1 = x1 * 0.999999f + 1e-7f,
                                         x2 = x2 * 0.999999f + 1e-7f, x3 = x3 * 0.999999f + 1e-7f;
    a[0] = x0 + x1 + x2 + x3;
    return (double)iters * 8 * 8;
}

typedef struct {
    long iters;
    double flops[1024];
} probe_job;

static void probe_task(void *ctx, int task, int thread)
{
    (void)thread;
    probe_job *j = ctx;
    j->flops[task] = probe_flops(j->iters);
}

/* Best of 5 short runs: GFLOP/s with `threads` tasks on the pool. */
static double measure_peak(jaclip_pool *pool, int threads)
{
    probe_job *j = calloc(1, sizeof *j);
    if (!j) return 0;
    j->iters = 2000000;
    /* a discarded run first: a CPU that idled may need tens of ms to reach its clock (seen
     * on a VM of an AVX-512 Xeon: 48 GFLOP/s per core on the first runs, less than the
     * GEMM itself reached there) */
    if (threads == 1) probe_flops(j->iters * 4);
    else {
        j->iters *= 4;
        jc_pool_run(pool, threads, probe_task, j);
        j->iters /= 4;
    }
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = jc_now();
        if (threads == 1) j->flops[0] = probe_flops(j->iters);
        else jc_pool_run(pool, threads, probe_task, j);
        t = jc_now() - t;
        double f = 0;
        for (int i = 0; i < threads; i++) f += j->flops[i];
        if (f / t / 1e9 > best) best = f / t / 1e9;
    }
    free(j);
    return best;
}

/* ---- FLOP counts from the configuration ------------------------------------------------
 * The work actually done: the last block / layer of each tower runs K and V for every token
 * but Q, attention, projection and MLP for the class token only (vision.c, text.c). */
static double image_flops(const jaclip_model *m, int S, int ps, int D, int F, int depth, int heads)
{
    (void)heads;
    double N = (double)(S / ps) * (S / ps), T = N + 1;
    double per_block = 2 * T * (4.0 * D * D + 3.0 * D * F) + 4 * T * T * D;
    double last = 2 * T * 2.0 * D * D + 2 * (2.0 * D * D + 3.0 * D * F) + 4 * T * D;
    return (depth - 1) * per_block + (depth > 0 ? last : 0) + 2 * N * 3.0 * ps * ps * D +
           2.0 * D * jaclip_model_dim(m);
}

static double text_flops(const jaclip_model *m, int L, int H, int I, int layers)
{
    double per = 2.0 * L * (4.0 * H * H + 2.0 * H * I) + 4.0 * L * L * H;
    double last = 2.0 * L * 2.0 * H * H + 2.0 * (2.0 * H * H + 2.0 * H * I) + 4.0 * L * H;
    return (layers - 1) * per + (layers > 0 ? last : 0) + 2.0 * H * jaclip_model_dim(m);
}

/* One pass over a tokenized file: its chunks (batches), in order. */
static jaclip_status embed_chunks(jaclip_model *m, const jaclip_token_batch *c, int n, float *feat, jaclip_err *err)
{
    for (int i = 0; i < n; i++) {
        jaclip_status s = jaclip_embed_tokens(m, &c[i], feat, err);
        if (s) return s;
    }
    return JACLIP_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    const char *what;
    int batch;
    double best_ms, median_ms, gflops; /* per item */
} result;

static void print_profile(const char *title, bool json)
{
    kprof_row rows[64];
    int n = kprof_rows(rows, 64);
    double total = 0;
    for (int i = 0; i < n; i++) total += rows[i].seconds;
    if (json) return;
    printf("\nprofile: %s (time in kernels %.1f ms)\n", title, total * 1e3);
    printf("  %-28s %6s %10s %6s %9s\n", "operation", "calls", "ms", "%", "GFLOP/s");
    for (int i = 0; i < n; i++)
        printf("  %-28s %6ld %10.2f %5.1f%% %9.1f\n", rows[i].name, rows[i].calls, rows[i].seconds * 1e3,
               100 * rows[i].seconds / (total > 0 ? total : 1),
               rows[i].flops > 0 ? rows[i].flops / rows[i].seconds / 1e9 : 0.0);
}

static int run_bench(int argc, char **argv)
{
    cli_model_opts mo = {0};
    const char *only = NULL, *batches_s = "1,8";
    const char *texts_path = NULL;
    cli_strs texts = {0};
    jaclip_token_batch *chunks = NULL; /* --texts-from: the file tokenized, per batch size */
    int n_chunks = 0;
    long runs = 5, text_len = 16;
    bool profile = false, json = false;
    int rc = 1, r;
    jaclip_model *m = NULL;
    jaclip_pool *pool = NULL;
    jaclip_err err = {0};
    float *pix = NULL, *feat = NULL;
    int32_t *ids = NULL;
    int32_t *lens = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if ((r = cli_model_opt(CMD, argc, argv, &i, &mo)) != 0) {
            if (r < 0) return 1;
        } else if (strcmp(a, "--only") == 0) {
            if (!(only = cli_value(CMD, argc, argv, &i))) return 1;
            if (strcmp(only, "image") != 0 && strcmp(only, "text") != 0)
                return cli_failf(CMD, "--only must be image or text, not '%s'", only);
        } else if (strcmp(a, "--batches") == 0) {
            if (!(batches_s = cli_value(CMD, argc, argv, &i))) return 1;
        } else if (strcmp(a, "--runs") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, a, v, 1, 1000, &runs)) return 1;
        } else if (strcmp(a, "--text-len") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, a, v, 1, 512, &text_len)) return 1;
        } else if (strcmp(a, "--texts-from") == 0) {
            if (!(texts_path = cli_value(CMD, argc, argv, &i))) return 1;
        } else if (strcmp(a, "--profile") == 0) {
            profile = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else {
            return cli_failf(CMD, "unknown argument '%s' (jaclip bench --help)", a);
        }
    }
    if (!mo.dir) return cli_failf(CMD, "--model DIR is required (jaclip bench --help)");
    const char *model_dir = mo.dir, *dtype = mo.dtype ? mo.dtype : "fp32";
    if (texts_path && only && strcmp(only, "image") == 0)
        return cli_failf(CMD, "--texts-from times the text tower; it cannot go with --only image");
    int batches[8], n_batches = 0;
    for (const char *p = batches_s;; p++) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || b < 1 || b > 256 || (*end && *end != ',') || n_batches == 8)
            return cli_failf(CMD, "--batches: expected 1 to 8 comma-separated sizes 1..256, got '%s'", batches_s);
        batches[n_batches++] = (int)b;
        if (!*end) break;
        p = end;
    }

    if (jaclip_pool_create((int)mo.threads, &pool, &err)) return cli_fail(CMD, &err);
    int nthreads = jaclip_pool_size(pool);
    double t_load = jc_now();
    jaclip_model_params mp = jaclip_model_default_params();
    mp.tokenizer_path = mo.tokenizer;
    mp.allow_unknown_config = mo.allow_unknown;
    mp.pool = pool;
    if (jaclip_model_load(model_dir, &mp, &m, &err) || jaclip_model_set_dtype(m, dtype, &err)) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    double t_loaded = jc_now() - t_load;
    double file_flops = 0, file_tokens = 0;
    const jaclip_image_params *ip = jaclip_model_image_params(m);
    int S = ip->image_size, dim = jaclip_model_dim(m);
    size_t per = (size_t)3 * S * S;
    int maxb = 1;
    for (int i = 0; i < n_batches; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    pix = malloc(per * maxb * sizeof(float));
    feat = malloc((size_t)maxb * dim * sizeof(float));
    ids = malloc((size_t)maxb * text_len * sizeof(int32_t));
    lens = malloc((size_t)maxb * sizeof(int32_t));
    if (!pix || !feat || !ids || !lens) {
        rc = cli_failf(CMD, "out of memory");
        goto done;
    }
    if (texts_path) {
        const jaclip_tokenizer *tok = jaclip_model_tokenizer(m); /* loading fails without one */
        if (!cli_read_lines(CMD, texts_path, false, &texts)) goto done;
        if (texts.n == 0) {
            rc = cli_failf(CMD, "%s: no texts (the file is empty)", texts_path);
            goto done;
        }
        for (int bi = 0; bi < n_batches; bi++) n_chunks += (texts.n + batches[bi] - 1) / batches[bi];
        if (!(chunks = calloc((size_t)n_chunks, sizeof *chunks))) {
            rc = cli_failf(CMD, "out of memory");
            goto done;
        }
        for (int bi = 0, c = 0; bi < n_batches; bi++)
            for (int i = 0; i < texts.n; i += batches[bi], c++) {
                int n = texts.n - i < batches[bi] ? texts.n - i : batches[bi];
                if (jaclip_tokenize_batch(tok, (const char *const *)texts.v + i, n, 0, &chunks[c], &err)) {
                    rc = cli_fail(CMD, &err);
                    goto done;
                }
            }
    }
    uint64_t st = 12345;
    for (size_t i = 0; i < per * maxb; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        pix[i] = (float)((st >> 40) & 0xffff) / 65536.0f * 4.0f - 2.0f;
    }
    for (int b = 0; b < maxb; b++) {
        lens[b] = (int32_t)text_len;
        for (int t = 0; t < text_len; t++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            ids[(size_t)b * text_len + t] = t == 0 ? 4 : (int32_t)(10 + (st >> 33) % 30000);
        }
    }
    /* first feature (an image unless --only text) */
    bool do_image = !only || strcmp(only, "image") == 0, do_text = !only || strcmp(only, "text") == 0;
    jaclip_token_batch tb = {.ids = ids, .n = 1, .len = (int)text_len, .lengths = lens};
    jaclip_status st_rc = do_image ? jaclip_embed_pixels(m, pix, 1, feat, &err)
                                   : jaclip_embed_tokens(m, chunks ? &chunks[0] : &tb, feat, &err);
    if (st_rc) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    double t_first = jc_now() - t_load;

    double peak1 = measure_peak(pool, 1), peakn = nthreads > 1 ? measure_peak(pool, nthreads) : peak1;
    if (!json) {
        printf("jaclip bench: %s (%s), GEMM kernel %s, %d thread%s\n", model_dir, jaclip_model_dtype(m),
               gemm_kernel_name(), nthreads, nthreads > 1 ? "s" : "");
        printf("load %.3f s, load to first %s feature %.3f s\n", t_loaded, do_image ? "image" : "text", t_first);
        printf("fp32 FMA peak (%s probe): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", gemm_kernel_name(),
               peak1, nthreads, peakn);
    }
    /* tower shapes for FLOP counts: read back through a tiny re-parse is not exposed; use
     * the standard CLYP shapes unless the image size differs (the small test model) */
    FILE *cf = NULL;
    int D = 768, F = 2048, depth = 12, heads = 12, ps = 16, H = 768, I = 3072, layers = 12;
    {
        /* config.json is small; pull the few integers we need with a plain scan */
        char *path = jc_path_join(model_dir, "config.json");
        size_t len = 0;
        char *txt = NULL;
        if (path && jc_read_file(path, 1 << 20, &txt, &len, &err) == JACLIP_OK) {
            struct { const char *key; int *dst; } keys[] = {
                {"\"embed_dim\"", &D}, {"\"depth\"", &depth}, {"\"num_heads\"", &heads}, {"\"patch_size\"", &ps},
                {"\"hidden_size\"", &H}, {"\"intermediate_size\"", &I}, {"\"num_hidden_layers\"", &layers}};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                const char *p = strstr(txt, keys[k].key);
                if (p && (p = strchr(p, ':'))) *keys[k].dst = atoi(p + 1);
            }
            const char *p = strstr(txt, "\"mlp_ratio\"");
            if (p && (p = strchr(p, ':'))) F = (int)(D * atof(p + 1));
            free(txt);
        }
        free(path);
    }
    (void)cf;
    for (int i = 0; texts_path && i < texts.n; i++) { /* the first batch size's chunks cover the file once */
        int B = batches[0], L = chunks[i / B].lengths[i % B];
        file_flops += text_flops(m, L, H, I, layers);
        file_tokens += L;
    }
    result res[32];
    int nres = 0;
    double *times = malloc((size_t)runs * sizeof(double));
    if (!times) {
        rc = cli_failf(CMD, "out of memory");
        goto done;
    }
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0 && !do_image) || (pass == 1 && !do_text)) continue;
        for (int bi = 0, c0 = 0; bi < n_batches; bi++) {
            int B = batches[bi], nc = chunks ? (texts.n + B - 1) / B : 0; /* this size's chunks: c0 .. c0+nc-1 */
            bool file = pass == 1 && chunks;
            double flops = pass == 0 ? image_flops(m, S, ps, D, F, depth, heads)
                           : file    ? file_flops / texts.n
                                     : text_flops(m, (int)text_len, H, I, layers);
            tb.n = B;
            for (int r = -1; r < (int)runs; r++) {
                double t = jc_now();
                jaclip_status s = pass == 0 ? jaclip_embed_pixels(m, pix, B, feat, &err)
                                  : file    ? embed_chunks(m, chunks + c0, nc, feat, &err)
                                            : jaclip_embed_tokens(m, &tb, feat, &err);
                t = jc_now() - t;
                if (s) {
                    free(times);
                    rc = cli_fail(CMD, &err);
                    goto done;
                }
                if (r >= 0) times[r] = t / (file ? texts.n : B);
            }
            c0 += nc;
            qsort(times, (size_t)runs, sizeof *times, cmp_double);
            result *R = &res[nres++];
            R->what = pass == 0 ? "image" : "text";
            R->batch = B;
            R->best_ms = times[0] * 1e3;
            R->median_ms = (runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2])) * 1e3;
            R->gflops = flops / times[0] / 1e9;
            if (!json) {
                char label[48];
                if (pass == 1 && chunks)
                    snprintf(label, sizeof label, "%d texts (%.1f tok)", texts.n, file_tokens / texts.n);
                else snprintf(label, sizeof label, pass == 0 ? "image" : "text (%ld tok)", text_len);
                printf("%-19s batch %3d: best %8.2f ms/%s, median %8.2f  %7.1f GFLOP/s  %5.1f%% of peak\n", label, B,
                       R->best_ms, pass == 0 ? "image" : "text", R->median_ms, R->gflops, 100 * R->gflops / peakn);
            }
        }
        if (profile) {
            int B = batches[n_batches - 1];
            tb.n = B;
            kprof_reset();
            kprof_enable(true);
            /* with --texts-from: one pass over the file at the last batch size */
            jaclip_status s = pass == 0  ? jaclip_embed_pixels(m, pix, B, feat, &err)
                              : chunks ? embed_chunks(m, chunks + n_chunks - (texts.n + B - 1) / B,
                                                      (texts.n + B - 1) / B, feat, &err)
                                       : jaclip_embed_tokens(m, &tb, feat, &err);
            kprof_enable(false);
            if (s) {
                free(times);
                rc = cli_fail(CMD, &err);
                goto done;
            }
            char title[64];
            snprintf(title, sizeof title, "%s tower, batch %d%s", pass == 0 ? "image" : "text", B,
                     pass == 1 && chunks ? ", the whole file" : "");
            print_profile(title, json);
        }
    }
    free(times);
    if (json) {
        printf("{\"model\": \"%s\", \"dtype\": \"%s\", \"kernel\": \"%s\", \"threads\": %d, \"load_s\": %.4f, "
               "\"first_feature_s\": %.4f, \"peak_gflops_1\": %.1f, \"peak_gflops\": %.1f, ",
               model_dir, jaclip_model_dtype(m), gemm_kernel_name(), nthreads, t_loaded, t_first, peak1, peakn);
        /* the synthetic texts' length, or the file's texts (then --text-len played no part) */
        if (chunks) printf("\"texts\": %d, \"mean_text_len\": %.2f, ", texts.n, file_tokens / texts.n);
        else printf("\"text_len\": %ld, ", text_len);
        printf("\"results\": [");
        for (int i = 0; i < nres; i++)
            printf("%s{\"tower\": \"%s\", \"batch\": %d, \"best_ms\": %.3f, \"median_ms\": %.3f, \"gflops\": %.1f}",
                   i ? ", " : "", res[i].what, res[i].batch, res[i].best_ms, res[i].median_ms, res[i].gflops);
        printf("]}\n");
    }
    rc = 0;
done:
    for (int c = 0; chunks && c < n_chunks; c++) jaclip_token_batch_free(&chunks[c]);
    free(chunks);
    cli_strs_free(&texts);
    free(pix);
    free(feat);
    free(ids);
    free(lens);
    jaclip_model_free(m);
    jaclip_pool_free(pool);
    return rc;
}

JACLIP_COMMAND(cmd_bench, "bench", "time the image and text towers (ms/item, GFLOP/s, % of measured peak)", run_bench);
