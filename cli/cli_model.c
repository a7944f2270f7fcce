/* cli_model.c — helpers shared by the model subcommands (see cli_model.h). */
#include "cli_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_strs_push(cli_strs *s, const char *str)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        s->v = v, s->cap = cap;
    }
    char *d = strdup(str);
    if (!d) return false;
    s->v[s->n++] = d;
    return true;
}

void cli_strs_free(cli_strs *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

bool cli_read_lines(const char *cmd, const char *path, bool skip_empty, cli_strs *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_failf(cmd, "%s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
        if ((size_t)len != strlen(line)) {
            cli_failf(cmd, "%s: line %d contains a NUL byte", path, out->n + 1);
            ok = false;
            break;
        }
        if (skip_empty && len == 0) continue;
        if (!cli_strs_push(out, line)) {
            cli_failf(cmd, "out of memory");
            ok = false;
            break;
        }
    }
    if (ok && ferror(f)) {
        cli_failf(cmd, "%s: read error", path);
        ok = false;
    }
    free(line);
    if (f != stdin) fclose(f);
    return ok;
}

jaclip_status cli_load_images(const jaclip_model *m, char *const *paths, int n, float *chw, jaclip_err *err)
{
    const jaclip_image_params *ip = jaclip_model_image_params(m);
    int S = ip->image_size;
    uint8_t *rgb = malloc((size_t)S * S * 3);
    if (!rgb) {
        if (err) {
            err->code = JACLIP_ERR_NOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return JACLIP_ERR_NOMEM;
    }
    jaclip_status rc = JACLIP_OK;
    for (int i = 0; i < n && !rc; i++) {
        rc = jaclip_image_letterbox_file(paths[i], ip, rgb, err);
        if (!rc) jaclip_image_normalize(rgb, S, ip->mean, ip->std, chw + (size_t)i * 3 * S * S);
    }
    free(rgb);
    return rc;
}

bool cli_take_values(int argc, char **argv, int *i, cli_strs *list)
{
    int start = *i;
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        if (!cli_strs_push(list, argv[++*i])) return false;
    return *i > start;
}

int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o)
{
    const char *a = argv[*i];
    const char **dst = strcmp(a, "--model") == 0       ? &o->dir
                       : strcmp(a, "--tokenizer") == 0 ? &o->tokenizer
                       : strcmp(a, "--dtype") == 0     ? &o->dtype
                                                       : NULL;
    if (dst && !(*dst = cli_value(cmd, argc, argv, i))) return -1;
    if (dst == &o->dtype && strcmp(o->dtype, "fp32") != 0 && strcmp(o->dtype, "fp16") != 0 &&
        strcmp(o->dtype, "int8") != 0) {
        cli_failf(cmd, "--dtype must be fp32, fp16 or int8, not '%s'", o->dtype);
        return -1;
    }
    if (dst) return 1;
    if (strcmp(a, "--threads") == 0) {
        const char *v = cli_value(cmd, argc, argv, i);
        return v && cli_parse_int(cmd, a, v, 1, 1024, &o->threads) ? 1 : -1;
    }
    if (strcmp(a, "--allow-unknown-config") == 0) {
        o->allow_unknown = true;
        return 1;
    }
    return 0;
}

jaclip_model *cli_model_load(const char *cmd, const cli_model_opts *o)
{
    jaclip_model_params mp = jaclip_model_default_params();
    mp.tokenizer_path = o->tokenizer;
    mp.n_threads = (int)o->threads;
    mp.allow_unknown_config = o->allow_unknown;
    jaclip_model *m = NULL;
    jaclip_err err = {0};
    if (jaclip_model_load(o->dir, &mp, &m, &err) || jaclip_model_set_dtype(m, o->dtype ? o->dtype : "fp32", &err)) {
        cli_fail(cmd, &err);
        jaclip_model_free(m);
        return NULL;
    }
    return m;
}
