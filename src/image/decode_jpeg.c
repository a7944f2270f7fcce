/*
 * decode_jpeg.c — JPEG through libjpeg-turbo with the settings Pillow uses, so that the
 * decoded pixels are the ones Pillow sees: ISLOW integer DCT, fancy upsampling, output
 * colour space by component count (1 -> L, 3 -> RGB, 4 -> CMYK). Pillow stores every CMYK
 * JPEG inverted ("CMYK;I", it assumes Adobe's convention), so we invert too; its CMYK->RGB
 * conversion later depends on that.
 *
 * Errors: libjpeg's fatal errors longjmp back here and become a FORMAT error naming the file.
 * Warnings about corrupt data are ignored, as Pillow ignores them, except running out of
 * data: Pillow refuses truncated JPEGs ("image file is truncated"), so do we.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image.h"

typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void on_error(j_common_ptr cinfo)
{
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, g->msg);
    longjmp(g->jb, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        g->truncated = 1;
        snprintf(g->msg, sizeof g->msg, "file is truncated (premature end of JPEG data)");
        longjmp(g->jb, 1);
    }
}

jaclip_status jc_decode_jpeg(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                             int want_exif, jc_image *img, jaclip_err *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    memset(&cinfo, 0, sizeof cinfo);
    memset(img, 0, sizeof *img);
    cinfo.err = jpeg_std_error(&g.mgr);
    g.mgr.error_exit = on_error;
    g.mgr.emit_message = on_message;
    g.truncated = 0;
    g.msg[0] = 0;
    /* volatile: modified between setjmp and a possible longjmp */
    uint8_t *volatile pix = NULL;
    jaclip_status volatile st = JACLIP_OK;
    if (setjmp(g.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        memset(img, 0, sizeof *img);
        if (st != JACLIP_OK) return st;
        if (g.mgr.msg_code == JERR_BAD_PRECISION)
            return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                          "%s: %s: only 8-bit JPEG is supported (Pillow cannot open it either)", name, g.msg);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: cannot decode JPEG: %s", name, g.msg);
    }
    jpeg_create_decompress(&cinfo);
    if (size > (unsigned long)-1) size = (unsigned long)-1;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (want_exif) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    if (cinfo.data_precision != 8) {
        st = jc_err(err, JACLIP_ERR_UNSUPPORTED,
                    "%s: %d-bit JPEG is not supported (only 8-bit; Pillow cannot open it either)", name,
                    cinfo.data_precision);
        longjmp(g.jb, 1);
    }
    st = jc_image_check_size(name, "JPEG", cinfo.image_width, cinfo.image_height, max_pixels, err);
    if (st != JACLIP_OK) longjmp(g.jb, 1);

    jc_img_mode mode;
    switch (cinfo.num_components) {
    case 1: mode = JC_MODE_L; cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: mode = JC_MODE_RGB; cinfo.out_color_space = JCS_RGB; break;
    case 4: mode = JC_MODE_CMYK; cinfo.out_color_space = JCS_CMYK; break;
    default:
        st = jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: JPEG with %d components is not supported", name,
                    cinfo.num_components);
        longjmp(g.jb, 1);
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.do_block_smoothing = TRUE; /* libjpeg's default, which Pillow keeps */

    if (want_exif)
        for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
            if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
                img->orientation = jc_exif_orientation(m->data, m->data_length);
                break;
            }
    int orientation = img->orientation;

    jpeg_start_decompress(&cinfo);
    int bpp = cinfo.output_components;
    if (bpp != jc_img_mode_bpp(mode)) {
        snprintf(g.msg, sizeof g.msg, "unexpected output components %d", bpp);
        longjmp(g.jb, 1);
    }
    size_t stride = (size_t)cinfo.output_width * bpp;
    pix = jc_malloc_array(stride, cinfo.output_height);
    if (!pix) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for a %ux%u JPEG", name, cinfo.output_width,
                    cinfo.output_height);
        longjmp(g.jb, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[4];
        for (int i = 0; i < 4; i++) {
            size_t r = cinfo.output_scanline + i;
            if (r >= cinfo.output_height) r = cinfo.output_height - 1;
            rows[i] = pix + r * stride;
        }
        jpeg_read_scanlines(&cinfo, rows, 4);
    }
    jpeg_finish_decompress(&cinfo);
    img->w = (int)cinfo.output_width;
    img->h = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);

    if (mode == JC_MODE_CMYK) {
        size_t n = stride * (size_t)img->h;
        for (size_t i = 0; i < n; i++) pix[i] = (uint8_t)(255 - pix[i]);
    }
    img->mode = mode;
    img->bpp = bpp;
    img->pix = pix;
    img->orientation = orientation;
    return JACLIP_OK;
}
