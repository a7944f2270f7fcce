/*
 * resample.c — Pillow's Image.resize, reproduced bit for bit (Pillow 9.4,
 * libImaging/Resample.c and the NEAREST branch of libImaging/Geometry.c), because the CLIP
 * reference preprocesses with it and embeddings drift when a port resizes differently.
 *
 * BICUBIC: cubic convolution with a = -0.5 and support 2, scaled by in/out when shrinking
 * (antialiasing). Per output index the weights are computed in double, normalised to sum 1,
 * and for 8-bit images turned into fixed point with 22 fractional bits (rounded away from
 * zero); sums start at 1 << 21 and are shifted and clipped to 0..255. The horizontal pass runs
 * first into an 8-bit intermediate that holds only the source rows the vertical pass reads.
 * Mode I (int32) keeps double weights and rounds with ROUND_UP, without clipping.
 *
 * NEAREST (Pillow's choice for P and 1 images whatever filter is asked): source index is
 * COORD(x0 + (i + 0.5) * scale) where the position is accumulated step by step in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's precompute_coeffs for box (0, in_size): returns ksize, fills bounds (xmin, count)
 * per output index and ksize double weights per output index. */
static int precompute_coeffs(int in_size, int out_size, int **boundsp, double **kkp)
{
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = jc_malloc_array((size_t)out_size * (size_t)ksize, sizeof(double));
    int *bounds = jc_malloc_array((size_t)out_size * 2, sizeof(int));
    if (!kk || !bounds) {
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kk[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static int32_t *coeffs_to_fixed(const double *kk, size_t n)
{
    int32_t *out = jc_malloc_array(n, sizeof(int32_t));
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS))
                           : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
    return out;
}

static inline uint8_t clip8(int32_t in)
{
    if (in >= (1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* One horizontal pass over rows [y0, y0+rows) of src into dst (rows x ow x CH). The channel
 * count is a compile-time constant so the inner loop unrolls. */
#define DEFINE_HPASS(CH)                                                                           \
    static void hpass_##CH(const uint8_t *src, int w, int y0, int rows, uint8_t *dst, int ow,     \
                           int ksize, const int *bounds, const int32_t *k32)                      \
    {                                                                                              \
        for (int y = 0; y < rows; y++) {                                                           \
            const uint8_t *in = src + (size_t)(y + y0) * w * CH;                                   \
            uint8_t *out = dst + (size_t)y * ow * CH;                                              \
            for (int xx = 0; xx < ow; xx++) {                                                      \
                int xmin = bounds[xx * 2], xn = bounds[xx * 2 + 1];                                \
                const int32_t *k = k32 + (size_t)xx * ksize;                                       \
                int32_t ss[CH];                                                                    \
                for (int c = 0; c < CH; c++) ss[c] = 1 << (PRECISION_BITS - 1);                    \
                const uint8_t *p = in + (size_t)xmin * CH;                                         \
                for (int x = 0; x < xn; x++)                                                       \
                    for (int c = 0; c < CH; c++) ss[c] += p[x * CH + c] * k[x];                    \
                for (int c = 0; c < CH; c++) out[xx * CH + c] = clip8(ss[c]);                      \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_HPASS(1)
DEFINE_HPASS(2)
DEFINE_HPASS(3)
DEFINE_HPASS(4)

/* Vertical pass: out row yy = sum over source rows; accumulates a whole row at a time so
 * the inner loop runs over contiguous bytes. */
static void vpass(const uint8_t *src, int rowlen, uint8_t *dst, int oh, int ksize, const int *bounds,
                  const int32_t *k32, int32_t *acc)
{
    for (int yy = 0; yy < oh; yy++) {
        int ymin = bounds[yy * 2], yn = bounds[yy * 2 + 1];
        const int32_t *k = k32 + (size_t)yy * ksize;
        for (int i = 0; i < rowlen; i++) acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < yn; y++) {
            const uint8_t *in = src + (size_t)(y + ymin) * rowlen;
            int32_t kv = k[y];
            for (int i = 0; i < rowlen; i++) acc[i] += in[i] * kv;
        }
        uint8_t *out = dst + (size_t)yy * rowlen;
        for (int i = 0; i < rowlen; i++) out[i] = clip8(acc[i]);
    }
}

jaclip_status jc_resample_bicubic_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                                     int oh, jaclip_err *err)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1 || ch < 1 || ch > 4)
        return jc_err(err, JACLIP_ERR_INTERNAL, "resample: bad sizes %dx%d -> %dx%d", w, h, ow, oh);
    int *bh = NULL, *bv = NULL;
    double *kh = NULL, *kv = NULL;
    int32_t *kh32 = NULL, *kv32 = NULL, *acc = NULL;
    uint8_t *tmp = NULL;
    jaclip_status st = JACLIP_OK;
    int need_h = ow != w, need_v = oh != h;
    int ksh = precompute_coeffs(w, ow, &bh, &kh);
    int ksv = precompute_coeffs(h, oh, &bv, &kv);
    if (!ksh || !ksv) goto nomem;
    kh32 = coeffs_to_fixed(kh, (size_t)ow * ksh);
    kv32 = coeffs_to_fixed(kv, (size_t)oh * ksv);
    if (!kh32 || !kv32) goto nomem;
    int yfirst = bv[0], ylast = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    const uint8_t *vsrc = src;
    int vw = w;
    if (need_h) {
        for (int i = 0; i < oh; i++) bv[i * 2] -= yfirst;
        int rows = ylast - yfirst;
        uint8_t *hdst = need_v ? (tmp = jc_malloc_array((size_t)rows * ow, (size_t)ch)) : dst;
        if (!hdst) goto nomem;
        switch (ch) {
        case 1: hpass_1(src, w, yfirst, rows, hdst, ow, ksh, bh, kh32); break;
        case 2: hpass_2(src, w, yfirst, rows, hdst, ow, ksh, bh, kh32); break;
        case 3: hpass_3(src, w, yfirst, rows, hdst, ow, ksh, bh, kh32); break;
        default: hpass_4(src, w, yfirst, rows, hdst, ow, ksh, bh, kh32); break;
        }
        vsrc = hdst;
        vw = ow;
    }
    if (need_v) {
        acc = jc_malloc_array((size_t)vw * ch, sizeof(int32_t));
        if (!acc) goto nomem;
        vpass(vsrc, vw * ch, dst, oh, ksv, bv, kv32, acc);
    } else if (!need_h) {
        memcpy(dst, src, (size_t)w * h * ch);
    }
    goto done;
nomem:
    st = jc_err(err, JACLIP_ERR_NOMEM, "resample %dx%d -> %dx%d: out of memory", w, h, ow, oh);
done:
    free(bh); free(bv); free(kh); free(kv); free(kh32); free(kv32); free(acc); free(tmp);
    return st;
}

static inline int32_t round_up(double f) { return (int32_t)(f >= 0.0 ? f + 0.5F : f - 0.5F); }

jaclip_status jc_resample_bicubic_i32(const int32_t *src, int w, int h, int32_t *dst, int ow, int oh,
                                      jaclip_err *err)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1)
        return jc_err(err, JACLIP_ERR_INTERNAL, "resample: bad sizes %dx%d -> %dx%d", w, h, ow, oh);
    int *bh = NULL, *bv = NULL;
    double *kh = NULL, *kv = NULL;
    int32_t *tmp = NULL;
    jaclip_status st = JACLIP_OK;
    int need_h = ow != w, need_v = oh != h;
    int ksh = precompute_coeffs(w, ow, &bh, &kh);
    int ksv = precompute_coeffs(h, oh, &bv, &kv);
    if (!ksh || !ksv) goto nomem;
    int yfirst = bv[0], ylast = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    const int32_t *vsrc = src;
    int vw = w;
    if (need_h) {
        for (int i = 0; i < oh; i++) bv[i * 2] -= yfirst;
        int rows = ylast - yfirst;
        int32_t *hdst = need_v ? (tmp = jc_malloc_array((size_t)rows * ow, sizeof(int32_t))) : dst;
        if (!hdst) goto nomem;
        for (int y = 0; y < rows; y++) {
            const int32_t *in = src + (size_t)(y + yfirst) * w;
            for (int xx = 0; xx < ow; xx++) {
                int xmin = bh[xx * 2], xn = bh[xx * 2 + 1];
                const double *k = kh + (size_t)xx * ksh;
                double ss = 0.0;
                for (int x = 0; x < xn; x++) ss += in[x + xmin] * k[x];
                hdst[(size_t)y * ow + xx] = round_up(ss);
            }
        }
        vsrc = hdst;
        vw = ow;
    }
    if (need_v) {
        for (int yy = 0; yy < oh; yy++) {
            int ymin = bv[yy * 2], yn = bv[yy * 2 + 1];
            const double *k = kv + (size_t)yy * ksv;
            for (int xx = 0; xx < vw; xx++) {
                double ss = 0.0;
                for (int y = 0; y < yn; y++) ss += vsrc[(size_t)(y + ymin) * vw + xx] * k[y];
                dst[(size_t)yy * vw + xx] = round_up(ss);
            }
        }
    } else if (!need_h) {
        memcpy(dst, src, (size_t)w * h * sizeof(int32_t));
    }
    goto done;
nomem:
    st = jc_err(err, JACLIP_ERR_NOMEM, "resample %dx%d -> %dx%d: out of memory", w, h, ow, oh);
done:
    free(bh); free(bv); free(kh); free(kv); free(tmp);
    return st;
}

static inline int coord(double v) { return v < 0.0 ? -1 : (int)v; }

jaclip_status jc_resample_nearest(const uint8_t *src, int w, int h, int bpp, uint8_t *dst, int ow,
                                  int oh, jaclip_err *err)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1)
        return jc_err(err, JACLIP_ERR_INTERNAL, "resample: bad sizes %dx%d -> %dx%d", w, h, ow, oh);
    int *xin = jc_malloc_array((size_t)ow, sizeof(int));
    if (!xin) return jc_err(err, JACLIP_ERR_NOMEM, "resample: out of memory");
    double a0 = (double)((float)w - 0.0f) / ow, a4 = (double)((float)h - 0.0f) / oh;
    double xo = 0.0 + a0 * 0.5, yo = 0.0 + a4 * 0.5;
    for (int x = 0; x < ow; x++) {
        int v = coord(xo);
        xin[x] = (v >= 0 && v < w) ? v : -1;
        xo += a0;
    }
    for (int y = 0; y < oh; y++) {
        int yi = coord(yo);
        uint8_t *out = dst + (size_t)y * ow * bpp;
        if (yi < 0 || yi >= h) {
            memset(out, 0, (size_t)ow * bpp);
        } else {
            const uint8_t *in = src + (size_t)yi * w * bpp;
            for (int x = 0; x < ow; x++) {
                if (xin[x] < 0) memset(out + (size_t)x * bpp, 0, (size_t)bpp);
                else memcpy(out + (size_t)x * bpp, in + (size_t)xin[x] * bpp, (size_t)bpp);
            }
        }
        yo += a4;
    }
    free(xin);
    return JACLIP_OK;
}
