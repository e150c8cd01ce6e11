/* strbuf.h - a growable string with printf, for generated text (built-in
 * architectures, descriptions of imported models, prototxt export).
 *
 * Invariants: s is NUL-terminated once anything was appended; after an
 * allocation failure `oom` is set, s keeps what fitted, and further appends
 * do nothing, so callers check oom once at the end.  Free s with free().
 */
#ifndef TS_STRBUF_H
#define TS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} ts_strbuf;

void ts_strbuf_printf(ts_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
