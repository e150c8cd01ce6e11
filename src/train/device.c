/* device.c - the training run's backend; see device.h. */
#include "train/device.h"

#include <stdio.h>

ts_status ts_train_device_open(ts_device want, int compute_threads, ts_graph *g, char *note, size_t note_len)
{
    const ts_backend *be;
    void *ctx;
    char why[256];
    if (note && note_len) note[0] = '\0';
    TS_TRY(ts_backend_select(want, &be, &ctx, why, sizeof why));
    if (be->device != TS_DEVICE_CPU) {
        ts_status st = ts_graph_to_backend(g, be, ctx);
        if (st != TS_OK) {
            /* the graph stays on the CPU (ts_graph_to_backend) */
            ts_backend_close(be, ctx);
            return ts_error_prefix(st, "train: moving the network to the GPU: ");
        }
    } else if (compute_threads > 0) {
        ts_cpu_set_threads(compute_threads);
    }
    if (note && note_len) snprintf(note, note_len, "%s", why);
    return TS_OK;
}
