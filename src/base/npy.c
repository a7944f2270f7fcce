/*
 * npy.c — NumPy .npy files (format 1.0/2.0/3.0, C order), the array format users already
 * have. Reading maps the file and validates the header against the file size; writing
 * goes through an atomic temp file so a partial .npy never appears under its final name.
 * Also the fp16/bf16 conversions used for half-precision inputs.
 */
#include "base/base.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t descr_size(const char *d)
{
    static const struct { const char *d; size_t s; } t[] = {
        {"<f4", 4}, {"<f2", 2}, {"<f8", 8}, {"|u1", 1}, {"|i1", 1}, {"<i4", 4}, {"<i8", 8}, {"<u2", 2},
        {"<i2", 2}, {"|b1", 1}, {"<u4", 4}, {"<u8", 8},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].d, d) == 0) return t[i].s;
    return 0;
}

/* Finds 'key': in the header dict and returns a pointer just after the colon. */
static const char *dict_value(const char *h, const char *key)
{
    const char *p = strstr(h, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

jaclip_status jc_npy_map(const char *path, jc_npy *npy, jaclip_err *err)
{
    memset(npy, 0, sizeof *npy);
    jaclip_status st = jc_map_file(path, &npy->map, err);
    if (st) return st;
    const uint8_t *d = npy->map.data;
    size_t n = npy->map.size;
    if (n < 10 || memcmp(d, "\x93NUMPY", 6) != 0) {
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    }
    int major = d[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)d[8] | ((size_t)d[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) goto trunc;
        hlen = (size_t)d[8] | ((size_t)d[9] << 8) | ((size_t)d[10] << 16) | ((size_t)d[11] << 24);
        hoff = 12;
    } else {
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: .npy format version %d is not supported", path, major);
    }
    if (hlen > 1 << 20 || hoff + hlen > n) goto trunc;
    char *h = malloc(hlen + 1);
    if (!h) {
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    memcpy(h, d + hoff, hlen);
    h[hlen] = 0;
    const char *v = dict_value(h, "'descr'");
    if (!v || *v != '\'' || strlen(v) < 5 || v[4] != '\'') {
        free(h);
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy header has no readable 'descr'", path);
    }
    memcpy(npy->descr, v + 1, 3);
    npy->descr[3] = 0;
    if (npy->descr[0] == '=') npy->descr[0] = '<';
    npy->elem_size = descr_size(npy->descr);
    if (!npy->elem_size) {
        free(h);
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", path, npy->descr);
    }
    v = dict_value(h, "'fortran_order'");
    if (!v || strncmp(v, "False", 5) != 0) {
        free(h);
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: only C-order .npy arrays are supported", path);
    }
    v = dict_value(h, "'shape'");
    if (!v || *v != '(') {
        free(h);
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy header has no readable 'shape'", path);
    }
    v++;
    size_t count = 1;
    npy->ndim = 0;
    for (;;) {
        while (*v == ' ' || *v == ',') v++;
        if (*v == ')') break;
        if (!isdigit((unsigned char)*v) || npy->ndim == JC_NPY_MAX_DIMS) {
            free(h);
            jc_unmap(&npy->map);
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy shape is malformed", path);
        }
        char *end;
        errno = 0;
        unsigned long long dim = strtoull(v, &end, 10);
        if (errno || dim > (1ULL << 40)) {
            free(h);
            jc_unmap(&npy->map);
            return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy shape is out of range", path);
        }
        v = end;
        npy->shape[npy->ndim++] = (int64_t)dim;
        if (dim && count > SIZE_MAX / dim) goto trunc_free;
        count *= (size_t)dim;
    }
    free(h);
    npy->count = count;
    size_t off = hoff + hlen;
    if (count > (n - off) / npy->elem_size || count * npy->elem_size != n - off) {
        jc_unmap(&npy->map);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy data size (%zu bytes) does not match shape × dtype (%zu × %zu)",
                      path, n - off, count, npy->elem_size);
    }
    npy->data = d + off;
    return JACLIP_OK;
trunc_free:
    free(h);
trunc:
    jc_unmap(&npy->map);
    return jc_err(err, JACLIP_ERR_FORMAT, "%s: .npy file is truncated or its header is corrupt", path);
}

void jc_npy_unmap(jc_npy *npy) { jc_unmap(&npy->map); memset(npy, 0, sizeof *npy); }

static int npy_header(char *buf, size_t cap, const char *descr, const int64_t *shape, int ndim)
{
    char sh[256] = "";
    size_t k = 0;
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(sh + k, sizeof sh - k, "%lld%s", (long long)shape[i], (ndim == 1 || i < ndim - 1) ? "," : "");
    char dict[512];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh);
    int total = 10 + dl + 1;
    int pad = (64 - total % 64) % 64;
    if ((size_t)(total + pad) > cap) return -1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    int hl = dl + pad + 1;
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', (size_t)pad);
    buf[10 + dl + pad] = '\n';
    return total + pad;
}

jaclip_status jc_npy_write(const char *path, const char *descr, const int64_t *shape, int ndim,
                           const void *data, jaclip_err *err)
{
    size_t es = descr_size(descr);
    if (!es || ndim < 0 || ndim > JC_NPY_MAX_DIMS) return jc_err(err, JACLIP_ERR_ARG, "%s: bad .npy dtype or rank", path);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    char hdr[1024];
    int hl = npy_header(hdr, sizeof hdr, descr, shape, ndim);
    if (hl < 0) return jc_err(err, JACLIP_ERR_ARG, "%s: .npy header too long", path);
    jc_atomic_file af;
    jaclip_status st = jc_atomic_open(path, &af, err);
    if (st) return st;
    if (fwrite(hdr, 1, (size_t)hl, af.f) != (size_t)hl || (count && fwrite(data, es, count, af.f) != count)) {
        jc_atomic_abort(&af);
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return jc_atomic_commit(&af, err);
}

jaclip_status jc_npy_writer_open(jc_npy_writer *w, const char *path, const char *descr, int64_t rows,
                                 int64_t cols, jaclip_err *err)
{
    memset(w, 0, sizeof *w);
    size_t es = descr_size(descr);
    if (!es || rows < 0 || cols < 0) return jc_err(err, JACLIP_ERR_ARG, "%s: bad .npy dtype or shape", path);
    int64_t shape[2] = {rows, cols};
    char hdr[1024];
    int hl = npy_header(hdr, sizeof hdr, descr, shape, 2);
    jaclip_status st = jc_atomic_open(path, &w->af, err);
    if (st) return st;
    if (fwrite(hdr, 1, (size_t)hl, w->af.f) != (size_t)hl) {
        jc_atomic_abort(&w->af);
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    w->row_bytes = es * (size_t)cols;
    w->rows_expected = rows;
    return JACLIP_OK;
}

jaclip_status jc_npy_writer_rows(jc_npy_writer *w, const void *data, int64_t rows, jaclip_err *err)
{
    if (w->rows_written + rows > w->rows_expected)
        return jc_err(err, JACLIP_ERR_INTERNAL, "%s: more rows written than declared", w->af.path);
    if (rows && fwrite(data, w->row_bytes, (size_t)rows, w->af.f) != (size_t)rows)
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", w->af.path, strerror(errno));
    w->rows_written += rows;
    return JACLIP_OK;
}

jaclip_status jc_npy_writer_close(jc_npy_writer *w, jaclip_err *err)
{
    if (w->rows_written != w->rows_expected) {
        jaclip_status st = jc_err(err, JACLIP_ERR_INTERNAL, "%s: %lld rows written, %lld declared", w->af.path,
                                  (long long)w->rows_written, (long long)w->rows_expected);
        jc_atomic_abort(&w->af);
        return st;
    }
    return jc_atomic_commit(&w->af, err);
}

void jc_npy_writer_abort(jc_npy_writer *w) { jc_atomic_abort(&w->af); }

float jc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t jc_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

float jc_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
