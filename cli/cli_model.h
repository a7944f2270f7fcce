/*
 * cli_model.h — what the subcommands that load a model (embed, classify, grad) share: the
 * model options and loading, "--opt A B C" value lists, reading one-item-per-line list files,
 * and turning image files into model input (decode + letterbox + normalise).
 */
#ifndef JACLIP_CLI_MODEL_H
#define JACLIP_CLI_MODEL_H

#include <stdbool.h>

#include "jaclip.h"

/* A growable list of strings (each malloc'd). */
typedef struct cli_strs {
    char **v;
    int n, cap;
} cli_strs;

bool cli_strs_push(cli_strs *s, const char *str);
void cli_strs_free(cli_strs *s);

/* Appends the lines of `path` (UTF-8, "\n" or "\r\n"; a final newline does not start a new
 * item). skip_empty drops empty lines (for path lists). Returns false after printing an error. */
bool cli_read_lines(const char *cmd, const char *path, bool skip_empty, cli_strs *out);

/* Appends argv[i+1..] up to the next "--option" to list; returns false when there is none
 * (or out of memory). */
bool cli_take_values(int argc, char **argv, int *i, cli_strs *list);

/* The options every model-loading subcommand takes. */
typedef struct cli_model_opts {
    const char *dir, *tokenizer, *dtype; /* dtype NULL: fp32 */
    long threads;                        /* 0: all CPUs */
    bool allow_unknown;
} cli_model_opts;

/* --model DIR, --tokenizer FILE, --threads N, --dtype fp32|fp16|int8 (checked here),
 * --allow-unknown-config.
 * Returns 1 when argv[*i] was one of them (consuming its value), 0 when it is not, -1 after
 * printing an error (a missing or bad value). */
int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o);

/* Loads o->dir in o->dtype; NULL after printing the error (which names the file or option). */
jaclip_model *cli_model_load(const char *cmd, const cli_model_opts *o);

/* Decodes, letterboxes and normalises n image files into chw (n * 3*S*S floats). */
jaclip_status cli_load_images(const jaclip_model *m, char *const *paths, int n, float *chw, jaclip_err *err);

#endif
