/* fuzz-caffemodel.c - fuzz target for the binary Caffe readers
 * (src/nn/caffe.c): a caffemodel imported with the layers it stores, and the
 * same bytes read as a mean .binaryproto.
 *
 * Invariants: no crash, leak or out-of-bounds read; a failure leaves *out
 * NULL with a message naming the input; a success gives a model whose class
 * count matches its graph.  Memory stays bounded as in fuzz-onnx.c (weights
 * are checked against the graph's shapes before it allocates).
 *
 * Seeds: tests/fuzz/seeds/caffe-small.caffemodel and caffe-small.binaryproto
 * (make-convert-seeds.sh).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/caffe.h"
#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_model *m = (ts_model *)&m;
    ts_status st = ts_caffe_import_buffers(data, size, "fuzz-input", NULL, 0, NULL, NULL, 0, NULL, NULL, &m);
    if (st != TS_OK) {
        if (m != NULL || !strstr(ts_last_error(), "fuzz-input")) abort();
    } else {
        if (m->graph->nodes[m->graph->output].c != m->meta.n_classes) abort();
        for (int c = 0; c < m->meta.in_channels; c++)
            if (!(m->meta.std[c] > 0)) abort();
        ts_model_free(m);
    }
    float mean[3];
    st = ts_caffe_read_mean(data, size, "fuzz-mean", 3, mean);
    if (st != TS_OK && !strstr(ts_last_error(), "fuzz-mean")) abort();
    if (st == TS_OK && (!isfinite(mean[0]) || !isfinite(mean[1]) || !isfinite(mean[2]))) abort();
    return 0;
}
