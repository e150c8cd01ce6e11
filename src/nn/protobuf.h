/* protobuf.h - a small reader and writer for the protobuf wire format.
 *
 * Spec: the Protocol Buffers encoding (protobuf.dev, "Encoding"): a message
 * is a sequence of fields, each a varint tag (field number << 3 | wire
 * type) followed by its value: wire type 0 a varint, 1 eight little-endian
 * bytes, 2 a varint length and that many bytes (strings, bytes, nested
 * messages, packed repeated scalars), 5 four little-endian bytes.  Groups
 * (wire types 3 and 4) are refused.  ONNX models and Caffe's caffemodel and
 * binaryproto files are protobuf messages; onnx.c and caffe.c decode them
 * with the field numbers of the published schemas.
 *
 * The reader works on untrusted bytes: every varint is at most 10 bytes,
 * every length is checked against what is left of the enclosing message,
 * nesting is limited to TS_PB_MAX_DEPTH, and every failure is TS_ERR_FORMAT
 * with a message naming the input and the byte offset.  It never copies
 * the input: a field's bytes point into the caller's buffer.
 *
 * The writer appends to a growable buffer; nested messages are written with
 * ts_pbw_begin/ts_pbw_end (the length prefix is inserted at the end).  It
 * records running out of memory and reports it once, from ts_pbw_status.
 */
#ifndef TS_PROTOBUF_H
#define TS_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"

#define TS_PB_MAX_DEPTH 32

enum { TS_PB_VARINT = 0, TS_PB_I64 = 1, TS_PB_LEN = 2, TS_PB_I32 = 5 };

/* A reader over one message (the whole buffer or a nested field). */
typedef struct ts_pb {
    const uint8_t *p, *end;
    const uint8_t *base; /* start of the whole input, for offsets */
    const char *name;    /* the input's name in messages (a file name) */
    int depth;
} ts_pb;

/* One decoded field.  For TS_PB_LEN, data/len are the bytes (inside the
 * input buffer); otherwise v holds the varint or the raw 32/64 bits. */
typedef struct ts_pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
    size_t offset; /* of the tag, from the start of the input */
} ts_pb_field;

/* `name` must outlive the reader. */
void ts_pb_init(ts_pb *r, const uint8_t *buf, size_t len, const char *name);

/* Reads the next field into *f; *got is false at the end of the message. */
ts_status ts_pb_next(ts_pb *r, ts_pb_field *f, bool *got);

/* A reader over the nested message in field f (wire type 2), one level
 * deeper; TS_ERR_FORMAT past TS_PB_MAX_DEPTH or for another wire type.
 * `what` names the field in messages ("GraphProto.node"). */
ts_status ts_pb_sub(const ts_pb *r, const ts_pb_field *f, const char *what, ts_pb *sub);

/* Scalar accessors: check the wire type and range, name `what` on error. */
ts_status ts_pb_int(const ts_pb *r, const ts_pb_field *f, const char *what, int64_t lo,
                    int64_t hi, int64_t *out);
ts_status ts_pb_float(const ts_pb *r, const ts_pb_field *f, const char *what, float *out);
/* A string field copied to a NUL-terminated heap string (at most max_len
 * bytes, no NUL inside).  transfer: full (free()). */
ts_status ts_pb_string(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max_len,
                       char **out);

/* Growable vectors for repeated scalars, which arrive either packed (one
 * length-delimited field) or one value per field; the append functions take
 * both forms.  at most `max` elements in all.  free(v->v) when done. */
typedef struct ts_pb_floats { float *v; size_t n, cap; } ts_pb_floats;
typedef struct ts_pb_ints { int64_t *v; size_t n, cap; } ts_pb_ints;

ts_status ts_pb_append_floats(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                              ts_pb_floats *v);
/* Varint elements (int32, int64, uint32, uint64, bool, enum); an int32
 * written negative is a 10-byte varint and reads back negative. */
ts_status ts_pb_append_ints(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                            ts_pb_ints *v);
/* Fixed 64-bit doubles (Caffe's double_data), converted to float. */
ts_status ts_pb_append_doubles(const ts_pb *r, const ts_pb_field *f, const char *what, size_t max,
                               ts_pb_floats *v);

/* ---- writer ------------------------------------------------------------ */

typedef struct ts_pbw {
    uint8_t *buf;
    size_t len, cap;
    bool oom;
} ts_pbw;

void ts_pbw_varint(ts_pbw *w, uint32_t num, uint64_t v);
/* An int64/int32 field: negative values as 10-byte two's complement. */
void ts_pbw_int(ts_pbw *w, uint32_t num, int64_t v);
void ts_pbw_float(ts_pbw *w, uint32_t num, float v);
void ts_pbw_bytes(ts_pbw *w, uint32_t num, const void *data, size_t len);
void ts_pbw_string(ts_pbw *w, uint32_t num, const char *s);
void ts_pbw_packed_floats(ts_pbw *w, uint32_t num, const float *v, size_t n);
void ts_pbw_packed_ints(ts_pbw *w, uint32_t num, const int64_t *v, size_t n);
/* Opens a nested message in field `num`; returns the mark to pass to
 * ts_pbw_end, which closes it. */
size_t ts_pbw_begin(ts_pbw *w, uint32_t num);
void ts_pbw_end(ts_pbw *w, size_t mark);
/* TS_ERR_OOM (with a message) if any append ran out of memory. */
ts_status ts_pbw_status(const ts_pbw *w);
void ts_pbw_clear(ts_pbw *w);

#endif
