/*
 * decode.c — the decoder front door: recognises JPEG, PNG and WebP by their magic bytes
 * (not by file name: WebDataset keys lie), enforces the pixel-count limit from the header
 * before any pixel buffer is allocated, and handles EXIF orientation for --exif-rotate.
 */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

jc_img_format jc_image_sniff(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return JC_FMT_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return JC_FMT_PNG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return JC_FMT_WEBP;
    return JC_FMT_UNKNOWN;
}

const char *jc_img_mode_name(jc_img_mode m)
{
    static const char *names[] = {"1", "L", "LA", "I", "P", "RGB", "RGBA", "CMYK"};
    return (unsigned)m < sizeof names / sizeof *names ? names[m] : "?";
}

int jc_img_mode_bpp(jc_img_mode m)
{
    switch (m) {
    case JC_MODE_1: case JC_MODE_L: case JC_MODE_P: return 1;
    case JC_MODE_LA: return 2;
    case JC_MODE_RGB: return 3;
    case JC_MODE_I: case JC_MODE_RGBA: case JC_MODE_CMYK: return 4;
    }
    return 0;
}

jaclip_status jc_image_check_size(const char *name, const char *what, uint64_t w, uint64_t h,
                                  uint64_t max_pixels, jaclip_err *err)
{
    if (w == 0 || h == 0)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: %s header gives an empty image (%llux%llu)", name, what,
                      (unsigned long long)w, (unsigned long long)h);
    if (w > 0x7fffffff || h > 0x7fffffff || w * h > max_pixels)
        return jc_err(err, JACLIP_ERR_LIMIT,
                      "%s: %s image is %llux%llu = %llu pixels, more than the limit of %llu; refused before "
                      "decoding (raise it with --max-pixels if the image is trusted)",
                      name, what, (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
                      (unsigned long long)max_pixels);
    return JACLIP_OK;
}

void jc_image_free(jc_image *img)
{
    if (!img) return;
    free(img->pix);
    img->pix = NULL;
}

jaclip_status jc_image_decode(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                              int want_exif, jc_image *img, jaclip_err *err)
{
    memset(img, 0, sizeof *img);
    if (!data || size == 0) return jc_err(err, JACLIP_ERR_FORMAT, "%s: empty file, not an image", name);
    switch (jc_image_sniff(data, size)) {
    case JC_FMT_JPEG: return jc_decode_jpeg(data, size, name, max_pixels, want_exif, img, err);
    case JC_FMT_PNG: return jc_decode_png(data, size, name, max_pixels, want_exif, img, err);
    case JC_FMT_WEBP: return jc_decode_webp(data, size, name, max_pixels, want_exif, img, err);
    default: break;
    }
    char hex[3 * 8 + 1] = {0};
    for (size_t i = 0; i < size && i < 8; i++) snprintf(hex + 3 * i, 4, "%02x ", data[i]);
    if (size < 8) hex[3 * size - (size ? 1 : 0)] = 0;
    else hex[3 * 8 - 1] = 0;
    return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                  "%s: not a JPEG, PNG or WebP image (file starts with %s)", name, hex);
}

/* ---- EXIF orientation ------------------------------------------------------------------ */

int jc_exif_orientation(const uint8_t *p, size_t n)
{
    if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
        p += 6;
        n -= 6;
    }
    if (n < 8) return 0;
    int le;
    if (p[0] == 'I' && p[1] == 'I') le = 1;
    else if (p[0] == 'M' && p[1] == 'M') le = 0;
    else return 0;
#define U16(o) (le ? (uint32_t)p[o] | (uint32_t)p[(o) + 1] << 8 : (uint32_t)p[o] << 8 | (uint32_t)p[(o) + 1])
#define U32(o) (le ? (uint32_t)p[o] | (uint32_t)p[(o) + 1] << 8 | (uint32_t)p[(o) + 2] << 16 | (uint32_t)p[(o) + 3] << 24 \
                   : (uint32_t)p[o] << 24 | (uint32_t)p[(o) + 1] << 16 | (uint32_t)p[(o) + 2] << 8 | (uint32_t)p[(o) + 3])
    if (U16(2) != 42) return 0;
    uint32_t ifd = U32(4);
    if (ifd > n || n - ifd < 2) return 0;
    uint32_t count = U16(ifd);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 0;
        if (U16(e) == 0x0112 && U16(e + 2) == 3) {
            uint32_t v = U16(e + 8);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
#undef U16
#undef U32
    return 0;
}

/* Output (x, y) of the transposed image reads source (sx, sy); PIL.ImageOps.exif_transpose:
 * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE,
 * 8 ROTATE_90 (PIL's rotations are counter-clockwise). */
jaclip_status jc_image_apply_orientation(jc_image *img, const char *name, jaclip_err *err)
{
    int o = img->orientation;
    if (o < 2 || o > 8) return JACLIP_OK;
    int w = img->w, h = img->h, bpp = img->bpp;
    int swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = jc_malloc_array((size_t)w * h, (size_t)bpp);
    if (!out) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory rotating the image", name);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break;
            }
            memcpy(out + ((size_t)y * ow + x) * bpp, img->pix + ((size_t)sy * w + sx) * bpp, (size_t)bpp);
        }
    free(img->pix);
    img->pix = out;
    img->w = ow;
    img->h = oh;
    img->orientation = 1;
    return JACLIP_OK;
}
