/*
 * embed.c — `jaclip embed`: image or text features as a float32 .npy of shape (n, D), the
 * raw neck outputs of the model (or L2-normalised with --normalize). Inputs are streamed in
 * batches into the output file, which only appears under its name once complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "cli_model.h"

static const char *const CMD = "embed";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip embed --model DIR (--image FILE... | --images-from LIST |\n"
            "                                 --text TEXT... | --texts-from FILE) --out X.npy [options]\n"
            "\n"
            "Writes the features of images or texts as a float32 .npy of shape (n, D): the raw\n"
            "neck outputs of the model (D = 256 for clip-japanese-base-v2, 512 for v1), one row\n"
            "per input in input order.\n"
            "\n"
            "inputs (images or texts, not both):\n"
            "  --image FILE...        image files (JPEG, PNG, WebP); every argument up to the next option\n"
            "  --images-from LIST     a file with one image path per line ('-' = stdin)\n"
            "  --text TEXT...         texts; every argument up to the next option\n"
            "  --texts-from FILE      a UTF-8 file with one text per line ('-' = stdin); empty lines are\n"
            "                         empty texts\n"
            "options:\n"
            "  --model DIR            Hugging Face snapshot: config.json, model.safetensors,\n"
            "                         preprocessor_config.json, spiece.model\n"
            "  --tokenizer FILE       the SentencePiece model, when DIR has no spiece.model\n"
            "  --out X.npy            output file (written atomically)\n"
            "  --normalize            L2-normalise each row (cosine similarity = dot product)\n"
            "  --batch N              inputs per forward pass (default 8 images / 64 texts)\n"
            "  --threads N            worker threads (default: all CPUs)\n"
            "  --dtype fp32|fp16|int8 fp16: block weights stored as fp16 (half the memory traffic,\n"
            "                         fp32 math, cosine > 0.99999); int8: quantize the transformer\n"
            "                         blocks at load (fastest, cosine ~0.999)\n"
            "  --allow-unknown-config warn about unknown config.json keys instead of refusing the model\n"
            "  --quiet                no progress line on stderr\n"
            "preprocessed inputs (for checking the engine against a reference):\n"
            "  --pixels X.npy         float32 (n, 3, S, S) normalised pixels instead of image files\n"
            "  --ids X.npy            int32 (n, L) token ids ([CLS] first), rows right-padded with [PAD]=3\n"
            "\n"
            "example:\n"
            "  jaclip embed --model clip-japanese-base-v2 --image dog.jpg cat.png --out img.npy\n"
            "  jaclip embed --model clip-japanese-base-v2 --text 犬 猫 象 --normalize --out txt.npy\n");
}

static int run_embed(int argc, char **argv)
{
    const char *out_path = NULL, *pixels_path = NULL, *ids_path = NULL;
    cli_model_opts mo = {0};
    jc_npy pre = {0};
    int32_t *lengths = NULL;
    bool normalize = false, quiet = false;
    long batch = 0;
    int taken;
    cli_strs images = {0}, texts = {0};
    int rc = 1;
    jaclip_model *m = NULL;
    float *feat = NULL, *chw = NULL;
    jc_npy_writer w;
    bool writer_open = false;
    jaclip_err err = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if ((taken = cli_model_opt(CMD, argc, argv, &i, &mo)) != 0) {
            if (taken < 0) goto done;
        } else if (strcmp(a, "--out") == 0) {
            if (!(out_path = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--image") == 0) {
            if (!cli_take_values(argc, argv, &i, &images)) {
                cli_failf(CMD, "--image needs at least one file");
                goto done;
            }
        } else if (strcmp(a, "--text") == 0) {
            if (!cli_take_values(argc, argv, &i, &texts)) {
                cli_failf(CMD, "--text needs at least one text");
                goto done;
            }
        } else if (strcmp(a, "--images-from") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_read_lines(CMD, v, true, &images)) goto done;
        } else if (strcmp(a, "--texts-from") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_read_lines(CMD, v, false, &texts)) goto done;
        } else if (strcmp(a, "--pixels") == 0) {
            if (!(pixels_path = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--ids") == 0) {
            if (!(ids_path = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--normalize") == 0) {
            normalize = true;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "--batch") == 0) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, a, v, 1, 4096, &batch)) goto done;
        } else {
            cli_failf(CMD, "unknown argument '%s' (jaclip embed --help)", a);
            goto done;
        }
    }
    if (!mo.dir || !out_path) {
        cli_failf(CMD, "--model DIR and --out X.npy are required (jaclip embed --help)");
        goto done;
    }
    int kinds = (images.n > 0) + (texts.n > 0) + (pixels_path != NULL) + (ids_path != NULL);
    if (kinds != 1) {
        cli_failf(CMD, kinds ? "give one kind of input: images, texts, --pixels or --ids"
                             : "no inputs: give --image, --images-from, --text or --texts-from");
        goto done;
    }
    if (!(m = cli_model_load(CMD, &mo))) goto done;
    int D = jaclip_model_dim(m);
    bool is_img = images.n > 0 || pixels_path;
    int n = images.n > 0 ? images.n : texts.n;
    int S = jaclip_model_image_params(m)->image_size;
    if (pixels_path || ids_path) {
        if (jc_npy_map(pixels_path ? pixels_path : ids_path, &pre, &err)) {
            cli_fail(CMD, &err);
            goto done;
        }
        bool ok = pixels_path ? strcmp(pre.descr, "<f4") == 0 && pre.ndim == 4 && pre.shape[1] == 3 &&
                                    pre.shape[2] == S && pre.shape[3] == S
                              : strcmp(pre.descr, "<i4") == 0 && pre.ndim == 2 && pre.shape[1] >= 1;
        if (!ok || pre.shape[0] < 1 || pre.shape[0] > (1 << 30)) {
            if (pixels_path) cli_failf(CMD, "%s: expected float32 (n, 3, %d, %d)", pixels_path, S, S);
            else cli_failf(CMD, "%s: expected int32 (n, L) token ids", ids_path);
            goto done;
        }
        n = (int)pre.shape[0];
    }
    if (ids_path) {
        int L = (int)pre.shape[1];
        lengths = malloc((size_t)n * sizeof *lengths);
        if (!lengths) {
            cli_failf(CMD, "out of memory");
            goto done;
        }
        for (int r = 0; r < n; r++) {
            const int32_t *row = (const int32_t *)pre.data + (size_t)r * L;
            int len = L;
            while (len > 1 && row[len - 1] == JACLIP_TOKEN_PAD) len--;
            lengths[r] = len;
        }
    }
    int B = batch ? (int)batch : (is_img ? 8 : 64);
    if (B > n) B = n;
    feat = malloc((size_t)B * D * sizeof *feat);
    if (images.n > 0) chw = malloc((size_t)B * 3 * S * S * sizeof *chw);
    if (!feat || (images.n > 0 && !chw)) {
        cli_failf(CMD, "out of memory");
        goto done;
    }
    if (jc_npy_writer_open(&w, out_path, "<f4", n, D, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    writer_open = true;
    jc_progress prog;
    jc_progress_start(&prog, "embed", is_img ? "images" : "texts", n, quiet);
    for (int i = 0; i < n; i += B) {
        int b = n - i < B ? n - i : B;
        jaclip_status st;
        if (pixels_path) {
            st = jaclip_embed_pixels(m, (const float *)pre.data + (size_t)i * 3 * S * S, b, feat, &err);
        } else if (ids_path) {
            int L = (int)pre.shape[1];
            jaclip_token_batch tb = {.n = b, .len = L, .ids = (int32_t *)pre.data + (size_t)i * L, .lengths = lengths + i};
            st = jaclip_embed_tokens(m, &tb, feat, &err);
        } else if (is_img) {
            st = cli_load_images(m, images.v + i, b, chw, &err);
            if (!st) st = jaclip_embed_pixels(m, chw, b, feat, &err);
        } else {
            st = jaclip_embed_texts(m, (const char *const *)(texts.v + i), b, feat, &err);
        }
        if (!st && normalize) jaclip_l2_normalize(feat, b, D);
        if (!st) st = jc_npy_writer_rows(&w, feat, b, &err);
        if (st) {
            jc_progress_finish(&prog);
            cli_fail(CMD, &err);
            goto done;
        }
        jc_progress_add(&prog, b);
    }
    jc_progress_finish(&prog);
    writer_open = false;
    if (jc_npy_writer_close(&w, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    if (!quiet) fprintf(stderr, "wrote %s: (%d, %d) float32%s\n", out_path, n, D, normalize ? ", L2-normalised" : "");
    rc = 0;
done:
    if (writer_open) jc_npy_writer_abort(&w);
    free(lengths);
    jc_npy_unmap(&pre);
    free(feat);
    free(chw);
    jaclip_model_free(m);
    cli_strs_free(&images);
    cli_strs_free(&texts);
    return rc;
}

JACLIP_COMMAND(cmd_embed, "embed", "image or text features of the CLIP model as .npy", run_embed);
