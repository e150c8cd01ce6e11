/* fuzz-data-split.c - fuzz target for the split-file parser (split.h).
 *
 * Any input must either fail with a status (leaving the split empty) or
 * give a split whose rows are ascending, disjoint and in [0, n_rows).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_split s;
    if (ts_split_parse(&s, (const char *)data, size, "fuzz.json") == TS_OK) {
        TS_ASSERT(s.n_train + s.n_test <= s.n_rows);
        TS_ASSERT(s.test_fraction > 0 && s.test_fraction < 1);
        uint8_t *seen = calloc((size_t)s.n_rows + 1, 1);
        TS_ASSERT(seen);
        for (int i = 0; i < s.n_train + s.n_test; i++) {
            const int *v = i < s.n_train ? s.train : s.test;
            int k = i < s.n_train ? i : i - s.n_train;
            TS_ASSERT(v[k] >= 0 && v[k] < s.n_rows && !seen[v[k]]);
            TS_ASSERT(k == 0 || v[k] > v[k - 1]);
            seen[v[k]] = 1;
        }
        free(seen);
    } else {
        TS_ASSERT(!s.train && !s.test && !s.trait);
    }
    ts_split_clear(&s);
    return 0;
}
