/* dropout-mask.h - the counter-based dropout mask shared by every backend.
 *
 * Whether element `idx` (flat NCHW index into the dropout node's output) is
 * kept depends only on (seed, idx): a splitmix64 finaliser of
 * seed + (idx + 1) * golden-ratio, whose top 24 bits give u in [0,1); the
 * element is kept when u >= p.  No state is carried between elements, so the
 * CPU loop, a CUDA kernel (one thread per element) and a test all produce the
 * same mask for the same seed.  Only 64-bit integer arithmetic and one
 * float comparison are used, so every compiler gets it bit-exact.
 */
#ifndef TS_DROPOUT_MASK_H
#define TS_DROPOUT_MASK_H

#include <stdint.h>

#if defined(__CUDACC__)
#define TS_HOSTDEV __host__ __device__
#else
#define TS_HOSTDEV
#endif

static inline TS_HOSTDEV uint64_t ts_dropout_hash(uint64_t seed, uint64_t idx)
{
    uint64_t z = seed + (idx + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 1 when element idx survives dropout with probability p of dropping. */
static inline TS_HOSTDEV int ts_dropout_keep(uint64_t seed, uint64_t idx, float p)
{
    float u = (float)(ts_dropout_hash(seed, idx) >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

#endif
