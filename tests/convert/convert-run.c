/* convert-run.c - test helper: the logits of any model file for raw inputs.
 *
 * usage: convert-run MODEL INPUT.f32 OUTPUT.f32
 * MODEL is opened with ts_model_load_any (.safetensors, .onnx, .caffemodel);
 * INPUT.f32 holds N input tensors (N, C, S, S) as little-endian float32
 * exactly as the first layer sees them (already normalised); OUTPUT.f32
 * receives the (N, classes) logits.  The Python tests compare them with
 * PyTorch's.  Prints {"n":N,"classes":K} on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "backend/backend.h"
#include "nn/model.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: convert-run MODEL INPUT.f32 OUTPUT.f32\n");
        return 2;
    }
    ts_model *m = NULL;
    if (ts_model_load_any(argv[1], &m) != TS_OK) {
        fprintf(stderr, "convert-run: %s\n", ts_last_error());
        return 1;
    }
    uint8_t *buf;
    size_t len;
    if (ts_read_file(argv[2], (size_t)1 << 30, &buf, &len) != TS_OK) {
        fprintf(stderr, "convert-run: %s\n", ts_last_error());
        return 1;
    }
    const ts_node *in = &m->graph->nodes[0];
    size_t per = (size_t)in->c * in->h * in->w * sizeof(float);
    if (!len || len % per) {
        fprintf(stderr, "convert-run: %s: %zu bytes is not a whole number of (%d,%d,%d) inputs\n", argv[2], len,
                in->c, in->h, in->w);
        return 1;
    }
    int n = (int)(len / per);
    float *x = malloc(len);
    memcpy(x, buf, len);
    ts_tensor t = { x, n, in->c, in->h, in->w };
    ts_status st = ts_graph_set_batch(m->graph, n);
    if (st == TS_OK) st = ts_graph_forward(m->graph, &t);
    if (st != TS_OK) {
        fprintf(stderr, "convert-run: %s\n", ts_last_error());
        return 1;
    }
    const ts_tensor *o = &m->graph->nodes[m->graph->output].out;
    if (ts_write_file_atomic(argv[3], o->data, ts_tensor_numel(o) * sizeof(float)) != TS_OK) {
        fprintf(stderr, "convert-run: %s\n", ts_last_error());
        return 1;
    }
    printf("{\"n\":%d,\"classes\":%d}\n", n, o->c);
    free(x);
    free(buf);
    ts_model_free(m);
    return 0;
}
