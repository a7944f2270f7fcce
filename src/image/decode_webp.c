/*
 * decode_webp.c — WebP (lossy, lossless, with or without alpha) through libwebp. Pillow 9.4
 * reads WebP through WebPAnimDecoder, which for a still image decodes the one frame with
 * libwebp's default options (fancy upsampling) into RGBA; the mode is RGBA when the
 * bitstream has alpha and RGB otherwise. WebPDecodeRGB(A)Into with default options gives the
 * same pixels. Animated WebP is refused (this build has no demuxer).
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "image/image.h"

/* Finds the EXIF chunk in the RIFF container (VP8X files). */
static int webp_exif_orientation(const uint8_t *d, size_t n)
{
    if (n < 12) return 0;
    size_t pos = 12;
    while (pos + 8 <= n) {
        uint32_t len = (uint32_t)d[pos + 4] | (uint32_t)d[pos + 5] << 8 | (uint32_t)d[pos + 6] << 16 |
                       (uint32_t)d[pos + 7] << 24;
        if (len > n - pos - 8) return 0;
        if (memcmp(d + pos, "EXIF", 4) == 0) return jc_exif_orientation(d + pos + 8, len);
        pos += 8 + (size_t)len + (len & 1);
    }
    return 0;
}

jaclip_status jc_decode_webp(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                             int want_exif, jc_image *img, jaclip_err *err)
{
    memset(img, 0, sizeof *img);
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(data, size, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode WebP: file is truncated", name);
    if (vs != VP8_STATUS_OK)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode WebP: invalid header (libwebp status %d)",
                      name, (int)vs);
    if (f.has_animation)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: animated WebP is not supported", name);
    jaclip_status st = jc_image_check_size(name, "WebP", (uint64_t)(f.width > 0 ? f.width : 0),
                                           (uint64_t)(f.height > 0 ? f.height : 0), max_pixels, err);
    if (st != JACLIP_OK) return st;
    int bpp = f.has_alpha ? 4 : 3;
    size_t stride = (size_t)f.width * bpp;
    uint8_t *pix = jc_malloc_array(stride, (size_t)f.height);
    if (!pix) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for a %dx%d WebP", name, f.width, f.height);
    uint8_t *ok = f.has_alpha ? WebPDecodeRGBAInto(data, size, pix, stride * f.height, (int)stride)
                              : WebPDecodeRGBInto(data, size, pix, stride * f.height, (int)stride);
    if (!ok) {
        free(pix);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode WebP: corrupt or truncated bitstream", name);
    }
    img->mode = f.has_alpha ? JC_MODE_RGBA : JC_MODE_RGB;
    img->w = f.width;
    img->h = f.height;
    img->bpp = bpp;
    img->pix = pix;
    if (want_exif) img->orientation = webp_exif_orientation(data, size);
    return JACLIP_OK;
}
