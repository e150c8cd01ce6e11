/* fuzz-train-files.c - fuzz target for the two files the training code
 * reads back: landmark cache entries (src/train/cache.c) and training
 * state files (src/train/job.c).  The input goes to both parsers with the
 * trailing SHA-256 check off (else nearly every mutation would stop there).
 *
 * Invariants: no crash, leak or out-of-bounds read; a cache entry that
 * parses has 1..255 finite points and A(x,y) values below the point count;
 * a state that parses has JSON text and a parameter count that fits the
 * input; a failure leaves the outputs empty and names the input.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/cache.h"
#include "train/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_lm_entry e;
    ts_status st = ts_lm_entry_parse(data, size, "fuzz-input", false, NULL, NULL, &e);
    if (st == TS_OK) {
        if (e.pts.n < 1 || e.pts.n > TS_POINTS_MAX) abort();
        for (int i = 0; i < e.pts.n; i++)
            if (!isfinite(e.pts.x[i]) || !isfinite(e.pts.y[i])) abort();
        for (size_t i = 0; i < (size_t)e.amap_size * e.amap_size; i++)
            if (e.amap[i] >= e.pts.n) abort();
        ts_lm_entry_clear(&e);
    } else if (e.amap || e.pts.n || !strstr(ts_last_error(), "fuzz-input")) {
        abort();
    }
    char *json = NULL;
    size_t n = 0;
    const float *p = NULL, *m = NULL;
    st = ts_train_state_parse(data, size, "fuzz-input", false, &json, &n, &p, &m);
    if (st == TS_OK) {
        if (!json || n > size / 8) abort();
        float a = 0, b = 0;
        if (n) {
            memcpy(&a, p + (n - 1), sizeof a);
            memcpy(&b, m + (n - 1), sizeof b);
        }
        if (a == 1234.5f && b == 1234.5f) json[0] = json[0]; /* keep the reads */
        free(json);
    } else if (json || (st == TS_ERR_FORMAT && !strstr(ts_last_error(), "fuzz-input"))) {
        abort();
    }
    return 0;
}
