/* tensor.c - arenas, shape strings and the deterministic RNG; see tensor.h. */
#include "nn/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TS_ALIGN_FLOATS 16 /* 64 bytes */

static size_t round_up(size_t v) { return (v + TS_ALIGN_FLOATS - 1) / TS_ALIGN_FLOATS * TS_ALIGN_FLOATS; }

size_t ts_arena_size_for(int n, int c, int h, int w)
{
    return round_up((size_t)n * c * h * w);
}

ts_status ts_arena_init(ts_arena *a, size_t cap)
{
    memset(a, 0, sizeof *a);
    if (cap == 0) return TS_OK;
    size_t bytes = round_up(cap) * sizeof(float);
    /* calloc: large blocks come zeroed from mmap without touching them, so
     * a VGG-sized arena costs nothing until it is used. */
    a->block = calloc(1, bytes + 64);
    if (!a->block)
        return ts_error(TS_ERR_OOM, "cannot allocate %zu MiB for an arena", bytes >> 20);
    a->base = (float *)(((uintptr_t)a->block + 63) & ~(uintptr_t)63);
    a->cap = round_up(cap);
    return TS_OK;
}

void ts_arena_clear(ts_arena *a)
{
    if (!a) return;
    if (!a->on_device) free(a->block);
    memset(a, 0, sizeof *a);
}

void ts_arena_zero(ts_arena *a)
{
    if (a->base && !a->on_device) memset(a->base, 0, a->used * sizeof(float));
}

ts_tensor ts_arena_take(ts_arena *a, int n, int c, int h, int w)
{
    TS_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1);
    size_t need = ts_arena_size_for(n, c, h, w);
    TS_ASSERT(a->used + need <= a->cap);
    ts_tensor t = { a->base + a->used, n, c, h, w };
    a->used += need;
    return t;
}

const char *ts_shape_str(const ts_tensor *t, char *buf, size_t len)
{
    snprintf(buf, len, "(%d,%d,%d,%d)", t->n, t->c, t->h, t->w);
    return buf;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ts_rng_seed(ts_rng *r, uint64_t seed)
{
    r->s[0] = splitmix64(&seed);
    r->s[1] = splitmix64(&seed);
}

/* xoroshiro128+ */
uint64_t ts_rng_next(ts_rng *r)
{
    uint64_t s0 = r->s[0], s1 = r->s[1], out = s0 + s1;
    s1 ^= s0;
    r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    r->s[1] = (s1 << 37) | (s1 >> 27);
    return out;
}

float ts_rng_uniform(ts_rng *r) { return (float)(ts_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float ts_rng_normal(ts_rng *r)
{
    float u1 = ts_rng_uniform(r), u2 = ts_rng_uniform(r);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
