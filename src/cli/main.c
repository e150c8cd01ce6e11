/* main.c - traitscope-cli: the engine without a window, for batches and
 * clusters.  One table of commands; each lives in its own cmd-NAME.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/safetext.h"
#include "ts-config.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

/* Commands are declared here and added to the table as they land. */
#define CMD(name) int cmd_##name(int argc, char **argv);
#include "cli/commands.def"
#undef CMD

static const command commands[] = {
#define CMD(name) { #name, cmd_##name, NULL },
#include "cli/commands.def"
#undef CMD
};

static void usage(FILE *f)
{
    fprintf(f, "usage: traitscope-cli COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].name);
    fprintf(f, "\n'traitscope-cli COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CMD_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("traitscope-cli %s\n", TS_VERSION);
        return CMD_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    ts_text_print_line(stderr, "traitscope-cli: unknown command '%s'", argv[1]);
    usage(stderr);
    return CMD_USAGE;
}
