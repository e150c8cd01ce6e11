/* fuzz-tfjs.c - fuzz target for the TensorFlow.js weights reader (tfjs.c).
 *
 * Input: the manifest JSON, a NUL byte, then the concatenated shard bytes
 * (no NUL: all JSON, no shard bytes).  Seeds: tests/fuzz/seeds/tfjs-*.bin.
 * Invariants: parsing never crashes or reads outside the input; on success
 * every weight holds numel = product(shape) floats, names are unique, and
 * there are never more values than shard bytes (the smallest stored types
 * take one byte per value); on failure the message names the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/tfjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const uint8_t *bins = nul ? nul + 1 : data + size;
    size_t bins_len = nul ? size - json_len - 1 : 0;

    ts_tfjs *t = NULL;
    ts_status st = ts_tfjs_parse((const char *)data, json_len, bins, bins_len, "fuzz.json", &t);
    if (st != TS_OK) {
        if (t || !strstr(ts_last_error(), "fuzz.json")) abort();
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < t->n; i++) {
        const ts_tfjs_weight *w = &t->weights[i];
        size_t numel = 1;
        for (int k = 0; k < w->rank; k++) numel *= (size_t)w->shape[k];
        if (numel != w->numel || (numel && !w->data)) abort();
        if (ts_tfjs_find(t, w->name) != w) abort(); /* unique names */
        volatile float sink = 0;
        for (size_t k = 0; k < numel; k++) sink += w->data[k]; /* touch every value */
        (void)sink;
        total += numel;
    }
    /* bool/uint8 use one byte per value; zero-sized weights need none. */
    if (total > bins_len) abort();
    ts_tfjs_free(t);
    return 0;
}
