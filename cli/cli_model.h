/*
 * cli_model.h — what `jaclip embed` and `jaclip classify` share: reading one-item-per-line
 * list files, and turning image files into model input (decode + letterbox + normalise).
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

/* Decodes, letterboxes and normalises n image files into chw (n * 3*S*S floats). */
jaclip_status cli_load_images(const jaclip_model *m, char *const *paths, int n, float *chw, jaclip_err *err);

#endif
