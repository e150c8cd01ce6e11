/* status.h - the one error convention of libtraitscope.
 *
 * Every recoverable failure returns a ts_status and leaves a human-readable
 * message in a thread-local buffer (file name, offset or field that was
 * wrong).  Callers that give up pass the message on; the CLI prints it, the
 * app turns it into a GError in one place.
 *
 * Broken contracts (a NULL where none is allowed, a shape mismatch between
 * tensors the caller built) are programming errors: TS_ASSERT aborts, in
 * release builds too.  Library code never calls exit() and never prints to
 * stdout.
 */
#ifndef TS_STATUS_H
#define TS_STATUS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum ts_status {
    TS_OK = 0,
    TS_ERR_IO,          /* a file could not be opened, read or written */
    TS_ERR_FORMAT,      /* a file or string does not follow its format */
    TS_ERR_OOM,         /* host or device memory exhausted */
    TS_ERR_DEVICE,      /* CUDA / cuDNN / cuBLAS failure, no usable GPU */
    TS_ERR_UNSUPPORTED, /* valid input that this build cannot handle */
    TS_ERR_ARG,         /* a bad argument from a user (CLI flag, rule string) */
    TS_ERR_SHAPE,       /* data whose shape does not fit the model */
    TS_CANCELLED,       /* a long job stopped because the caller asked */
} ts_status;

/* Sets the thread-local message (printf-style) and returns `st`, so that
 * `return ts_error(TS_ERR_IO, "%s: %s", path, strerror(errno));` reads well. */
ts_status ts_error(ts_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ts_error and ts_error_prefix with a va_list (the CUDA module
 * reaches the program's message through these, cuda-plugin.h). */
ts_status ts_error_v(ts_status st, const char *fmt, va_list ap);
ts_status ts_error_prefix_v(ts_status st, const char *fmt, va_list ap);

/* Prefixes the current message with more context ("model.safetensors: ").
 * Returns `st` unchanged. */
ts_status ts_error_prefix(ts_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes the current message name the file it is about: prefixes "path: "
 * unless the message contains `path` already (so a caller that knows the
 * file never prints it twice).  Returns `st` unchanged. */
ts_status ts_error_about(ts_status st, const char *path);

/* transfer: none.  The last message set on this thread ("" if none). */
const char *ts_last_error(void);

/* transfer: none.  "ok", "i/o error", ... */
const char *ts_status_name(ts_status st);

void ts_error_clear(void);

/* Contract check that stays on in release builds. */
#define TS_ASSERT(cond)                                                     \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__,  \
                    __LINE__, __func__, #cond);                             \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* Propagate a non-OK status. */
#define TS_TRY(expr)                                                        \
    do {                                                                    \
        ts_status ts_try_st_ = (expr);                                      \
        if (ts_try_st_ != TS_OK) return ts_try_st_;                         \
    } while (0)

#endif
