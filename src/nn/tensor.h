/* tensor.h - float32 NCHW tensors as views into arenas.
 *
 * A ts_tensor never owns memory: its data points into a ts_arena (or into a
 * caller's buffer).  Parameters, gradients, optimizer state and activations
 * each live in one arena, so a checkpoint is one write and a GPU upload is
 * one copy (the llm.c layout).  Every tensor is 4-D; a vector of length K is
 * (1,K,1,1) and a batch of FC outputs is (N,K,1,1).
 *
 * Invariants: n,c,h,w >= 1 for a live tensor; data is 64-byte aligned when
 * it comes from an arena; an empty tensor has data == NULL and numel 0.
 */
#ifndef TS_TENSOR_H
#define TS_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"

typedef struct ts_tensor {
    float *data; /* host or device memory, depending on the arena */
    int n, c, h, w;
} ts_tensor;

static inline size_t ts_tensor_numel(const ts_tensor *t)
{
    return t->data ? (size_t)t->n * t->c * t->h * t->w : 0;
}

static inline bool ts_tensor_same_shape(const ts_tensor *a, const ts_tensor *b)
{
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

/* Element (i,j,y,x) of a contiguous NCHW tensor. */
#define TS_AT(t, i, j, y, x)                                                \
    ((t)->data[(((size_t)(i) * (t)->c + (j)) * (t)->h + (y)) * (t)->w + (x)])

/* A bump allocator over one aligned block.  Tensors are carved with
 * ts_arena_take(); the whole arena is released at once. */
typedef struct ts_arena {
    float *base;
    size_t used;     /* floats handed out, alignment padding included */
    size_t cap;      /* floats reserved */
    bool on_device;  /* base is device memory (made by a ts_memory below) */
    void *block;     /* what to free: base rounded up to 64 bytes inside it */
} ts_arena;

/* Memory reached only through functions: a GPU's, which this layer never
 * touches directly.  It keeps tensors there and moves them through the
 * functions the memory's owner provides (its context `ctx` passed back to
 * each).  Where a ts_memory pointer may be NULL, NULL is host memory (the
 * ts_arena_* functions below; an owner may also describe host memory with a
 * table of plain copies, so that its callers need not ask).  Errors:
 * TS_ERR_OOM (full), TS_ERR_DEVICE (a failed copy; downloads are where
 * earlier device faults surface). */
typedef struct ts_memory {
    /* Reserves `floats` zeroed floats into a (sets a->on_device). */
    ts_status (*arena_init)(void *ctx, ts_arena *a, size_t floats);
    /* Releases an arena made by arena_init (a host arena too). */
    void (*arena_clear)(void *ctx, ts_arena *a);
    /* Host -> device and device -> host; download returns when the data
     * is on the host. */
    ts_status (*upload)(void *ctx, float *dst, const float *src, size_t floats);
    ts_status (*download)(void *ctx, float *dst, const float *src, size_t floats);
    /* Sets `floats` floats of device memory to 0. */
    ts_status (*zero)(void *ctx, float *dst, size_t floats);
} ts_memory;

/* Reserves `cap` floats of zeroed host memory.  TS_ERR_OOM on failure. */
ts_status ts_arena_init(ts_arena *a, size_t cap);
void ts_arena_clear(ts_arena *a);
/* Floats needed for a (n,c,h,w) tensor including alignment padding; sum these
 * to size an arena before ts_arena_init(). */
size_t ts_arena_size_for(int n, int c, int h, int w);
/* A (n,c,h,w) view of the next free floats.  Aborts if the arena is too
 * small: sizes are computed beforehand, so running out is a bug. */
ts_tensor ts_arena_take(ts_arena *a, int n, int c, int h, int w);
void ts_arena_zero(ts_arena *a);

/* Shape string "(2,96,36,36)" into buf; returns buf. */
const char *ts_shape_str(const ts_tensor *t, char *buf, size_t len);

/* Deterministic RNG (splitmix64 seeding an xoshiro128+-like stream) used by
 * initialisation, dropout, data shuffling and tests, so a seed reproduces a
 * run on every machine. */
typedef struct ts_rng { uint64_t s[2]; } ts_rng;
void ts_rng_seed(ts_rng *r, uint64_t seed);
uint64_t ts_rng_next(ts_rng *r);
float ts_rng_uniform(ts_rng *r);           /* [0,1) */
float ts_rng_normal(ts_rng *r);            /* N(0,1), Box-Muller */

#endif
