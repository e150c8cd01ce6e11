/* fuzz-ert.c - fuzz target for dlib shape predictor files (src/face/ert.c).
 *
 * Invariants checked on every input: loading never crashes or leaks; a
 * failure returns TS_ERR_FORMAT (or TS_ERR_OOM) with a message naming the
 * input; a model that loads predicts on a small image, with boxes inside,
 * across the border and outside it, without reading out of bounds, and
 * returns its part count (1..TS_POINTS_MAX) of points.
 * Seeds: tests/fuzz/seeds/ert-*.dat, written by dlib (gen-ert-seed.cpp).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/ert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_ert *m = NULL;
    ts_status st = ts_ert_load_memory(data, size, "fuzz-input", &m);
    if (st != TS_OK) {
        if (m || (st != TS_ERR_FORMAT && st != TS_ERR_OOM) || !strstr(ts_last_error(), "fuzz-input"))
            abort();
        return 0;
    }
    ts_image img;
    if (ts_image_init(&img, 23, 17) != TS_OK) abort();
    for (int i = 0; i < img.height * img.stride; i++) img.data[i] = (uint8_t)(i * 37);
    static const float boxes[][4] = {
        { 2, 3, 15, 11 }, { -10, -8, 30, 30 }, { 20, 15, 40, 40 }, { 500, 500, 3, 3 }, { 0, 0, 1, 1 },
    };
    for (size_t b = 0; b < sizeof boxes / sizeof boxes[0]; b++) {
        ts_points pts;
        if (ts_ert_predict(m, &img, boxes[b], &pts) != TS_OK) abort();
        if (pts.n != ts_ert_num_parts(m) || pts.n < 1 || pts.n > TS_POINTS_MAX) abort();
    }
    ts_image_clear(&img);
    ts_ert_free(m);
    return 0;
}
