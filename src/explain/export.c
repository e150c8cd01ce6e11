/* export.c - .npy writing and PNG tEXt insertion (export.h gives the
 * formats: numpy.lib.format 1.0; PNG 1.2 chunks with CRC-32 of ISO 3309).
 *
 * The PNG read back here is one we just wrote, but it is still treated as
 * untrusted: the signature, the IHDR chunk and its length are checked
 * before anything is inserted.
 */
#include "explain/export.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"

ts_status ts_npy_save(const char *path, const float *data, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > 8) return ts_error(TS_ERR_ARG, "%s: .npy with %d dimensions", path, ndim);
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1)
        return ts_error(TS_ERR_UNSUPPORTED, "%s: .npy writing needs a little-endian host", path);
    char dict[256];
    int used = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t n = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0) return ts_error(TS_ERR_ARG, "%s: negative dimension", path);
        used += snprintf(dict + used, sizeof dict - (size_t)used, "%d%s", shape[k],
                         ndim == 1 ? "," : k + 1 < ndim ? ", " : "");
        n *= (size_t)shape[k];
    }
    used += snprintf(dict + used, sizeof dict - (size_t)used, "), }");
    /* magic(6) + version(2) + length(2) + dict + padding + '\n' = multiple of 64 */
    size_t total = 10 + (size_t)used + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)used + pad + 1;
    uint8_t head[10 + 256 + 64];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (uint8_t)(hlen & 0xff);
    head[9] = (uint8_t)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)used);
    memset(head + 10 + used, ' ', pad);
    head[10 + used + pad] = '\n';

    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    if (fwrite(head, 1, 10 + hlen, af.f) != 10 + hlen ||
        (n && fwrite(data, sizeof(float), n, af.f) != n)) {
        ts_status st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af));
        ts_atomic_abort(&af);
        return st;
    }
    return ts_atomic_commit(&af);
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* benign race: every thread computes the same table */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

ts_status ts_png_add_text(const char *path, int n, const char *const *keyword, const char *const *text)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    TS_TRY(ts_read_file(path, (size_t)1 << 30, &buf, &len));
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    /* signature + IHDR (4 length, 4 type, 13 data, 4 crc) */
    if (len < 8 + 25 || memcmp(buf, sig, 8) || memcmp(buf + 12, "IHDR", 4) ||
        buf[8] || buf[9] || buf[10] || buf[11] != 13) {
        free(buf);
        return ts_error(TS_ERR_FORMAT, "%s: not a PNG starting with IHDR", path);
    }
    size_t extra = 0;
    for (int k = 0; k < n; k++) {
        size_t kl = strlen(keyword[k]);
        if (kl < 1 || kl > 79) {
            free(buf);
            return ts_error(TS_ERR_ARG, "PNG text keyword '%s' must have 1..79 characters", keyword[k]);
        }
        extra += 12 + kl + 1 + strlen(text[k]);
    }
    uint8_t *out = malloc(len + extra);
    if (!out) {
        free(buf);
        return ts_error(TS_ERR_OOM, "%s: %zu bytes", path, len + extra);
    }
    size_t at = 8 + 25;
    memcpy(out, buf, at);
    for (int k = 0; k < n; k++) {
        size_t kl = strlen(keyword[k]), tl = strlen(text[k]), dl = kl + 1 + tl;
        uint8_t *c = out + at;
        be32(c, (uint32_t)dl);
        memcpy(c + 4, "tEXt", 4);
        memcpy(c + 8, keyword[k], kl);
        c[8 + kl] = 0;
        memcpy(c + 9 + kl, text[k], tl);
        be32(c + 8 + dl, crc32_update(0xffffffffu, c + 4, 4 + dl) ^ 0xffffffffu);
        at += 12 + dl;
    }
    memcpy(out + at, buf + 8 + 25, len - 8 - 25);
    free(buf);
    ts_status st = ts_write_file_atomic(path, out, len + extra);
    free(out);
    return st;
}
