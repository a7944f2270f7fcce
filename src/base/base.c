/*
 * base.c — errors, memory helpers, file mapping, atomic output files and the progress
 * line. See base.h for the contracts.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *jaclip_version(void) { return "0.1.0"; }

const char *jaclip_status_name(jaclip_status st)
{
    switch (st) {
    case JACLIP_OK: return "ok";
    case JACLIP_ERR_IO: return "io";
    case JACLIP_ERR_FORMAT: return "format";
    case JACLIP_ERR_UNSUPPORTED: return "unsupported";
    case JACLIP_ERR_ARG: return "argument";
    case JACLIP_ERR_NOMEM: return "out of memory";
    case JACLIP_ERR_LIMIT: return "limit";
    case JACLIP_ERR_MISMATCH: return "mismatch";
    case JACLIP_ERR_NUMERIC: return "numeric";
    case JACLIP_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

jaclip_status jc_err(jaclip_err *err, jaclip_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

jaclip_status jc_err_prefix(jaclip_err *err, const char *fmt, ...)
{
    if (!err) return JACLIP_ERR_INTERNAL;
    char prefix[JACLIP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[JACLIP_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof err->msg - 3) pl = sizeof err->msg - 3;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = 0;
    return err->code;
}

void *jc_calloc(size_t n, size_t size)
{
    if (n == 0 || size == 0) return calloc(1, 1);
    return calloc(n, size);
}

void *jc_malloc_array(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    return malloc(bytes ? bytes : 1);
}

void *jc_malloc_aligned(size_t size)
{
    /* (2 MB alignment + MADV_HUGEPAGE for large blocks was tried: with Debian's THP "madvise"
     * defrag setting the faults stall in compaction; loading the v2 model took 1.07-1.37 s
     * instead of 0.50-0.56 s, with no measurable speed-up of the towers.) */
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? (size + 63) & ~(size_t)63 : 64) != 0) return NULL;
    return p;
}

void jc_free_aligned(void *p) { free(p); }

char *jc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

jaclip_status jc_map_file(const char *path, jc_map *map, jaclip_err *err)
{
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return jc_err(err, JACLIP_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return jc_err(err, JACLIP_ERR_IO, "%s: is a directory, expected a file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return JACLIP_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return jc_err(err, JACLIP_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    map->data = p;
    map->size = (size_t)st.st_size;
    return JACLIP_OK;
}

void jc_unmap(jc_map *map)
{
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

jaclip_status jc_read_file(const char *path, size_t max_bytes, char **out, size_t *len, jaclip_err *err)
{
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return jc_err(err, JACLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return jc_err(err, JACLIP_ERR_LIMIT, "%s: larger than the %zu-byte limit", path, max_bytes);
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return jc_err(err, JACLIP_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return JACLIP_OK;
}

bool jc_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool jc_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

jaclip_status jc_mkdirs(const char *path, jaclip_err *err)
{
    char *p = jc_strdup(path);
    if (!p) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = '/';
    }
    jaclip_status st = JACLIP_OK;
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        st = jc_err(err, JACLIP_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
    else if (!jc_is_dir(p))
        st = jc_err(err, JACLIP_ERR_IO, "%s: exists and is not a directory", p);
    free(p);
    return st;
}

char *jc_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

jaclip_status jc_atomic_open(const char *path, jc_atomic_file *af, jaclip_err *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->tmp_path = malloc(n);
    af->path = jc_strdup(path);
    if (!af->tmp_path || !af->path) {
        free(af->tmp_path);
        free(af->path);
        return jc_err(err, JACLIP_ERR_NOMEM, "out of memory");
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        jaclip_status st = jc_err(err, JACLIP_ERR_IO, "%s: cannot create: %s", af->tmp_path, strerror(errno));
        free(af->tmp_path);
        free(af->path);
        af->tmp_path = af->path = NULL;
        return st;
    }
    return JACLIP_OK;
}

jaclip_status jc_atomic_commit(jc_atomic_file *af, jaclip_err *err)
{
    jaclip_status st = JACLIP_OK;
    if (fflush(af->f) != 0 || ferror(af->f))
        st = jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    else if (fsync(fileno(af->f)) != 0 && errno != EINVAL)
        st = jc_err(err, JACLIP_ERR_IO, "%s: fsync failed: %s", af->path, strerror(errno));
    if (fclose(af->f) != 0 && st == JACLIP_OK)
        st = jc_err(err, JACLIP_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (st == JACLIP_OK && rename(af->tmp_path, af->path) != 0)
        st = jc_err(err, JACLIP_ERR_IO, "%s: cannot rename temp file into place: %s", af->path, strerror(errno));
    if (st != JACLIP_OK) unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    af->tmp_path = af->path = NULL;
    return st;
}

void jc_atomic_abort(jc_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
}

jaclip_status jc_write_file_atomic(const char *path, const void *data, size_t len, jaclip_err *err)
{
    jc_atomic_file af;
    jaclip_status st = jc_atomic_open(path, &af, err);
    if (st) return st;
    if (len && fwrite(data, 1, len, af.f) != len) {
        jc_atomic_abort(&af);
        return jc_err(err, JACLIP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return jc_atomic_commit(&af, err);
}

double jc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void progress_draw(jc_progress *p, bool final)
{
    double now = jc_now();
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char eta[32] = "", elapsed[32];
    fmt_duration(elapsed, sizeof elapsed, el);
    if (p->total > 0 && rate > 0 && !final) {
        char e[24];
        fmt_duration(e, sizeof e, (double)(p->total - p->done) / rate);
        snprintf(eta, sizeof eta, "  ETA %s", e);
    }
    if (p->total > 0)
        fprintf(stderr, "\r%s: %lld/%lld %s (%.0f%%)  %.1f %s/s  %s%s%s", p->label, (long long)p->done,
                (long long)p->total, p->unit, 100.0 * (double)p->done / (double)p->total, rate, p->unit, elapsed,
                eta, final ? "\n" : "   ");
    else
        fprintf(stderr, "\r%s: %lld %s  %.1f %s/s  %s%s", p->label, (long long)p->done, p->unit, rate, p->unit,
                elapsed, final ? "\n" : "   ");
    fflush(stderr);
    p->last = now;
    p->drawn = true;
}

void jc_progress_start(jc_progress *p, const char *label, const char *unit, int64_t total, bool quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->quiet = quiet;
    p->t0 = p->last = jc_now();
}

void jc_progress_add(jc_progress *p, int64_t n)
{
    p->done += n;
    if (p->quiet) return;
    if (jc_now() - p->last >= 0.5) progress_draw(p, false);
}

void jc_progress_finish(jc_progress *p)
{
    if (p->quiet) return;
    if (p->drawn || jc_now() - p->t0 >= 0.5) progress_draw(p, true);
}

void jc_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("jaclip: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
