/* test_image.c — the image API on bad input, under ASan in CI: every file in
 * shared/images/broken (and png-crashers/) fails with a message naming it; every strict
 * prefix of valid JPEG/PNG/WebP files fails cleanly; headers that announce 20000x20000 pixels
 * are refused with JACLIP_ERR_LIMIT before decoding and the limit can be raised; the fuzz
 * crashers kept in tests/image/fuzz-crashers decode or fail without a crash; parameters and
 * normalisation behave as documented. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/base.h"
#include "image/image.h"
#include "testutil.h"

static uint8_t rgb[224 * 224 * 3];

static int check_dir_fails(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    jaclip_image_params p = jaclip_image_default_params();
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = jc_path_join(dir, e->d_name);
        if (jc_is_dir(path)) {
            free(path);
            continue;
        }
        jaclip_err err = {0};
        jaclip_status st = jaclip_image_letterbox_file(path, &p, rgb, &err);
        CHECK(st != JACLIP_OK, "%s: broken file accepted", path);
        CHECK(strstr(err.msg, path) != NULL, "%s: error does not name the file: %s", path, err.msg);
        printf("  %s\n", err.msg);
        free(path);
        n++;
    }
    closedir(d);
    return n;
}

static void check_prefixes(const char *path)
{
    jc_map m;
    jaclip_err err = {0};
    if (jc_map_file(path, &m, &err) != JACLIP_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    jaclip_image_params p = jaclip_image_default_params();
    CHECK(jaclip_image_letterbox_mem(m.data, m.size, path, &p, rgb, &err) == JACLIP_OK, "%s", err.msg);
    size_t step = m.size / 97 + 1;
    int accepted = 0;
    for (size_t n = 0; n < m.size; n += step) {
        jaclip_status st = jaclip_image_letterbox_mem(m.data, n, "prefix", &p, rgb, &err);
        if (st == JACLIP_OK) accepted++;
        else CHECK(strstr(err.msg, "prefix") != NULL, "error does not name the input: %s", err.msg);
    }
    CHECK(accepted == 0, "%s: %d truncated prefixes were accepted", path, accepted);
    jc_unmap(&m);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

int main(void)
{
    char path[1024];
    const char *sh = test_shared();
    jaclip_err err = {0};

    /* parameters */
    jaclip_image_params p = jaclip_image_default_params();
    CHECK(p.image_size == 224 && p.exif_rotate == 0 && p.max_pixels == 178956970ull, "defaults");
    CHECK(p.mean[0] == 0.48145466f && p.std[2] == 0.27577711f, "default normalisation is openai_clip");
    CHECK(jaclip_image_set_normalization(&p, "imagenet", &err) == JACLIP_OK && p.mean[0] == 0.485f &&
              p.std[0] == 0.229f, "imagenet");
    CHECK(jaclip_image_set_normalization(&p, "imagenet_inception", &err) == JACLIP_OK && p.mean[1] == 0.5f, "inception");
    CHECK(jaclip_image_set_normalization(&p, "clip", &err) == JACLIP_ERR_ARG && strstr(err.msg, "'clip'"),
          "unknown name: %s", err.msg);

    /* normalisation: (x/255 - mean)/std in float32, CHW */
    {
        uint8_t px[2 * 2 * 3] = {0, 128, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90};
        float out[12];
        float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
        jaclip_image_normalize(px, 2, mean, sd, out);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 4; i++) {
                float want = ((float)px[i * 3 + c] / 255.0f - mean[c]) / sd[c];
                CHECK(out[c * 4 + i] == want, "normalize c%d i%d %g != %g", c, i, out[c * 4 + i], want);
            }
        CHECK(fabsf(out[0] - (-0.485f / 0.229f)) < 1e-6f, "black red channel");
    }

    /* every broken file fails with a message naming it */
    snprintf(path, sizeof path, "%s/images/broken", sh);
    int nb = check_dir_fails(path);
    CHECK(nb >= 6, "broken/: %d files", nb);
    snprintf(path, sizeof path, "%s/images/broken/png-crashers", sh);
    int nc = check_dir_fails(path);
    CHECK(nc >= 23, "png-crashers/: %d files", nc);

    /* strict prefixes of valid files */
    const char *valid[] = {"formats/baseline.jpg", "formats/hopper.png", "formats/rgba.webp",
                           "formats/interlaced.png", "formats/lossless-alpha.webp", "formats/cmyk.jpg"};
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        snprintf(path, sizeof path, "%s/images/%s", sh, valid[i]);
        check_prefixes(path);
    }

    /* garbage and empty input */
    CHECK(jaclip_image_letterbox_mem("GIF89a....", 10, "x.gif", &p, rgb, &err) == JACLIP_ERR_UNSUPPORTED &&
              strstr(err.msg, "x.gif") && strstr(err.msg, "47 49 46"),
          "not an image: %s", err.msg);
    CHECK(jaclip_image_letterbox_mem(NULL, 0, "empty", &p, rgb, &err) == JACLIP_ERR_FORMAT, "empty: %s", err.msg);
    CHECK(jaclip_image_letterbox_file("/nonexistent/a.jpg", &p, rgb, &err) == JACLIP_ERR_IO &&
              strstr(err.msg, "/nonexistent/a.jpg"),
          "missing: %s", err.msg);
    p.image_size = 0;
    CHECK(jaclip_image_letterbox_mem("x", 1, "s", &p, rgb, &err) == JACLIP_ERR_ARG, "image_size 0");
    p = jaclip_image_default_params();

    /* pixel limit: headers announcing 20000x20000 are refused before decoding */
    {
        jc_map m;
        snprintf(path, sizeof path, "%s/images/formats/hopper.png", sh);
        REQUIRE(jc_map_file(path, &m, &err) == JACLIP_OK, "%s", err.msg);
        uint8_t *png = malloc(m.size);
        memcpy(png, m.data, m.size);
        REQUIRE(memcmp(png + 12, "IHDR", 4) == 0, "IHDR first");
        put_be32(png + 16, 20000);
        put_be32(png + 20, 20000);
        put_be32(png + 29, (uint32_t)crc32(0, png + 12, 17));
        CHECK(be32(png + 16) == 20000, "patched");
        jaclip_status st = jaclip_image_letterbox_mem(png, m.size, "huge.png", &p, rgb, &err);
        CHECK(st == JACLIP_ERR_LIMIT && strstr(err.msg, "huge.png") && strstr(err.msg, "20000x20000") &&
                  strstr(err.msg, "before decoding"),
              "huge PNG: %s", err.msg);
        /* raising the limit lets it through to the decoder, which then finds the data short */
        p.max_pixels = 400000000ull;
        st = jaclip_image_letterbox_mem(png, m.size, "huge.png", &p, rgb, &err);
        CHECK(st == JACLIP_ERR_FORMAT, "huge PNG with raised limit reaches the decoder: %s", err.msg);
        p = jaclip_image_default_params();
        /* the limit is exact: 128x128 = 16384 pixels */
        p.max_pixels = 16383;
        CHECK(jaclip_image_letterbox_mem(m.data, m.size, "h.png", &p, rgb, &err) == JACLIP_ERR_LIMIT, "16383");
        p.max_pixels = 16384;
        CHECK(jaclip_image_letterbox_mem(m.data, m.size, "h.png", &p, rgb, &err) == JACLIP_OK, "16384: %s", err.msg);
        p = jaclip_image_default_params();
        free(png);
        jc_unmap(&m);
    }
    {
        jc_map m;
        snprintf(path, sizeof path, "%s/images/formats/baseline.jpg", sh);
        REQUIRE(jc_map_file(path, &m, &err) == JACLIP_OK, "%s", err.msg);
        uint8_t *jpg = malloc(m.size);
        memcpy(jpg, m.data, m.size);
        int patched = 0;
        for (size_t i = 2; i + 9 < m.size;) { /* walk markers to SOF0..SOF2 */
            if (jpg[i] != 0xFF) break;
            int mk = jpg[i + 1];
            size_t len = (size_t)jpg[i + 2] << 8 | jpg[i + 3];
            if (mk >= 0xC0 && mk <= 0xC2) {
                jpg[i + 5] = 20000 >> 8, jpg[i + 6] = 20000 & 255; /* height */
                jpg[i + 7] = 20000 >> 8, jpg[i + 8] = 20000 & 255; /* width */
                patched = 1;
                break;
            }
            i += 2 + len;
        }
        CHECK(patched, "SOF found");
        jaclip_status st = jaclip_image_letterbox_mem(jpg, m.size, "huge.jpg", &p, rgb, &err);
        CHECK(st == JACLIP_ERR_LIMIT && strstr(err.msg, "20000x20000") && strstr(err.msg, "huge.jpg"),
              "huge JPEG: %s", err.msg);
        free(jpg);
        jc_unmap(&m);
        snprintf(path, sizeof path, "%s/images/formats/rgba.webp", sh);
        p.max_pixels = 200 * 150 - 1;
        CHECK(jaclip_image_letterbox_file(path, &p, rgb, &err) == JACLIP_ERR_LIMIT, "webp limit: %s", err.msg);
        p = jaclip_image_default_params();
    }

    /* fuzz crashers (found by bench/../fuzz; must never crash) */
    {
        DIR *d = opendir("tests/image/fuzz-crashers");
        int n = 0;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char *fp = jc_path_join("tests/image/fuzz-crashers", e->d_name);
                jaclip_status st = jaclip_image_letterbox_file(fp, &p, rgb, &err);
                CHECK(st == JACLIP_OK || err.msg[0], "%s: failed without a message", fp);
                free(fp);
                n++;
            }
            closedir(d);
        }
        printf("  %d fuzz crashers replayed\n", n);
    }
    return test_done();
}
