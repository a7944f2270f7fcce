/*
 * preprocess.c — `jaclip preprocess`: one image through the reference preprocessing
 * (decode, Pillow-exact letterbox, normalisation) into a .npy, so that the pixels the model
 * sees can be inspected or compared with Python.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "image/image.h"

static const char *usage_text =
    "usage: jaclip preprocess (--model DIR | --image-size N --normalization NAME) IMAGE --out X.npy\n"
    "                         [--raw] [--exif-rotate] [--max-pixels N]\n"
    "\n"
    "Decodes IMAGE (JPEG, PNG or WebP, recognised by content) and preprocesses it exactly as the\n"
    "reference CLYPImageProcessor does with Pillow: the longer side is resized to the model's\n"
    "image size with Pillow's BICUBIC, the rest is padded with black (left/top get the smaller\n"
    "half), then the RGB values are normalised with the model's mean/std.\n"
    "\n"
    "  --model DIR           read image_size and normalization_type from DIR/preprocessor_config.json\n"
    "  --image-size N        square input side (default 224; overrides --model)\n"
    "  --normalization NAME  imagenet | openai_clip | imagenet_inception (overrides --model;\n"
    "                        default openai_clip)\n"
    "  --out X.npy           output: float32 (3, N, N) normalised, C-order\n"
    "  --raw                 write the uint8 (N, N, 3) letterboxed RGB image instead (before\n"
    "                        normalisation; compare with tools/ref/pillow_letterbox.py)\n"
    "  --exif-rotate         apply the EXIF orientation first (off by default: Pillow, and so the\n"
    "                        reference, ignores it; turn it on for photos straight from a camera)\n"
    "  --max-pixels N        refuse larger images before decoding (default 178956970, Pillow's\n"
    "                        decompression-bomb limit)\n"
    "\n"
    "example: jaclip preprocess --model clip-japanese-base-v2 photo.jpg --out photo.npy\n"
    "prints:  photo.jpg: 1024x717 -> (3, 224, 224) float32 [openai_clip] -> photo.npy\n";

static int run_preprocess(int argc, char **argv)
{
    const char *cmd = "preprocess";
    const char *model = NULL, *image = NULL, *out = NULL, *norm = NULL;
    long size = 0, maxpix = 0;
    int raw = 0, exif = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--model") == 0) {
            if (!(model = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--normalization") == 0) {
            if (!(norm = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--image-size") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(cmd, a, v, 1, 16384, &size)) return 2;
        } else if (strcmp(a, "--max-pixels") == 0) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_int(cmd, a, v, 1, 0x7fffffffffffffffL, &maxpix)) return 2;
        } else if (strcmp(a, "--raw") == 0) {
            raw = 1;
        } else if (strcmp(a, "--exif-rotate") == 0) {
            exif = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_failf(cmd, "unknown option %s (see jaclip preprocess --help)", a);
            return 2;
        } else if (!image) {
            image = a;
        } else {
            cli_failf(cmd, "one IMAGE only (got '%s' and '%s')", image, a);
            return 2;
        }
    }
    if (!image || !out) {
        fputs(usage_text, stderr);
        return 2;
    }
    jaclip_err err = {0};
    jaclip_image_params p = jaclip_image_default_params();
    char norm_name[64] = "openai_clip";
    if (model) {
        char *cfg = jc_path_join(model, "preprocessor_config.json");
        if (!cfg) return cli_failf(cmd, "out of memory");
        jaclip_status st = jc_image_params_from_config(cfg, &p, norm_name, sizeof norm_name, &err);
        free(cfg);
        if (st != JACLIP_OK) return cli_fail(cmd, &err);
    } else if (!norm && !raw) {
        fprintf(stderr, "jaclip preprocess: note: no --model or --normalization; using openai_clip\n");
    }
    if (norm) {
        if (jaclip_image_set_normalization(&p, norm, &err) != JACLIP_OK) return cli_fail(cmd, &err);
        snprintf(norm_name, sizeof norm_name, "%s", norm);
    }
    if (size) p.image_size = (int)size;
    if (maxpix) p.max_pixels = (uint64_t)maxpix;
    p.exif_rotate = exif;

    int S = p.image_size;
    uint8_t *rgb = jc_malloc_array((size_t)S * S, 3);
    float *chw = raw ? NULL : jc_malloc_array((size_t)S * S * 3, sizeof(float));
    if (!rgb || (!raw && !chw)) {
        free(rgb);
        return cli_failf(cmd, "out of memory");
    }
    int rc = 0;
    if (jaclip_image_letterbox_file(image, &p, rgb, &err) != JACLIP_OK) {
        rc = cli_fail(cmd, &err);
    } else if (raw) {
        int64_t shape[3] = {S, S, 3};
        if (jc_npy_write(out, "|u1", shape, 3, rgb, &err) != JACLIP_OK) rc = cli_fail(cmd, &err);
        else printf("%s -> (%d, %d, 3) uint8 letterboxed RGB -> %s\n", image, S, S, out);
    } else {
        jaclip_image_normalize(rgb, S, p.mean, p.std, chw);
        int64_t shape[3] = {3, S, S};
        if (jc_npy_write(out, "<f4", shape, 3, chw, &err) != JACLIP_OK) rc = cli_fail(cmd, &err);
        else printf("%s -> (3, %d, %d) float32 [%s] -> %s\n", image, S, S, norm_name, out);
    }
    free(rgb);
    free(chw);
    return rc;
}

JACLIP_COMMAND(cmd_preprocess, "preprocess", "decode + letterbox + normalise one image into a .npy",
               run_preprocess);
