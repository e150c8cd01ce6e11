/* fuzz-points.c - fuzz target for the landmarks JSON reader (points.c).
 *
 * Invariants: parsing never crashes; on success the points are 1..255
 * finite values within TS_POINTS_MAX_COORD, and writing them back and
 * parsing again gives the same floats (the writer's shortest round-trip
 * printing); on failure the message names the input.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "face/points.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_landmarks lm;
    ts_status st = ts_landmarks_parse((const char *)data, size, "fuzz.json", &lm);
    if (st != TS_OK) {
        if (!strstr(ts_last_error(), "fuzz.json")) abort();
        return 0;
    }
    if (lm.pts.n < 1 || lm.pts.n > TS_POINTS_MAX) abort();
    for (int i = 0; i < lm.pts.n; i++)
        if (!isfinite(lm.pts.x[i]) || fabsf(lm.pts.y[i]) > TS_POINTS_MAX_COORD) abort();
    char *s = ts_landmarks_to_json(&lm);
    if (!s) abort();
    ts_landmarks back;
    if (ts_landmarks_parse(s, strlen(s), "again", &back) != TS_OK) abort();
    if (back.pts.n != lm.pts.n || back.has_box != lm.has_box || strcmp(back.method, lm.method)) abort();
    for (int i = 0; i < lm.pts.n; i++)
        if (back.pts.x[i] != lm.pts.x[i] || back.pts.y[i] != lm.pts.y[i]) abort();
    free(s);
    return 0;
}
