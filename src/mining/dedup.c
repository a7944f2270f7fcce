/*
 * dedup.c — the persistent "seen" set that lets a new Common Crawl snapshot be mined against
 * everything mined before (see mining.h for the file format and its crash behaviour).
 *
 * In memory: open addressing over 64-bit hashes (0 marks an empty slot), load factor <= 0.5,
 * so 16 bytes per key. The hash is FNV-1a 64 finished with the splitmix64 mixer, which gives
 * well-spread low bits for the table index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "mining/mining.h"

static const char MAGIC[8] = {'J', 'C', 'D', 'E', 'D', 'U', 'P', '1'};

struct jc_dedup {
    char *path;
    uint64_t *slots;
    size_t cap, n;
    uint64_t loaded;
    uint64_t *added;
    size_t n_added, cap_added;
};

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t key_hash(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *s = (const unsigned char *)a; *s; s++) h = (h ^ *s) * 0x100000001b3ULL;
    if (b) {
        h = (h ^ 0xFF) * 0x100000001b3ULL; /* a separator byte that never occurs in UTF-8 */
        for (const unsigned char *s = (const unsigned char *)b; *s; s++) h = (h ^ *s) * 0x100000001b3ULL;
    }
    h = mix(h);
    return h ? h : 1;
}

static bool grow(jc_dedup *d)
{
    size_t nc = d->cap ? d->cap * 2 : 1024;
    uint64_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < d->cap; i++) {
        uint64_t h = d->slots[i];
        if (!h) continue;
        size_t j = (size_t)h & (nc - 1);
        while (ns[j]) j = (j + 1) & (nc - 1);
        ns[j] = h;
    }
    free(d->slots);
    d->slots = ns;
    d->cap = nc;
    return true;
}

/* Inserts h; returns 1 if new, 0 if present, -1 on out of memory. */
static int insert(jc_dedup *d, uint64_t h)
{
    if ((d->n + 1) * 2 > d->cap && !grow(d)) return -1;
    size_t j = (size_t)h & (d->cap - 1);
    while (d->slots[j]) {
        if (d->slots[j] == h) return 0;
        j = (j + 1) & (d->cap - 1);
    }
    d->slots[j] = h;
    d->n++;
    return 1;
}

jaclip_status jc_dedup_open(const char *path, jc_dedup **out, jaclip_err *err)
{
    *out = NULL;
    jc_dedup *d = calloc(1, sizeof *d);
    if (!d || !grow(d)) {
        free(d);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    if (path) {
        d->path = jc_strdup(path);
        if (jc_file_exists(path)) {
            jc_map m;
            jaclip_status st = jc_map_file(path, &m, err);
            if (st) {
                jc_dedup_free(d);
                return st;
            }
            if (m.size < 8 || memcmp(m.data, MAGIC, 8) != 0) {
                jc_unmap(&m);
                jc_dedup_free(d);
                return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a jaclip dedup set (expected the JCDEDUP1 header)", path);
            }
            size_t n = (m.size - 8) / 8;
            if ((m.size - 8) % 8)
                jc_warn("%s: ignoring a half-written last entry (%zu bytes) from an interrupted run", path,
                        (size_t)((m.size - 8) % 8));
            for (size_t i = 0; i < n; i++) {
                uint64_t h = 0;
                for (int b = 7; b >= 0; b--) h = (h << 8) | m.data[8 + i * 8 + (size_t)b];
                if (h && insert(d, h) < 0) {
                    jc_unmap(&m);
                    jc_dedup_free(d);
                    return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory loading %zu hashes", path, n);
                }
            }
            d->loaded = d->n;
            jc_unmap(&m);
        }
    }
    *out = d;
    return JACLIP_OK;
}

bool jc_dedup_add(jc_dedup *d, const char *a, const char *b)
{
    uint64_t h = key_hash(a, b);
    int r = insert(d, h);
    if (r <= 0) return r < 0; /* out of memory: keep the pair rather than lose it */
    if (d->path) {
        if (d->n_added == d->cap_added) {
            size_t nc = d->cap_added ? d->cap_added * 2 : 4096;
            uint64_t *na = realloc(d->added, nc * sizeof *na);
            if (!na) return true;
            d->added = na;
            d->cap_added = nc;
        }
        d->added[d->n_added++] = h;
    }
    return true;
}

uint64_t jc_dedup_size(const jc_dedup *d) { return d->n; }
uint64_t jc_dedup_loaded(const jc_dedup *d) { return d->loaded; }

jaclip_status jc_dedup_commit(jc_dedup *d, jaclip_err *err)
{
    if (!d->path || (d->n_added == 0 && jc_file_exists(d->path))) return JACLIP_OK;
    bool fresh = !jc_file_exists(d->path);
    if (!fresh) {
        /* an earlier crash may have left a half entry: cut it off before appending */
        struct stat sb;
        if (stat(d->path, &sb) == 0 && sb.st_size > 8 && (sb.st_size - 8) % 8 &&
            truncate(d->path, sb.st_size - (sb.st_size - 8) % 8) != 0)
            return jc_err(err, JACLIP_ERR_IO, "%s: cannot cut a half-written entry: %s", d->path, strerror(errno));
    }
    FILE *f = fopen(d->path, fresh ? "wb" : "ab");
    if (!f) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open for appending: %s", d->path, strerror(errno));
    bool ok = true;
    if (fresh) ok = fwrite(MAGIC, 1, 8, f) == 8;
    uint8_t buf[8 * 512];
    for (size_t i = 0; ok && i < d->n_added;) {
        size_t k = 0;
        for (; k < 512 && i < d->n_added; k++, i++)
            for (int b = 0; b < 8; b++) buf[k * 8 + (size_t)b] = (uint8_t)(d->added[i] >> (8 * b));
        ok = fwrite(buf, 8, k, f) == k;
    }
    if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0) ok = false;
    if (!ok) return jc_err(err, JACLIP_ERR_IO, "%s: cannot append to the dedup set: %s", d->path, strerror(e));
    d->n_added = 0;
    return JACLIP_OK;
}

void jc_dedup_free(jc_dedup *d)
{
    if (!d) return;
    free(d->path);
    free(d->slots);
    free(d->added);
    free(d);
}
