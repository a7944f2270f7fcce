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
    if (!rgb) return JACLIP_ERR_NOMEM;
    jaclip_status rc = JACLIP_OK;
    for (int i = 0; i < n && !rc; i++) {
        rc = jaclip_image_letterbox_file(paths[i], ip, rgb, err);
        if (!rc) jaclip_image_normalize(rgb, S, ip->mean, ip->std, chw + (size_t)i * 3 * S * S);
    }
    free(rgb);
    return rc;
}
