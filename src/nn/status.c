/* status.c - thread-local error messages; see status.h. */
#include "nn/status.h"

#include <stdarg.h>
#include <string.h>

#define TS_MSG_MAX 1024

static _Thread_local char ts_msg[TS_MSG_MAX];

ts_status ts_error_v(ts_status st, const char *fmt, va_list ap)
{
    vsnprintf(ts_msg, sizeof ts_msg, fmt, ap);
    return st;
}

ts_status ts_error(ts_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_error_v(st, fmt, ap);
    va_end(ap);
    return st;
}

ts_status ts_error_prefix(ts_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_error_prefix_v(st, fmt, ap);
    va_end(ap);
    return st;
}

ts_status ts_error_prefix_v(ts_status st, const char *fmt, va_list ap)
{
    char prefix[TS_MSG_MAX], old[TS_MSG_MAX];
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    memcpy(old, ts_msg, sizeof old);
    size_t np = strlen(prefix), no = strlen(old);
    if (np > TS_MSG_MAX - 1) np = TS_MSG_MAX - 1;
    if (no > TS_MSG_MAX - 1 - np) no = TS_MSG_MAX - 1 - np;
    memcpy(ts_msg, prefix, np);
    memcpy(ts_msg + np, old, no);
    ts_msg[np + no] = '\0';
    return st;
}

ts_status ts_error_about(ts_status st, const char *path)
{
    if (!path || !path[0] || strstr(ts_msg, path)) return st;
    if (!ts_msg[0]) return ts_error(st, "%s: %s", path, ts_status_name(st));
    return ts_error_prefix(st, "%s: ", path);
}

const char *ts_last_error(void) { return ts_msg; }

void ts_error_clear(void) { ts_msg[0] = '\0'; }

const char *ts_status_name(ts_status st)
{
    switch (st) {
    case TS_OK: return "ok";
    case TS_ERR_IO: return "i/o error";
    case TS_ERR_FORMAT: return "format error";
    case TS_ERR_OOM: return "out of memory";
    case TS_ERR_DEVICE: return "device error";
    case TS_ERR_UNSUPPORTED: return "unsupported";
    case TS_ERR_ARG: return "bad argument";
    case TS_ERR_SHAPE: return "shape mismatch";
    case TS_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
