/* protobuf.c - protobuf wire-format reader and writer; see protobuf.h.
 *
 * Invariants of a reader: base <= p <= end, and end never lies past the end
 * of the enclosing message, so no access ever leaves the caller's buffer.
 * Floats and doubles are decoded byte by byte (little-endian on the wire)
 * rather than by casting pointers: the input has no alignment.
 */
#include "nn/protobuf.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FIELD_NUM ((1u << 29) - 1)

static ts_status perr(const ts_pb *r, const uint8_t *at, const char *fmt, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "%s: offset %zu: %s%s%s", r->name, (size_t)(at - r->base),
                    what ? what : "", what ? ": " : "", fmt);
}

void ts_pb_init(ts_pb *r, const uint8_t *buf, size_t len, const char *name)
{
    r->p = buf;
    r->end = buf + len;
    r->base = buf;
    r->name = name ? name : "protobuf input";
    r->depth = 0;
}

/* Decodes a varint at *pp, below end; advances *pp. */
static bool read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return false;
        uint8_t b = *p++;
        /* The tenth byte can only carry the top bit of a 64-bit value. */
        if (i == 9 && b > 1) return false;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return true;
        }
    }
    return false;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

ts_status ts_pb_next(ts_pb *r, ts_pb_field *f, bool *got)
{
    *got = false;
    if (r->p >= r->end) return TS_OK;
    const uint8_t *start = r->p;
    uint64_t tag;
    if (!read_varint(&r->p, r->end, &tag)) return perr(r, start, "truncated or overlong field tag", NULL);
    memset(f, 0, sizeof *f);
    f->offset = (size_t)(start - r->base);
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (tag >> 3 == 0 || tag >> 3 > MAX_FIELD_NUM) return perr(r, start, "invalid field number", NULL);
    size_t left;
    switch (f->wire) {
    case TS_PB_VARINT:
        if (!read_varint(&r->p, r->end, &f->v)) return perr(r, start, "truncated or overlong varint", NULL);
        break;
    case TS_PB_I64:
        if (r->end - r->p < 8) return perr(r, start, "truncated 64-bit field", NULL);
        f->v = le64(r->p);
        r->p += 8;
        break;
    case TS_PB_I32:
        if (r->end - r->p < 4) return perr(r, start, "truncated 32-bit field", NULL);
        f->v = le32(r->p);
        r->p += 4;
        break;
    case TS_PB_LEN: {
        uint64_t len;
        if (!read_varint(&r->p, r->end, &len)) return perr(r, start, "truncated length", NULL);
        left = (size_t)(r->end - r->p);
        if (len > left) return perr(r, start, "length runs past the end of its message", NULL);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        break;
    }
    default:
        return perr(r, start, "unsupported wire type (groups are not read)", NULL);
    }
    *got = true;
    return TS_OK;
}

ts_status ts_pb_sub(const ts_pb *r, const ts_pb_field *f, const char *what, ts_pb *sub)
{
    const uint8_t *at = r->base + f->offset;
    if (f->wire != TS_PB_LEN) return perr(r, at, "expected a nested message", what);
    if (r->depth + 1 > TS_PB_MAX_DEPTH) return perr(r, at, "messages nested too deeply", what);
    sub->p = f->data;
    sub->end = f->data + f->len;
    sub->base = r->base;
    sub->name = r->name;
    sub->depth = r->depth + 1;
    return TS_OK;
}

ts_status ts_pb_int(const ts_pb *r, const ts_pb_field *f, const char *what, int64_t lo, int64_t hi,
                    int64_t *out)
{
    const uint8_t *at = r->base + f->offset;
    if (f->wire != TS_PB_VARINT) return perr(r, at, "expected an integer", what);
    int64_t v = (int64_t)f->v;
    if (v < lo || v > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "value %lld outside %lld..%lld", (long long)v, (long long)lo,
                 (long long)hi);
        return perr(r, at, msg, what);
    }
    *out = v;
    return TS_OK;
}

ts_status ts_pb_float(const ts_pb *r, const ts_pb_field *f, const char *what, float *out)
{
    if (f->wire != TS_PB_I32) return perr(r, r->base + f->offset, "expected a float", what);
    *out = bits_float((uint32_t)f->v);
    return TS_OK;
}

ts_status ts_pb_string(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max_len,
                       char **out)
{
    const uint8_t *at = r->base + f->offset;
    if (f->wire != TS_PB_LEN) return perr(r, at, "expected a string", what);
    if (f->len > max_len) return perr(r, at, "string too long", what);
    if (memchr(f->data, 0, f->len)) return perr(r, at, "string contains a NUL byte", what);
    char *s = malloc(f->len + 1);
    if (!s) return ts_error(TS_ERR_OOM, "%s: out of memory", r->name);
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    *out = s;
    return TS_OK;
}

/* Makes room for `more` elements of `size` bytes in a vector. */
static bool grow(void **v, size_t *cap, size_t n, size_t more, size_t size)
{
    if (n + more <= *cap) return true;
    size_t want = *cap ? *cap : 16;
    while (want < n + more) want *= 2;
    void *nv = realloc(*v, want * size);
    if (!nv) return false;
    *v = nv;
    *cap = want;
    return true;
}

ts_status ts_pb_append_floats(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                              ts_pb_floats *v)
{
    const uint8_t *at = r->base + f->offset;
    size_t count;
    if (f->wire == TS_PB_LEN) {
        if (f->len % 4) return perr(r, at, "packed floats: length not a multiple of 4", what);
        count = f->len / 4;
    } else if (f->wire == TS_PB_I32) {
        count = 1;
    } else {
        return perr(r, at, "expected floats", what);
    }
    if (count > max || v->n > max - count) return perr(r, at, "too many values", what);
    if (!grow((void **)&v->v, &v->cap, v->n, count, sizeof *v->v))
        return ts_error(TS_ERR_OOM, "%s: out of memory for %zu floats", r->name, v->n + count);
    if (f->wire == TS_PB_I32) {
        v->v[v->n++] = bits_float((uint32_t)f->v);
    } else {
        for (size_t i = 0; i < count; i++) v->v[v->n + i] = bits_float(le32(f->data + 4 * i));
        v->n += count;
    }
    return TS_OK;
}

ts_status ts_pb_append_doubles(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                               ts_pb_floats *v)
{
    const uint8_t *at = r->base + f->offset;
    size_t count;
    if (f->wire == TS_PB_LEN) {
        if (f->len % 8) return perr(r, at, "packed doubles: length not a multiple of 8", what);
        count = f->len / 8;
    } else if (f->wire == TS_PB_I64) {
        count = 1;
    } else {
        return perr(r, at, "expected doubles", what);
    }
    if (count > max || v->n > max - count) return perr(r, at, "too many values", what);
    if (!grow((void **)&v->v, &v->cap, v->n, count, sizeof *v->v))
        return ts_error(TS_ERR_OOM, "%s: out of memory for %zu values", r->name, v->n + count);
    for (size_t i = 0; i < count; i++) {
        uint64_t u = f->wire == TS_PB_I64 ? f->v : le64(f->data + 8 * i);
        double d;
        memcpy(&d, &u, sizeof d);
        v->v[v->n + i] = (float)d;
    }
    v->n += count;
    return TS_OK;
}

ts_status ts_pb_append_ints(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                            ts_pb_ints *v)
{
    const uint8_t *at = r->base + f->offset;
    if (f->wire == TS_PB_VARINT) {
        if (v->n >= max) return perr(r, at, "too many values", what);
        if (!grow((void **)&v->v, &v->cap, v->n, 1, sizeof *v->v))
            return ts_error(TS_ERR_OOM, "%s: out of memory", r->name);
        v->v[v->n++] = (int64_t)f->v;
        return TS_OK;
    }
    if (f->wire != TS_PB_LEN) return perr(r, at, "expected integers", what);
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        uint64_t x;
        if (!read_varint(&p, end, &x)) return perr(r, at, "packed integers: bad varint", what);
        if (v->n >= max) return perr(r, at, "too many values", what);
        if (!grow((void **)&v->v, &v->cap, v->n, 1, sizeof *v->v))
            return ts_error(TS_ERR_OOM, "%s: out of memory", r->name);
        v->v[v->n++] = (int64_t)x;
    }
    return TS_OK;
}

/* ---- writer ---- */

static bool wreserve(ts_pbw *w, size_t more)
{
    if (w->oom) return false;
    if (more > SIZE_MAX - w->len) {
        w->oom = true;
        return false;
    }
    if (w->len + more <= w->cap) return true;
    size_t want = w->cap ? w->cap : 256;
    while (want < w->len + more) want = want > SIZE_MAX / 2 ? w->len + more : want * 2;
    uint8_t *nb = realloc(w->buf, want);
    if (!nb) {
        w->oom = true;
        return false;
    }
    w->buf = nb;
    w->cap = want;
    return true;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint_at(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

static void raw_varint(ts_pbw *w, uint64_t v)
{
    if (!wreserve(w, 10)) return;
    put_varint_at(w->buf + w->len, v);
    w->len += varint_size(v);
}

static void raw_bytes(ts_pbw *w, const void *data, size_t len)
{
    if (!len || !wreserve(w, len)) return;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

static void tag(ts_pbw *w, uint32_t num, int wire)
{
    raw_varint(w, (uint64_t)num << 3 | (uint64_t)wire);
}

void ts_pbw_varint(ts_pbw *w, uint32_t num, uint64_t v)
{
    tag(w, num, TS_PB_VARINT);
    raw_varint(w, v);
}

void ts_pbw_int(ts_pbw *w, uint32_t num, int64_t v)
{
    ts_pbw_varint(w, num, (uint64_t)v);
}

static void raw_le32(ts_pbw *w, uint32_t u)
{
    uint8_t b[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
    raw_bytes(w, b, 4);
}

void ts_pbw_float(ts_pbw *w, uint32_t num, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    tag(w, num, TS_PB_I32);
    raw_le32(w, u);
}

void ts_pbw_bytes(ts_pbw *w, uint32_t num, const void *data, size_t len)
{
    tag(w, num, TS_PB_LEN);
    raw_varint(w, len);
    raw_bytes(w, data, len);
}

void ts_pbw_string(ts_pbw *w, uint32_t num, const char *s)
{
    ts_pbw_bytes(w, num, s, strlen(s));
}

void ts_pbw_packed_floats(ts_pbw *w, uint32_t num, const float *v, size_t n)
{
    if (n > SIZE_MAX / 4) {
        w->oom = true;
        return;
    }
    tag(w, num, TS_PB_LEN);
    raw_varint(w, (uint64_t)n * 4);
    if (!wreserve(w, n * 4)) return;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        uint8_t *p = w->buf + w->len + 4 * i;
        p[0] = (uint8_t)u, p[1] = (uint8_t)(u >> 8), p[2] = (uint8_t)(u >> 16), p[3] = (uint8_t)(u >> 24);
    }
    w->len += n * 4;
}

void ts_pbw_packed_ints(ts_pbw *w, uint32_t num, const int64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += varint_size((uint64_t)v[i]);
    tag(w, num, TS_PB_LEN);
    raw_varint(w, len);
    for (size_t i = 0; i < n; i++) raw_varint(w, (uint64_t)v[i]);
}

size_t ts_pbw_begin(ts_pbw *w, uint32_t num)
{
    tag(w, num, TS_PB_LEN);
    return w->len;
}

void ts_pbw_end(ts_pbw *w, size_t mark)
{
    if (w->oom) return;
    size_t len = w->len - mark, vs = varint_size(len);
    if (!wreserve(w, vs)) return;
    memmove(w->buf + mark + vs, w->buf + mark, len);
    put_varint_at(w->buf + mark, len);
    w->len += vs;
}

ts_status ts_pbw_status(const ts_pbw *w)
{
    return w->oom ? ts_error(TS_ERR_OOM, "out of memory writing a protobuf message") : TS_OK;
}

void ts_pbw_clear(ts_pbw *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}
