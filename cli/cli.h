/*
 * cli.h — what every `jaclip` subcommand file shares: self-registration (each cli/<cmd>.c
 * declares itself with JACLIP_COMMAND, so adding a subcommand needs no central table),
 * error printing and small option-parsing helpers. The CLI is a thin client: no logic
 * here that the library lacks.
 */
#ifndef JACLIP_CLI_H
#define JACLIP_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "jaclip.h"

typedef struct jc_command {
    const char *name;    /* "embed", "eval zeroshot" is registered as "eval" */
    const char *summary; /* one line for `jaclip --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} jc_command;

/* Registers a subcommand in the "jaclip_cmds" linker section (GNU ld / lld). */
#define JACLIP_COMMAND(ident, name, summary, fn)                                                 \
    __attribute__((used, section("jaclip_cmds"), aligned(sizeof(void *))))                       \
    const jc_command ident = {name, summary, fn}

/* Prints "jaclip <cmd>: <message>" to stderr and returns 1 (the exit status). */
int cli_fail(const char *cmd, const jaclip_err *err);
int cli_failf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option value parsers: print a clear error naming the option and return false. */
bool cli_parse_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* For "--opt VALUE" style: returns argv[++*i] or prints "--opt needs a value" and returns NULL. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* True when argv[i] is -h or --help. */
bool cli_is_help(const char *arg);

#endif
