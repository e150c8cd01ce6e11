/* sha256.h - SHA-256 (FIPS 180-4) for content hashes of checkpoints.
 *
 * A small streaming implementation: init, update any number of times, final.
 * The digest is the standard one (sha256sum prints the same hex), so a hash
 * recorded in a checkpoint can be checked with ordinary tools.
 */
#ifndef TS_SHA256_H
#define TS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TS_SHA256_HEX_LEN 64 /* hex characters, without the terminating NUL */

typedef struct ts_sha256 {
    uint32_t h[8];
    uint64_t bytes;    /* message length so far */
    uint8_t block[64]; /* partial block */
    size_t fill;       /* bytes in block */
} ts_sha256;

void ts_sha256_init(ts_sha256 *s);
void ts_sha256_update(ts_sha256 *s, const void *data, size_t len);
void ts_sha256_final(ts_sha256 *s, uint8_t digest[32]);

/* One-shot: lower-case hex digest into hex (TS_SHA256_HEX_LEN + 1 bytes). */
void ts_sha256_hex(const void *data, size_t len, char hex[TS_SHA256_HEX_LEN + 1]);

#endif
