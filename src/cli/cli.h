/* cli.h - shared pieces of traitscope-cli's commands.
 *
 * Each command lives in cmd-NAME.c as `int cmd_NAME(int argc, char **argv)`
 * (argv[0] is the command name) and is listed in main.c's table.  Commands
 * print results on stdout (JSON where other tools read them: that output is
 * a contract), errors on stderr as "traitscope-cli NAME: message", and
 * return 0 on success, 1 on a runtime error, 2 on bad usage.
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "nn/status.h"

#define CMD_OK 0
#define CMD_FAIL 1
#define CMD_USAGE 2

/* Everything on stderr goes through these: one line each, with control
 * characters and invalid UTF-8 of file names escaped (nn/safetext.h). */
/* Prints "traitscope-cli CMD: <ts_last_error()>" and returns CMD_FAIL. */
int cli_fail(const char *cmd, ts_status st);
/* Prints "traitscope-cli CMD: <message>" and returns CMD_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "traitscope-cli CMD: <message>" (a warning or a note). */
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints a JSON value and a newline on stdout through ts_json_print
 * (invalid UTF-8 repaired, originals kept in KEY_bytes).  CMD_FAIL when out
 * of memory. */
int cli_print_json(cJSON *o, bool formatted);

/* CMD_USAGE, with a message, when one of the outputs is one of the inputs
 * (the same file, however spelled); CMD_OK otherwise.  NULL entries are
 * ignored. */
int cli_refuse_overwrite(const char *cmd, const char *const *outputs, int n_out, const char *const *inputs,
                         int n_in);

/* Rows a command could not use: the first CLI_SKIPS_SHOWN are printed as
 * they come ("PATH: why (skipped)"), cli_skips_done prints how many there
 * were in all.  n is the count for the command's JSON. */
#define CLI_SKIPS_SHOWN 5
typedef struct cli_skips {
    const char *cmd;
    int n;
} cli_skips;
void cli_skips_init(cli_skips *s, const char *cmd);
void cli_skips_add(cli_skips *s, const char *what, const char *why);
void cli_skips_done(cli_skips *s, int total);
/* The same for what a library call kept: `kept` messages (each naming its
 * file) of n_skipped rows left out of `total`. */
void cli_skips_report(const char *cmd, const char *const *kept, int n_kept, int n_skipped, int total);

/* True when argv[i] is `name` and a value follows; stores it and advances i. */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
bool cli_flag(char **argv, int i, const char *name);
/* Strict integer / float parsing of a flag value; false on junk, and for
 * floats on nan and inf. */
bool cli_parse_int(const char *s, int *out);
bool cli_parse_float(const char *s, float *out);

/* --device (issues 5 and 14): every command that runs a network takes it.
 * cli_parse_device: "cpu", "cuda" or "auto"; false on junk.
 * cli_backend_open: the backend for `want` (ts_backend_select_or_cpu): the
 * GPU when asked for (cuda) or available (auto), otherwise the CPU and
 * exactly one line "traitscope-cli CMD: <why>" on stderr.  Never fails;
 * release with ts_backend_close after freeing the models moved onto it.
 * CLI_DEVICE_HELP: the option's line in --help. */
#define CLI_DEVICE_HELP "  --device cpu|cuda|auto  where networks run (default auto: the GPU when usable)\n"
bool cli_parse_device(const char *s, ts_device *out);
void cli_backend_open(const char *cmd, ts_device want, const ts_backend **be, void **ctx);

#endif
