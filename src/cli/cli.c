/* cli.c - helpers shared by the commands; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, ts_status st)
{
    const char *msg = ts_last_error();
    fprintf(stderr, "traitscope-cli %s: %s\n", cmd, msg[0] ? msg : ts_status_name(st));
    return CMD_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "traitscope-cli %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'traitscope-cli %s --help')\n", cmd);
    return CMD_USAGE;
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
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

bool cli_parse_device(const char *s, ts_device *out) { return ts_device_parse(s, out) == TS_OK; }

void cli_backend_open(const char *cmd, ts_device want, const ts_backend **be, void **ctx)
{
    char why[512];
    (void)ts_backend_select_or_cpu(want, be, ctx, why, sizeof why);
    if (why[0]) fprintf(stderr, "traitscope-cli %s: %s\n", cmd, why);
}

void cli_device_cpu_only(const char *cmd, ts_device want, const char *what)
{
    if (want == TS_DEVICE_CUDA)
        fprintf(stderr, "traitscope-cli %s: --device cuda: %s runs on the CPU only in this version; running on the CPU\n",
                cmd, what);
}
