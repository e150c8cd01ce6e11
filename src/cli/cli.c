/* cli.c - helpers shared by the commands; see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "nn/safetext.h"

int cli_fail(const char *cmd, ts_status st)
{
    const char *msg = ts_last_error();
    ts_text_print_line(stderr, "traitscope-cli %s: %s", cmd, msg[0] ? msg : ts_status_name(st));
    return CMD_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ts_text_print_line(stderr, "traitscope-cli %s: %s (see 'traitscope-cli %s --help')", cmd, msg, cmd);
    return CMD_USAGE;
}

void cli_warn(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ts_text_print_line(stderr, "traitscope-cli %s: %s", cmd, msg);
}

int cli_print_json(cJSON *o, bool formatted)
{
    char *s = ts_json_print(o, formatted);
    if (!s) return CMD_FAIL;
    printf("%s\n", s);
    free(s);
    fflush(stdout);
    return CMD_OK;
}

int cli_refuse_overwrite(const char *cmd, const char *const *outputs, int n_out, const char *const *inputs, int n_in)
{
    for (int o = 0; o < n_out; o++)
        for (int i = 0; outputs[o] && i < n_in; i++)
            if (inputs[i] && ts_same_file(outputs[o], inputs[i]))
                return strcmp(outputs[o], inputs[i])
                           ? cli_usage_error(cmd, "output %s is the input %s (the same file): refusing to overwrite "
                                             "an input; choose another output", outputs[o], inputs[i])
                           : cli_usage_error(cmd, "output %s is also an input: refusing to overwrite an input; "
                                             "choose another output", outputs[o]);
    return CMD_OK;
}

void cli_skips_init(cli_skips *s, const char *cmd)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
}

void cli_skips_add(cli_skips *s, const char *what, const char *why)
{
    if (s->n++ < CLI_SKIPS_SHOWN) {
        /* the message usually names the file already */
        if (what && !strstr(why, what)) cli_warn(s->cmd, "%s: %s (skipped)", what, why);
        else cli_warn(s->cmd, "%s (skipped)", why);
    }
}

void cli_skips_report(const char *cmd, const char *const *kept, int n_kept, int n_skipped, int total)
{
    cli_skips s;
    cli_skips_init(&s, cmd);
    for (int i = 0; i < n_kept && i < CLI_SKIPS_SHOWN; i++) cli_skips_add(&s, NULL, kept[i]);
    s.n = n_skipped;
    cli_skips_done(&s, total);
}

void cli_skips_done(cli_skips *s, int total)
{
    if (s->n > CLI_SKIPS_SHOWN)
        cli_warn(s->cmd, "... and %d more; %d of %d skipped in all", s->n - CLI_SKIPS_SHOWN, s->n, total);
    else if (s->n)
        cli_warn(s->cmd, "%d of %d skipped", s->n, total);
}

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return false;
    if (argv[*i][n] == '=') { /* --name=value */
        *value = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc) return false;
    *value = argv[++*i];
    return true;
}

bool cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

bool cli_parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) return false;
    *out = (int)v;
    return true;
}

bool cli_parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    /* nan and inf parse, but no setting means them: a NaN mean or scale
     * would make a model that every command then refuses */
    if (errno || end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cli_parse_device(const char *s, ts_device *out) { return ts_device_parse(s, out) == TS_OK; }

void cli_backend_open(const char *cmd, ts_device want, const ts_backend **be, void **ctx)
{
    char why[512];
    (void)ts_backend_select_or_cpu(want, be, ctx, why, sizeof why);
    if (why[0]) cli_warn(cmd, "%s", why);
}

