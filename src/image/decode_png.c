/*
 * decode_png.c — PNG through libpng, kept in the mode Pillow's own PNG reader gives, since
 * the reference pipeline resizes in that mode:
 *   gray 1-bit -> 1 (0/255), gray 2/4/8-bit -> L (values scaled to 0..255 as Pillow's L;2/L;4
 *   unpackers do), gray 16-bit -> I (the full 0..65535 value), gray+alpha -> LA (16-bit: the
 *   high byte; Pillow reads it as RGBA with R=G=B, which resizes identically), palette -> P,
 *   RGB -> RGB, RGBA -> RGBA (16-bit channels: the high byte, as Pillow's *;16B unpackers).
 *   tRNS does not change the mode (Pillow keeps it as info, and convert("RGB") ignores it).
 * Every chunk's CRC is checked, ancillary ones included, because Pillow refuses bad CRCs too;
 * the file must be complete up to IEND.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/image.h"

typedef struct png_src {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
} png_src;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) {
        snprintf(s->msg, sizeof s->msg,
                 "file is truncated or a chunk length is corrupt (a read of %zu bytes at offset %zu "
                 "passes the end of the %zu-byte file)",
                 (size_t)n, s->pos, s->size);
        png_longjmp(png, 1);
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (s && !s->msg[0]) snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* Pillow does not report these either (unknown chunks, sRGB profile notes) */
}

/* libpng only warns about ancillary chunks whose length cannot be right (and drops them);
 * Pillow refuses such files. Walks the chunk list and reports the first chunk of a known
 * type whose length is impossible; NULL if none (truncation is left to libpng). */
static const char *png_bad_chunk(const uint8_t *d, size_t n, char *buf, size_t bufn)
{
    static const struct {
        char type[5];
        uint32_t min, max;
    } rules[] = {
        {"gAMA", 4, 4}, {"cHRM", 32, 32}, {"sRGB", 1, 1}, {"pHYs", 9, 9}, {"tIME", 7, 7},
        {"oFFs", 9, 9}, {"sBIT", 1, 4}, {"bKGD", 1, 6}, {"iCCP", 3, 0xffffffffu}, {"iTXt", 5, 0xffffffffu},
        {"zTXt", 3, 0xffffffffu}, {"tEXt", 1, 0xffffffffu}, {"sPLT", 4, 0xffffffffu},
        {"pCAL", 12, 0xffffffffu}, {"sCAL", 4, 0xffffffffu}, {"hIST", 2, 512}, {"eXIf", 8, 0xffffffffu},
        {"sTER", 1, 1},
    };
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 | (uint32_t)d[pos + 2] << 8 | d[pos + 3];
        const uint8_t *type = d + pos + 4;
        if (memcmp(type, "IEND", 4) == 0) break;
        for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
            if (memcmp(type, rules[i].type, 4) == 0 && (len < rules[i].min || len > rules[i].max)) {
                snprintf(buf, bufn, "%.4s chunk at offset %zu has an invalid length %u", rules[i].type, pos,
                         (unsigned)len);
                return buf;
            }
        if (len > n - pos - 8) break;
        pos += (size_t)len + 12;
    }
    return NULL;
}

jaclip_status jc_decode_png(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                            int want_exif, jc_image *img, jaclip_err *err)
{
    memset(img, 0, sizeof *img);
    /* The limit is checked from IHDR bytes before libpng allocates anything. */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 | data[23];
        jaclip_status st = jc_image_check_size(name, "PNG", w, h, max_pixels, err);
        if (st != JACLIP_OK) return st;
    }
    char why[128];
    if (png_bad_chunk(data, size, why, sizeof why))
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode PNG: %s", name, why);
    png_src src = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return jc_err(err, JACLIP_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    jaclip_status volatile st = JACLIP_OK;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pix);
        free(rows);
        memset(img, 0, sizeof *img);
        if (st != JACLIP_OK) return st;
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode PNG: %s", name,
                      src.msg[0] ? src.msg : "unknown libpng error");
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    st = jc_image_check_size(name, "PNG", w, h, max_pixels, err);
    if (st != JACLIP_OK) png_longjmp(png, 1);

    jc_img_mode mode;
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY:
        if (depth == 1) mode = JC_MODE_1;
        else if (depth == 16) mode = JC_MODE_I;
        else mode = JC_MODE_L;
        if (depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        break;
    case PNG_COLOR_TYPE_PALETTE:
        mode = JC_MODE_P;
        if (depth < 8) png_set_packing(png);
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: mode = JC_MODE_LA; break;
    case PNG_COLOR_TYPE_RGB: mode = JC_MODE_RGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: mode = JC_MODE_RGBA; break;
    default:
        snprintf(src.msg, sizeof src.msg, "unknown colour type %d", ctype);
        png_longjmp(png, 1);
    }
    if (depth == 16 && mode != JC_MODE_I) png_set_strip_16(png); /* high byte, as Pillow */
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    size_t expect = (size_t)w * (mode == JC_MODE_I ? 2 : (size_t)jc_img_mode_bpp(mode));
    if (rowbytes != expect) {
        snprintf(src.msg, sizeof src.msg, "unexpected row size %zu (expected %zu)", rowbytes, expect);
        png_longjmp(png, 1);
    }
    int bpp = jc_img_mode_bpp(mode);
    pix = jc_malloc_array((size_t)w * h, (size_t)bpp);
    rows = jc_malloc_array(h, sizeof(png_bytep));
    if (!pix || !rows) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for a %ux%u PNG", name, (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    /* 16-bit gray rows are read into the second half of each int32 row, then widened. */
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pix + (size_t)y * w * bpp + (mode == JC_MODE_I ? (size_t)w * 2 : 0);
    png_read_image(png, rows);
    png_read_end(png, info);

    if (mode == JC_MODE_P) {
        png_colorp pal = NULL;
        int npal = 0;
        for (int i = 0; i < 256; i++) img->palette[i * 3] = img->palette[i * 3 + 1] = img->palette[i * 3 + 2] = (uint8_t)i;
        if (png_get_PLTE(png, info, &pal, &npal) && pal) {
            for (int i = 0; i < npal && i < 256; i++) {
                img->palette[i * 3 + 0] = pal[i].red;
                img->palette[i * 3 + 1] = pal[i].green;
                img->palette[i * 3 + 2] = pal[i].blue;
            }
            img->palette_len = npal;
        }
    }
    if (want_exif) {
#ifdef PNG_eXIf_SUPPORTED
        png_uint_32 n = 0;
        png_bytep exif = NULL;
        if (png_get_eXIf_1(png, info, &n, &exif) && exif) img->orientation = jc_exif_orientation(exif, n);
#endif
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);

    if (mode == JC_MODE_I) {
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *row = pix + (size_t)y * w * 4;
            const uint8_t *be = row + (size_t)w * 2;
            int32_t v;
            /* left to right is safe: int32 x is written at 4x, source read at 2w+2x >= 4x */
            for (png_uint_32 x = 0; x < w; x++) {
                v = (int32_t)be[2 * x] << 8 | be[2 * x + 1];
                memcpy(row + 4 * x, &v, 4);
            }
        }
    }
    img->mode = mode;
    img->w = (int)w;
    img->h = (int)h;
    img->bpp = bpp;
    img->pix = pix;
    return JACLIP_OK;
}
