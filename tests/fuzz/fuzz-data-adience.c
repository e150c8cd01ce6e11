/* fuzz-data-adience.c - fuzz target for the Adience fold-file parser (dataset.h, adience:).
 *
 * Any input must either fail with a status or give a dataset that keeps
 * dataset.h's invariants (non-empty paths, labels -1 or a class index,
 * warnings counted); the sanitizers catch out-of-bounds reads.  The last
 * input byte, when odd, also sets a row limit to reach the --limit paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_dataset ds;
    ts_dataset_init(&ds);
    int limit = size && (data[size - 1] & 1) ? data[size - 1] >> 4 : 0;
    if (ts_dataset_parse_adience(&ds, (const char *)data, size, "fold_0_data.txt", "faces", "coarse_tilt_aligned_face", limit) == TS_OK) {
        TS_ASSERT(ds.n_rows >= 0 && ds.n_warnings <= ds.n_warnings_total);
        for (int r = 0; r < ds.n_rows; r++) TS_ASSERT(ds.paths[r] && ds.paths[r][0]);
        for (int t = 0; t < ds.n_traits; t++) {
            const ts_trait *tr = &ds.traits[t];
            TS_ASSERT(tr->name && tr->n_classes >= 1);
            for (int c = 0; c < tr->n_classes; c++) TS_ASSERT(tr->classes[c]);
            for (int r = 0; r < ds.n_rows; r++) TS_ASSERT(tr->labels[r] >= -1 && tr->labels[r] < tr->n_classes);
        }
        if (limit > 0) TS_ASSERT(ds.n_rows <= limit);
    }
    ts_dataset_clear(&ds);
    return 0;
}
