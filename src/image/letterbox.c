/*
 * letterbox.c — the public image API: decode, then CLYP's TestTransform exactly as the
 * reference runs it on a PIL image (model-spec §7):
 *   ResizeMaxSize(S, BICUBIC, fill 0): scale = S / max(w, h); if scale != 1 the new size is
 *   Python round() (half to even) of each side times scale, resized with Image.resize, then
 *   zero-padded with left = pad_w // 2, top = pad_h // 2 (the rest right/bottom); when the
 *   longer side is already S, CenterCrop pads with the same split instead.
 *   Everything happens in the image's own Pillow mode, and convert("RGB") comes last:
 *   LA/RGBA resize premultiplied (Pillow converts to La/RGBa and back) and lose alpha without
 *   compositing; P and 1 resize with NEAREST; padding is 0 in the source mode, so it becomes
 *   palette entry 0 for P and white for CMYK; mode I is clipped to 0..255.
 * Then ToTensor + Normalize: (x / 255 - mean) / std in float32.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

jaclip_image_params jaclip_image_default_params(void)
{
    jaclip_image_params p;
    memset(&p, 0, sizeof p);
    p.image_size = 224;
    jaclip_image_set_normalization(&p, "openai_clip", NULL);
    p.exif_rotate = 0;
    p.max_pixels = 178956970ull;
    return p;
}

jaclip_status jaclip_image_set_normalization(jaclip_image_params *p, const char *type, jaclip_err *err)
{
    static const struct {
        const char *name;
        float mean[3], std[3];
    } table[] = {
        {"imagenet", {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
        {"openai_clip", {0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}},
        {"imagenet_inception", {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}},
    };
    if (!p || !type) return jc_err(err, JACLIP_ERR_ARG, "normalization: missing argument");
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(type, table[i].name) == 0) {
            memcpy(p->mean, table[i].mean, sizeof p->mean);
            memcpy(p->std, table[i].std, sizeof p->std);
            return JACLIP_OK;
        }
    return jc_err(err, JACLIP_ERR_ARG,
                  "unknown normalization_type '%s' (expected imagenet, openai_clip or imagenet_inception)", type);
}

/* Pillow's MULDIV255: a*b/255 rounded, in integers. */
static inline int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static inline uint8_t clip8i(int v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; }

/* RGBA -> RGBa / LA -> La (Pillow rgbA2rgba): colour channels times alpha. */
static void premultiply(uint8_t *p, size_t npix, int ch)
{
    for (size_t i = 0; i < npix; i++, p += ch) {
        int a = p[ch - 1];
        for (int c = 0; c < ch - 1; c++) p[c] = (uint8_t)muldiv255(p[c], a);
    }
}

/* RGBa -> RGBA / La -> LA (Pillow rgba2rgbA): divide back unless alpha is 0 or 255. */
static void unpremultiply(uint8_t *p, size_t npix, int ch)
{
    for (size_t i = 0; i < npix; i++, p += ch) {
        int a = p[ch - 1];
        if (a == 255 || a == 0) continue;
        for (int c = 0; c < ch - 1; c++) p[c] = clip8i((255 * p[c]) / a);
    }
}

/* Pillow's conversion of one pixel of `mode` to RGB. */
static inline void to_rgb(const jc_image *im, const uint8_t *px, uint8_t *out)
{
    switch (im->mode) {
    case JC_MODE_1:
    case JC_MODE_L:
    case JC_MODE_LA: out[0] = out[1] = out[2] = px[0]; break;
    case JC_MODE_I: {
        int32_t v;
        memcpy(&v, px, 4);
        out[0] = out[1] = out[2] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        break;
    }
    case JC_MODE_P: memcpy(out, im->palette + 3 * px[0], 3); break;
    case JC_MODE_RGB:
    case JC_MODE_RGBA: memcpy(out, px, 3); break;
    case JC_MODE_CMYK: {
        int nk = 255 - px[3];
        for (int c = 0; c < 3; c++) out[c] = clip8i(nk - muldiv255(px[c], nk));
        break;
    }
    }
}

/* Letterboxes a decoded image into rgb_out (S*S*3). */
static jaclip_status letterbox_decoded(const jc_image *im, const char *name, int S, uint8_t *rgb_out,
                                       jaclip_err *err)
{
    int w = im->w, h = im->h, bpp = im->bpp;
    double scale = (double)S / (double)(w > h ? w : h);
    int nw = w, nh = h;
    uint8_t *resized = NULL;
    const uint8_t *src = im->pix;
    if (scale != 1.0) {
        nh = (int)nearbyint((double)h * scale); /* Python round(): half to even */
        nw = (int)nearbyint((double)w * scale);
        if (nw < 1 || nh < 1)
            return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                          "%s: image is %dx%d; letterboxing to %d gives a %dx%d resize, which Pillow refuses "
                          "(height and width must be > 0)",
                          name, w, h, S, nw, nh);
        resized = jc_malloc_array((size_t)nw * nh, (size_t)bpp);
        if (!resized) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", name);
        jaclip_status st;
        switch (im->mode) {
        case JC_MODE_1:
        case JC_MODE_P: st = jc_resample_nearest(im->pix, w, h, bpp, resized, nw, nh, err); break;
        case JC_MODE_I:
            st = jc_resample_bicubic_i32((const int32_t *)(const void *)im->pix, w, h,
                                         (int32_t *)(void *)resized, nw, nh, err);
            break;
        case JC_MODE_LA:
        case JC_MODE_RGBA: {
            uint8_t *pm = jc_malloc_array((size_t)w * h, (size_t)bpp);
            if (!pm) {
                st = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
            memcpy(pm, im->pix, (size_t)w * h * bpp);
            premultiply(pm, (size_t)w * h, bpp);
            st = jc_resample_bicubic_u8(pm, w, h, bpp, resized, nw, nh, err);
            free(pm);
            if (st == JACLIP_OK) unpremultiply(resized, (size_t)nw * nh, bpp);
            break;
        }
        default: st = jc_resample_bicubic_u8(im->pix, w, h, bpp, resized, nw, nh, err); break;
        }
        if (st != JACLIP_OK) {
            free(resized);
            return jc_err_prefix(err, "%s", name);
        }
        src = resized;
    }
    /* padding: a zero pixel of the source mode, converted like the rest */
    uint8_t zero[4] = {0, 0, 0, 0}, fill[3];
    to_rgb(im, zero, fill);
    int left = (S - nw) / 2, top = (S - nh) / 2;
    for (int y = 0; y < S; y++) {
        uint8_t *out = rgb_out + (size_t)y * S * 3;
        int sy = y - top;
        if (sy < 0 || sy >= nh) {
            for (int x = 0; x < S; x++) memcpy(out + 3 * x, fill, 3);
            continue;
        }
        for (int x = 0; x < left; x++) memcpy(out + 3 * x, fill, 3);
        const uint8_t *in = src + (size_t)sy * nw * bpp;
        uint8_t *o = out + 3 * left;
        if (im->mode == JC_MODE_RGB) memcpy(o, in, (size_t)nw * 3);
        else
            for (int x = 0; x < nw; x++) to_rgb(im, in + (size_t)x * bpp, o + 3 * x);
        for (int x = left + nw; x < S; x++) memcpy(out + 3 * x, fill, 3);
    }
    free(resized);
    return JACLIP_OK;
}

jaclip_status jaclip_image_letterbox_mem(const void *data, size_t size, const char *name,
                                         const jaclip_image_params *p, uint8_t *rgb_out, jaclip_err *err)
{
    if (!name) name = "(image)";
    if (!p || !rgb_out || (!data && size))
        return jc_err(err, JACLIP_ERR_ARG, "%s: letterbox: missing argument", name);
    if (p->image_size < 1 || p->image_size > 16384)
        return jc_err(err, JACLIP_ERR_ARG, "%s: image_size %d out of range 1..16384", name, p->image_size);
    jc_image im;
    jaclip_status st = jc_image_decode(data, size, name, p->max_pixels, p->exif_rotate, &im, err);
    if (st != JACLIP_OK) return st;
    if (p->exif_rotate) st = jc_image_apply_orientation(&im, name, err);
    if (st == JACLIP_OK) st = letterbox_decoded(&im, name, p->image_size, rgb_out, err);
    jc_image_free(&im);
    return st;
}

jaclip_status jaclip_image_letterbox_file(const char *path, const jaclip_image_params *p, uint8_t *rgb_out,
                                          jaclip_err *err)
{
    jc_map m;
    jaclip_status st = jc_map_file(path, &m, err);
    if (st != JACLIP_OK) return st;
    st = jaclip_image_letterbox_mem(m.data, m.size, path, p, rgb_out, err);
    jc_unmap(&m);
    return st;
}

void jaclip_image_normalize(const uint8_t *rgb, int size, const float mean[3], const float std[3], float *chw_out)
{
    /* torchvision: ToTensor divides by 255 in float32, Normalize subtracts and divides in
     * float32; a 256-entry table per channel gives the same floats. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
    size_t n = (size_t)size * size;
    for (int c = 0; c < 3; c++) {
        float *o = chw_out + (size_t)c * n;
        for (size_t i = 0; i < n; i++) o[i] = lut[c][rgb[i * 3 + c]];
    }
}
