/* fuzz-onnx.c - fuzz target for the ONNX reader (src/nn/onnx.c,
 * ts_onnx_import_buffer) and, on every input it accepts, the writer.
 *
 * Invariants: the reader never crashes, leaks or reads out of bounds; a
 * failure leaves *out NULL with a message naming the input; a success gives
 * a model whose metadata matches its graph, which our exporter writes and
 * our reader reads back.  Memory stays bounded because a graph's parameters
 * are checked against the weights in the file before anything is allocated
 * (netbuild.c), and nothing is run.
 *
 * Seeds: tests/fuzz/seeds/onnx-small.onnx (make-convert-seeds.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_model *m = (ts_model *)&m; /* must be reset to NULL or a model */
    ts_status st = ts_onnx_import_buffer(data, size, "fuzz-input", &m);
    if (st != TS_OK) {
        if (m != NULL || !strstr(ts_last_error(), "fuzz-input")) abort();
        return 0;
    }
    const ts_graph *g = m->graph;
    if (g->nodes[g->output].c != m->meta.n_classes || g->nodes[0].c != m->meta.in_channels) abort();
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ts_onnx_export_buffer(m, &buf, &len) != TS_OK) abort();
    ts_model *back = NULL;
    if (ts_onnx_import_buffer(buf, len, "fuzz-export", &back) != TS_OK) abort();
    if (back->meta.n_classes != m->meta.n_classes || ts_graph_param_count(back->graph) != ts_graph_param_count(g))
        abort();
    ts_model_free(back);
    free(buf);
    ts_model_free(m);
    return 0;
}
