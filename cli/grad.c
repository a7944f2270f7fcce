/*
 * grad.c — `jaclip grad`: the contrastive loss of one batch (image i paired with text i) and
 * the gradient of every parameter, written as safetensors under each parameter's own key,
 * so that other implementations (tools/ref/clyp_grad.py, PyTorch autograd) can check ours.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "cli_model.h"
#include "model/model.h"
#include "train/train.h"

static const char *const CMD = "grad";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jaclip grad --model DIR (--image FILE... | --pixels X.npy)\n"
            "                   (--text TEXT... | --ids X.npy --lengths L.npy) --out GRADS.safetensors\n"
            "\n"
            "Runs both towers on a batch of n image-text pairs (image i belongs with text i), prints the\n"
            "symmetric InfoNCE loss of CLYP (logits = cos / temperature, as in training) and writes\n"
            "d loss / d parameter for every parameter, under the parameter's key name, as float32.\n"
            "\n"
            "options:\n"
            "  --model DIR          model directory (config.json, model.safetensors, preprocessor_config.json,\n"
            "                       spiece.model)\n"
            "  --tokenizer FILE     the SentencePiece model, when DIR has no spiece.model\n"
            "  --image FILE...      n image files (letterboxed as the model's preprocessor says)\n"
            "  --text TEXT...       n texts\n"
            "  --pixels X.npy       float32 (n, 3, S, S) preprocessed pixels instead of images\n"
            "  --ids X.npy          int32 (n, L) token ids ([CLS] first), right-padded with 3, and\n"
            "  --lengths L.npy      int32 (n) the real length of each row\n"
            "  --out FILE           output safetensors (written atomically)\n"
            "  --threads N          worker threads (default: all CPUs)\n"
            "  --dtype fp32         the only one: gradients are computed in fp32 (others are refused)\n"
            "  --allow-unknown-config  warn about unknown config.json keys instead of refusing the model\n"
            "\n"
            "example:\n"
            "  jaclip grad --model small-model --image dog.jpg cat.png --text 犬の写真 猫の写真 --out g.safetensors\n"
            "prints:\n"
            "  loss 1.84734752 temperature 0.0142999999 pairs 2\n");
}

static int run_grad(int argc, char **argv)
{
    const char *out = NULL, *pixels_path = NULL, *ids_path = NULL, *len_path = NULL;
    cli_model_opts mo = {0};
    int taken;
    cli_strs images = {0}, texts = {0};
    jc_npy pix = {0}, idn = {0}, lnn = {0};
    jaclip_model *m = NULL;
    jc_clip *c = NULL;
    float *chw = NULL;
    int32_t *ids = NULL;
    int *seg = NULL;
    int rc = 1;
    jaclip_err err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if ((taken = cli_model_opt(CMD, argc, argv, &i, &mo)) != 0) {
            if (taken < 0) goto done;
        } else if (strcmp(a, "--out") == 0) {
            if (!(out = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--pixels") == 0) {
            if (!(pixels_path = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--ids") == 0) {
            if (!(ids_path = cli_value(CMD, argc, argv, &i))) goto done;
        } else if (strcmp(a, "--lengths") == 0) {
            if (!(len_path = cli_value(CMD, argc, argv, &i))) goto done;
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
        } else {
            cli_failf(CMD, "unknown option '%s' (jaclip grad --help)", a);
            goto done;
        }
    }
    if (mo.dtype && strcmp(mo.dtype, "fp32") != 0) {
        cli_failf(CMD, "--dtype %s: gradients are computed in fp32 only", mo.dtype);
        goto done;
    }
    if (!mo.dir || !out) {
        cli_failf(CMD, "--model DIR and --out FILE are required (jaclip grad --help)");
        goto done;
    }
    if ((images.n > 0) == (pixels_path != NULL) || (texts.n > 0) == (ids_path != NULL)) {
        cli_failf(CMD, "give the images (--image or --pixels) and the texts (--text or --ids) of the batch");
        goto done;
    }
    if (ids_path && !len_path) {
        cli_failf(CMD, "--ids needs --lengths");
        goto done;
    }
    if (!(m = cli_model_load(CMD, &mo))) goto done;
    int S = m->cfg.image_size, n;
    if (m->cfg.vision.img_size != S) {
        cli_failf(CMD, "%s: preprocessor image_size %d differs from the vision tower's img_size %d", mo.dir, S,
                  m->cfg.vision.img_size);
        goto done;
    }
    if (pixels_path) {
        if (jc_npy_map(pixels_path, &pix, &err)) {
            cli_fail(CMD, &err);
            goto done;
        }
        if (strcmp(pix.descr, "<f4") || pix.ndim != 4 || pix.shape[1] != 3 || pix.shape[2] != S || pix.shape[3] != S) {
            cli_failf(CMD, "%s: expected float32 (n, 3, %d, %d)", pixels_path, S, S);
            goto done;
        }
        n = (int)pix.shape[0];
    } else {
        n = images.n;
    }
    int nt = ids_path ? 0 : texts.n;
    if (ids_path) {
        if (jc_npy_map(ids_path, &idn, &err) || jc_npy_map(len_path, &lnn, &err)) {
            cli_fail(CMD, &err);
            goto done;
        }
        if (strcmp(idn.descr, "<i4") || idn.ndim != 2 || strcmp(lnn.descr, "<i4") || lnn.ndim != 1 ||
            lnn.shape[0] != idn.shape[0]) {
            cli_failf(CMD, "%s / %s: expected int32 (n, L) ids and int32 (n) lengths", ids_path, len_path);
            goto done;
        }
        nt = (int)idn.shape[0];
    }
    if (nt != n || n < 1) {
        cli_failf(CMD, "the batch needs as many texts as images (got %d images, %d texts)", n, nt);
        goto done;
    }
    chw = malloc((size_t)n * 3 * S * S * sizeof(float));
    ids = malloc((size_t)n * JACLIP_MAX_TEXT_LEN * sizeof(int32_t));
    seg = malloc((size_t)(n + 1) * sizeof(int));
    if (!chw || !ids || !seg) {
        cli_failf(CMD, "out of memory");
        goto done;
    }
    if (pixels_path) memcpy(chw, pix.data, (size_t)n * 3 * S * S * sizeof(float));
    else if (cli_load_images(m, images.v, n, chw, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    seg[0] = 0;
    for (int i = 0; i < n; i++) {
        int L;
        if (ids_path) {
            L = ((const int32_t *)lnn.data)[i];
            if (L < 1 || L > idn.shape[1] || L > JACLIP_MAX_TEXT_LEN) {
                cli_failf(CMD, "%s: row %d has length %d", len_path, i, L);
                goto done;
            }
            memcpy(ids + seg[i], (const int32_t *)idn.data + (size_t)i * idn.shape[1], (size_t)L * sizeof(int32_t));
        } else if (jaclip_tokenize(m->tok, texts.v[i], strlen(texts.v[i]), ids + seg[i], JACLIP_MAX_TEXT_LEN, &L,
                                   &err)) {
            jc_err_prefix(&err, "text %d", i);
            cli_fail(CMD, &err);
            goto done;
        }
        seg[i + 1] = seg[i] + L;
    }
    if (jc_clip_create(&m->cfg, mo.dir, m->pool, &c, &err)) {
        cli_fail(CMD, &err);
        goto done;
    }
    char *wpath = jc_path_join(mo.dir, "model.safetensors");
    jaclip_status st = jc_clip_load_weights(c, wpath, &err);
    free(wpath);
    jc_batch b = {.B = n, .pixels = chw, .ids = ids, .seg = seg};
    jc_step_out so;
    if (!st) st = jc_clip_step(c, &b, true, 1.0f, &so, &err);
    if (!st && !isfinite(so.loss)) st = jc_err(&err, JACLIP_ERR_NUMERIC, "the loss is not finite (%g)", so.loss);
    if (!st) st = jc_clip_save_tensors(c, c->g, NULL, out, &err);
    if (st) {
        cli_fail(CMD, &err);
        goto done;
    }
    printf("loss %.9g temperature %.9g pairs %d\n", so.loss, (double)*c->temperature, n);
    rc = 0;
done:
    jc_clip_free(c);
    jaclip_model_free(m);
    jc_npy_unmap(&pix);
    jc_npy_unmap(&idn);
    jc_npy_unmap(&lnn);
    free(chw);
    free(ids);
    free(seg);
    cli_strs_free(&images);
    cli_strs_free(&texts);
    return rc;
}

JACLIP_COMMAND(cmd_grad, "grad", "loss and parameter gradients of one image-text batch (safetensors)", run_grad);
