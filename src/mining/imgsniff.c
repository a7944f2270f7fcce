/*
 * imgsniff.c — what an HTTP body really is: JPEG, PNG, WebP or GIF by magic bytes, the
 * pixel size from the header, and whether the stream is complete (servers that close early
 * without a Content-Length leave truncated images that libcurl reports as success).
 * The downloader rejects what is not a complete JPEG/PNG/WebP; see mining.h.
 */
#include <string.h>

#include "mining/mining.h"

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

static void sniff_jpeg(const uint8_t *d, size_t n, jc_img_sniff *o)
{
    /* walk the marker segments up to the first SOFn for the size */
    size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF) {
            i++;
            continue;
        }
        uint8_t m = d[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        size_t seg = (size_t)d[i + 2] << 8 | d[i + 3];
        if (seg < 2) break;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (i + 9 <= n) {
                o->height = d[i + 5] << 8 | d[i + 6];
                o->width = d[i + 7] << 8 | d[i + 8];
            }
            break;
        }
        if (m == 0xDA) break;
        i += 2 + seg;
    }
    /* EOI at the end (trailing zero padding or garbage after it is tolerated, as decoders do) */
    size_t k = n;
    while (k > 2 && n - k < 4096 && !(d[k - 2] == 0xFF && d[k - 1] == 0xD9)) k--;
    o->complete = k > 2 && d[k - 2] == 0xFF && d[k - 1] == 0xD9;
}

static void sniff_png(const uint8_t *d, size_t n, jc_img_sniff *o)
{
    if (n >= 24 && memcmp(d + 12, "IHDR", 4) == 0) {
        o->width = (int)be32(d + 16);
        o->height = (int)be32(d + 20);
    }
    /* walk the chunks to IEND */
    size_t i = 8;
    while (i + 12 <= n) {
        uint32_t len = be32(d + i);
        if (len > n - i - 12) break;
        if (memcmp(d + i + 4, "IEND", 4) == 0) {
            o->complete = true;
            return;
        }
        i += 12 + (size_t)len;
    }
}

static void sniff_webp(const uint8_t *d, size_t n, jc_img_sniff *o)
{
    uint32_t riff = le32(d + 4);
    o->complete = (uint64_t)riff + 8 <= n;
    if (n >= 30 && memcmp(d + 12, "VP8 ", 4) == 0) {
        o->width = (d[26] | d[27] << 8) & 0x3FFF;
        o->height = (d[28] | d[29] << 8) & 0x3FFF;
    } else if (n >= 25 && memcmp(d + 12, "VP8L", 4) == 0) {
        uint32_t b = le32(d + 21);
        o->width = (int)(b & 0x3FFF) + 1;
        o->height = (int)((b >> 14) & 0x3FFF) + 1;
    } else if (n >= 30 && memcmp(d + 12, "VP8X", 4) == 0) {
        o->width = (int)(d[24] | d[25] << 8 | d[26] << 16) + 1;
        o->height = (int)(d[27] | d[28] << 8 | d[29] << 16) + 1;
    }
}

void jc_img_sniff_buf(const uint8_t *d, size_t n, jc_img_sniff *o)
{
    memset(o, 0, sizeof *o);
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        o->ext = "jpg";
        o->mime = "image/jpeg";
        sniff_jpeg(d, n, o);
    } else if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
        o->ext = "png";
        o->mime = "image/png";
        sniff_png(d, n, o);
    } else if (n >= 16 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) {
        o->ext = "webp";
        o->mime = "image/webp";
        sniff_webp(d, n, o);
    } else if (n >= 10 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) {
        o->ext = "gif";
        o->mime = "image/gif";
        o->width = d[6] | d[7] << 8;
        o->height = d[8] | d[9] << 8;
        o->complete = d[n - 1] == 0x3B;
    }
}
