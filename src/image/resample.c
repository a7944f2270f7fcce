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
#include <stdatomic.h>
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

/* Scalar passes: one horizontal pass over rows [y0, y0+rows) of src into dst (rows x ow x CH),
 * with the channel count a compile-time constant and one accumulator per channel. */
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
                const uint8_t *p = in + (size_t)xmin * CH;                                         \
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0, s3 = s0;                 \
                for (int x = 0; x < xn; x++, p += CH) {                                            \
                    s0 += p[0] * k[x];                                                             \
                    if (CH > 1) s1 += p[CH > 1 ? 1 : 0] * k[x];                                    \
                    if (CH > 2) s2 += p[CH > 2 ? 2 : 0] * k[x];                                    \
                    if (CH > 3) s3 += p[CH > 3 ? 3 : 0] * k[x];                                    \
                }                                                                                  \
                out[xx * CH] = clip8(s0);                                                          \
                if (CH > 1) out[xx * CH + (CH > 1 ? 1 : 0)] = clip8(s1);                           \
                if (CH > 2) out[xx * CH + (CH > 2 ? 2 : 0)] = clip8(s2);                           \
                if (CH > 3) out[xx * CH + (CH > 3 ? 3 : 0)] = clip8(s3);                           \
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

/* AVX2 passes. Integer sums are exact and order-free, so these give the scalar (and Pillow's)
 * bytes exactly; tests/image/test_resample.c compares both paths. Horizontal: per output
 * pixel, a dot product of the xn*ch interleaved bytes with the weights repeated per channel
 * (kx), 8 lanes at a time in three accumulators; lane i of accumulator a always holds channel
 * (8a + i) % ch because every 24-element block starts on a pixel boundary for ch = 1..4.
 * Vertical: 8 output bytes at a time, the sum kept in a register across the taps. */
static atomic_int use_simd = -1; /* -1: decide on first use (threads may race to the same value) */

void jc_resample_set_simd(int on) { atomic_store(&use_simd, on); }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define JC_HAVE_AVX2 1

__attribute__((target("avx2"))) static inline __m256i mac8(__m256i acc, const uint8_t *p, const int32_t *k)
{
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
    return _mm256_add_epi32(acc, _mm256_mullo_epi32(v, _mm256_loadu_si256((const __m256i *)(const void *)k)));
}

__attribute__((target("avx2"))) static void hpass_avx2(const uint8_t *src, int w, int y0, int rows, uint8_t *dst,
                                                       int ow, int ch, const int *bounds, const int32_t *kx,
                                                       int kxstride)
{
    uint8_t lane_ch[24]; /* channel of lane i of the three accumulators */
    for (int i = 0; i < 24; i++) lane_ch[i] = (uint8_t)(i % ch);
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y + y0) * w * ch;
        uint8_t *out = dst + (size_t)y * ow * ch;
        for (int xx = 0; xx < ow; xx++) {
            int n = bounds[xx * 2 + 1] * ch;
            const uint8_t *p = in + (size_t)bounds[xx * 2] * ch;
            const int32_t *k = kx + (size_t)xx * kxstride;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0;
            int j = 0;
            for (; j + 24 <= n; j += 24) {
                a0 = mac8(a0, p + j, k + j);
                a1 = mac8(a1, p + j + 8, k + j + 8);
                a2 = mac8(a2, p + j + 16, k + j + 16);
            }
            if (j + 8 <= n) {
                a0 = mac8(a0, p + j, k + j);
                j += 8;
                if (j + 8 <= n) {
                    a1 = mac8(a1, p + j, k + j);
                    j += 8;
                }
            }
            int32_t lanes[24];
            _mm256_storeu_si256((__m256i *)(void *)lanes, a0);
            _mm256_storeu_si256((__m256i *)(void *)(lanes + 8), a1);
            _mm256_storeu_si256((__m256i *)(void *)(lanes + 16), a2);
            /* unsigned: lane partial sums may wrap; the true total fits int32 (as in Pillow) */
            uint32_t ss[4] = {1u << (PRECISION_BITS - 1), 1u << (PRECISION_BITS - 1), 1u << (PRECISION_BITS - 1),
                              1u << (PRECISION_BITS - 1)};
            for (int i = 0; i < 24; i++) ss[lane_ch[i]] += (uint32_t)lanes[i];
            for (int c = j % ch; j < n; j++) {
                ss[c] += (uint32_t)((int32_t)p[j] * k[j]);
                if (++c == ch) c = 0;
            }
            for (int c = 0; c < ch; c++) out[xx * ch + c] = clip8((int32_t)ss[c]);
        }
    }
}

/* Pixel-wise variant for 3 and 4 channels: two taps per step, each pixel's
 * channels in one 4-lane half (a 3-byte pixel padded with a zero lane by a byte shuffle), the
 * weights laid out as [k, k, k, (k or 0)] per tap (k8). Reads up to 8 bytes from a pair's first
 * pixel; the caller guarantees that stays inside src (srclen), padded taps have weight 0. */
__attribute__((target("avx2"))) static void hpass_avx2_px(const uint8_t *src, size_t srclen, int w, int y0,
                                                          int rows, uint8_t *dst, int ow, int ch, int ksize,
                                                          const int *bounds, const int32_t *k32,
                                                          const int32_t *k8, int k8stride)
{
    const __m128i shuf3 = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const uint8_t *end = src + srclen;
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y + y0) * w * ch;
        uint8_t *out = dst + (size_t)y * ow * ch;
        for (int xx = 0; xx < ow; xx++) {
            int xmin = bounds[xx * 2], xn = bounds[xx * 2 + 1];
            const uint8_t *p = in + (size_t)xmin * ch;
            int npairs = (xn + 1) / 2;
            int32_t ss[4] = {1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1),
                             1 << (PRECISION_BITS - 1)};
            if ((size_t)(end - p) < (size_t)npairs * 2 * ch - 2 * ch + 8) { /* image's last pixels */
                const int32_t *k = k32 + (size_t)xx * ksize;
                for (int x = 0; x < xn; x++)
                    for (int c = 0; c < ch; c++) ss[c] += p[x * ch + c] * k[x];
            } else {
                const int32_t *k = k8 + (size_t)xx * k8stride;
                __m256i acc = _mm256_setzero_si256();
                for (int t = 0; t < npairs; t++, p += 2 * ch, k += 8) {
                    __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)p);
                    if (ch == 3) b = _mm_shuffle_epi8(b, shuf3);
                    acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b),
                                                                   _mm256_loadu_si256((const __m256i *)(const void *)k)));
                }
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
                int32_t l[4];
                _mm_storeu_si128((__m128i *)(void *)l, s4);
                for (int c = 0; c < ch; c++) ss[c] += l[c];
            }
            for (int c = 0; c < ch; c++) out[xx * ch + c] = clip8(ss[c]);
        }
    }
}

__attribute__((target("avx2"))) static void vpass_avx2(const uint8_t *src, int rowlen, uint8_t *dst, int oh,
                                                       int ksize, const int *bounds, const int32_t *k32)
{
    const __m256i init = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    for (int yy = 0; yy < oh; yy++) {
        int ymin = bounds[yy * 2], yn = bounds[yy * 2 + 1];
        const int32_t *k = k32 + (size_t)yy * ksize;
        const uint8_t *in0 = src + (size_t)ymin * rowlen;
        uint8_t *out = dst + (size_t)yy * rowlen;
        int i = 0;
        for (; i + 32 <= rowlen; i += 32) {
            __m256i s0 = init, s1 = init, s2 = init, s3 = init;
            const uint8_t *p = in0 + i;
            for (int y = 0; y < yn; y++, p += rowlen) {
                __m256i kv = _mm256_set1_epi32(k[y]);
                __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)p);
                __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
                s0 = _mm256_add_epi32(s0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kv));
                s1 = _mm256_add_epi32(s1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kv));
                s2 = _mm256_add_epi32(s2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kv));
                s3 = _mm256_add_epi32(s3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kv));
            }
            int32_t lanes[32];
            _mm256_storeu_si256((__m256i *)(void *)lanes, s0);
            _mm256_storeu_si256((__m256i *)(void *)(lanes + 8), s1);
            _mm256_storeu_si256((__m256i *)(void *)(lanes + 16), s2);
            _mm256_storeu_si256((__m256i *)(void *)(lanes + 24), s3);
            for (int t = 0; t < 32; t++) out[i + t] = clip8(lanes[t]);
        }
        for (; i < rowlen; i++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < yn; y++) ss += in0[(size_t)y * rowlen + i] * k[y];
            out[i] = clip8(ss);
        }
    }
}
#endif

static int simd_enabled(void)
{
#ifdef JC_HAVE_AVX2
    int v = atomic_load(&use_simd);
    if (v < 0) {
        const char *e = getenv("JACLIP_NO_SIMD");
        v = (e && *e && *e != '0') ? 0 : __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store(&use_simd, v);
    }
    return v > 0 && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

jaclip_status jc_resample_bicubic_u8(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow,
                                     int oh, jaclip_err *err)
{
    if (w < 1 || h < 1 || ow < 1 || oh < 1 || ch < 1 || ch > 4)
        return jc_err(err, JACLIP_ERR_INTERNAL, "resample: bad sizes %dx%d -> %dx%d", w, h, ow, oh);
    int *bh = NULL, *bv = NULL;
    double *kh = NULL, *kv = NULL;
    int32_t *kh32 = NULL, *kv32 = NULL, *acc = NULL, *kx = NULL;
    uint8_t *tmp = NULL;
    jaclip_status st = JACLIP_OK;
    int simd = simd_enabled();
    (void)simd;
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
#ifdef JC_HAVE_AVX2
        /* RGB/RGBA/CMYK: the pixel-wise AVX2 pass (fastest at every kernel length measured);
         * 1-2 channels: the lane-wise one, whose ~30-operation reduction per output pixel only
         * pays off for long kernels (strong downscaling) */
        if (simd && ch >= 3) {
            int pairs = (ksh + 1) / 2, k8s = pairs * 8;
            kx = jc_calloc((size_t)ow * k8s, sizeof(int32_t));
            if (!kx) goto nomem;
            for (int xx = 0; xx < ow; xx++)
                for (int t = 0; t < ksh; t++)
                    for (int c = 0; c < ch; c++)
                        kx[(size_t)xx * k8s + (t / 2) * 8 + (t % 2) * 4 + c] = kh32[(size_t)xx * ksh + t];
            hpass_avx2_px(src, (size_t)w * h * ch, w, yfirst, rows, hdst, ow, ch, ksh, bh, kh32, kx, k8s);
        } else if (simd && ksh * ch >= 96) {
            int kxs = ksh * ch;
            kx = jc_malloc_array((size_t)ow * kxs, sizeof(int32_t));
            if (!kx) goto nomem;
            for (int xx = 0; xx < ow; xx++)
                for (int j = 0; j < kxs; j++) kx[(size_t)xx * kxs + j] = kh32[(size_t)xx * ksh + j / ch];
            hpass_avx2(src, w, yfirst, rows, hdst, ow, ch, bh, kx, kxs);
        } else
#endif
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
#ifdef JC_HAVE_AVX2
        if (simd) {
            vpass_avx2(vsrc, vw * ch, dst, oh, ksv, bv, kv32);
        } else
#endif
        {
            acc = jc_malloc_array((size_t)vw * ch, sizeof(int32_t));
            if (!acc) goto nomem;
            vpass(vsrc, vw * ch, dst, oh, ksv, bv, kv32, acc);
        }
    } else if (!need_h) {
        memcpy(dst, src, (size_t)w * h * ch);
    }
    goto done;
nomem:
    st = jc_err(err, JACLIP_ERR_NOMEM, "resample %dx%d -> %dx%d: out of memory", w, h, ow, oh);
done:
    free(bh); free(bv); free(kh); free(kv); free(kh32); free(kv32); free(acc); free(tmp); free(kx);
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
