/*
 * image.h — internals of the image layer, shared by its files:
 *   decode.c        format sniffing, the pixel-count limit, EXIF orientation
 *   decode_jpeg.c   libjpeg-turbo with Pillow's settings (ISLOW DCT, fancy upsampling)
 *   decode_png.c    libpng, kept in Pillow's modes (1, L, LA, I, P, RGB, RGBA)
 *   decode_webp.c   libwebp (lossy, lossless, alpha)
 *   resample.c      Pillow's BICUBIC (8-bit fixed point and 32-bit int) and NEAREST resize
 *   letterbox.c     the public API: ResizeMaxSize letterbox, mode conversion, normalisation
 *
 * A decoded image keeps the *Pillow mode* it would have after Image.open(), because the
 * reference pipeline resizes and pads in that mode and converts to RGB only at the end:
 * the mode decides the resampler (NEAREST for P and 1), premultiplication (LA, RGBA), the
 * padding colour (CMYK 0 is white, P 0 is palette entry 0) and the final RGB conversion.
 */
#ifndef JACLIP_IMAGE_H
#define JACLIP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef enum jc_img_mode {
    JC_MODE_1,    /* bilevel, stored one byte per pixel as 0 or 255 */
    JC_MODE_L,    /* 8-bit gray */
    JC_MODE_LA,   /* 8-bit gray + alpha, 2 bytes per pixel */
    JC_MODE_I,    /* 32-bit signed int gray (16-bit PNG gray), int32_t per pixel */
    JC_MODE_P,    /* 8-bit palette index + palette */
    JC_MODE_RGB,  /* 3 bytes per pixel */
    JC_MODE_RGBA, /* 4 bytes per pixel, straight (not premultiplied) alpha */
    JC_MODE_CMYK  /* 4 bytes per pixel, Pillow's in-memory CMYK (Adobe JPEGs inverted back) */
} jc_img_mode;

typedef struct jc_image {
    jc_img_mode mode;
    int w, h;
    int bpp;              /* bytes per pixel */
    uint8_t *pix;         /* w*h*bpp bytes, row-major, malloc'd */
    uint8_t palette[768]; /* P only: RGB triples; entries past palette_len are Pillow's gray ramp */
    int palette_len;
    int orientation;      /* EXIF orientation 1..8, 0 when absent (filled only when asked) */
} jc_image;

typedef enum jc_img_format { JC_FMT_UNKNOWN, JC_FMT_JPEG, JC_FMT_PNG, JC_FMT_WEBP } jc_img_format;

jc_img_format jc_image_sniff(const uint8_t *data, size_t size);
const char *jc_img_mode_name(jc_img_mode m);
int jc_img_mode_bpp(jc_img_mode m);

/* Checks w x h against max_pixels (and that both are positive); the decoders call it right
 * after reading the header, before any pixel buffer exists. */
jaclip_status jc_image_check_size(const char *name, const char *what, uint64_t w, uint64_t h,
                                  uint64_t max_pixels, jaclip_err *err);

/* Decodes data into img (pix allocated here; free with jc_image_free). want_exif asks for the
 * EXIF orientation to be parsed into img->orientation. Errors name `name`. */
jaclip_status jc_image_decode(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                              int want_exif, jc_image *img, jaclip_err *err);
jaclip_status jc_decode_jpeg(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                             int want_exif, jc_image *img, jaclip_err *err);
jaclip_status jc_decode_png(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                            int want_exif, jc_image *img, jaclip_err *err);
jaclip_status jc_decode_webp(const uint8_t *data, size_t size, const char *name, uint64_t max_pixels,
                             int want_exif, jc_image *img, jaclip_err *err);
void jc_image_free(jc_image *img);

/* EXIF: orientation (1..8) from a TIFF-structured EXIF block (with or without the
 * "Exif\0\0" prefix); 0 when absent or malformed. */
int jc_exif_orientation(const uint8_t *p, size_t n);
/* Applies an EXIF orientation as PIL.ImageOps.exif_transpose does (new buffer). */
jaclip_status jc_image_apply_orientation(jc_image *img, const char *name, jaclip_err *err);

/* Pillow Image.resize(BICUBIC) for 8-bit images with `ch` interleaved channels (1..4):
 * horizontal pass first into an 8-bit intermediate holding only the rows the vertical pass
 * needs, then the vertical pass. src is (h, w, ch), dst is (oh, ow, ch). */
jaclip_status jc_resample_bicubic_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                                     int oh, jaclip_err *err);
/* Same for Pillow mode I (int32, double weights, ROUND_UP), as ImagingResample*_32bpc. */
jaclip_status jc_resample_bicubic_i32(const int32_t *src, int w, int h, int32_t *dst, int ow, int oh,
                                      jaclip_err *err);
/* Pillow NEAREST (ImagingScaleAffine) for any pixel size in bytes. */
jaclip_status jc_resample_nearest(const uint8_t *src, int w, int h, int bpp, uint8_t *dst, int ow,
                                  int oh, jaclip_err *err);

/* Reads a Hugging Face preprocessor_config.json (CLYPImageProcessor): `image_size` and
 * `normalization_type` into p (other fields untouched). Missing keys keep p's values.
 * norm_name (may be NULL) receives the normalization_type string. */
jaclip_status jc_image_params_from_config(const char *path, jaclip_image_params *p, char *norm_name,
                                          size_t norm_name_size, jaclip_err *err);

#endif
