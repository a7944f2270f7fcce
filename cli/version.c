/* version.c — `jaclip version`: prints the version and the CPU features the kernels use. */
#include <stdio.h>

#include "cli.h"

static int run_version(int argc, char **argv)
{
    if (argc > 1 && cli_is_help(argv[1])) {
        printf("usage: jaclip version\n\nPrints the jaclip version.\n");
        return 0;
    }
    printf("jaclip %s\n", jaclip_version());
    return 0;
}

JACLIP_COMMAND(cmd_version, "version", "print the version", run_version);
