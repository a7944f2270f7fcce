/*
 * main.c — the `jaclip` entry point: finds the subcommand among those registered with
 * JACLIP_COMMAND and runs it; `jaclip --help` lists them all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli.h"

extern const jc_command __start_jaclip_cmds[];
extern const jc_command __stop_jaclip_cmds[];

static int cmp_cmd(const void *a, const void *b)
{
    return strcmp((*(const jc_command *const *)a)->name, (*(const jc_command *const *)b)->name);
}

static void usage(FILE *f)
{
    fprintf(f,
            "jaclip %s — Japanese CLIP (clip-japanese-base-v2) in C\n\n"
            "usage: jaclip <command> [options]    (jaclip <command> --help for details)\n\n"
            "commands:\n",
            jaclip_version());
    size_t n = (size_t)(__stop_jaclip_cmds - __start_jaclip_cmds);
    const jc_command **v = malloc(n * sizeof *v + 1);
    if (!v) return;
    for (size_t i = 0; i < n; i++) v[i] = &__start_jaclip_cmds[i];
    qsort(v, n, sizeof *v, cmp_cmd);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-14s %s\n", v[i]->name, v[i]->summary);
    free(v);
    fprintf(f, "\nexample: jaclip classify --model clip-japanese-base-v2 photo.jpg --labels 犬,猫,象\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            char *hv[] = {argv[2], "--help", NULL};
            for (const jc_command *c = __start_jaclip_cmds; c < __stop_jaclip_cmds; c++)
                if (strcmp(c->name, argv[2]) == 0) return c->run(2, hv);
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("jaclip %s\n", jaclip_version());
        return 0;
    }
    for (const jc_command *c = __start_jaclip_cmds; c < __stop_jaclip_cmds; c++)
        if (strcmp(c->name, argv[1]) == 0) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "jaclip: unknown command '%s' (jaclip --help lists the commands)\n", argv[1]);
    return 2;
}

int cli_fail(const char *cmd, const jaclip_err *err)
{
    fprintf(stderr, "jaclip %s: error: %s\n", cmd, err && err->msg[0] ? err->msg : "unknown error");
    return 1;
}

int cli_failf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "jaclip %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        cli_failf(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, val);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !(v >= lo && v <= hi)) {
        cli_failf(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, val);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_failf(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }
