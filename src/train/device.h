/* device.h - where a training run runs (issue 14): the backend chosen for
 * --device and the network moved there, in one call, so that the training
 * job (job.c) needs no knowledge of devices beyond three calls:
 *
 *   ts_train_device_open    before ts_sgd_init: pick, move, say why not
 *   ts_graph_logits_host /
 *   ts_graph_dlogits_commit around the host-side loss (nn/graph.h)
 *   ts_backend_close        after the model is freed (the context is the
 *                           graph's: ts_graph_backend)
 *
 * On the GPU the forward and backward passes, the SGD step (train/sgd.h
 * through the backend table) and the A(x,y) channel of LACNN inputs
 * (face/amap-device.h, safe from the prefetch thread) run on the device;
 * only the logits come to the host for the loss and the gradient of the
 * logits goes back, a few kilobytes a step.
 */
#ifndef TS_TRAIN_DEVICE_H
#define TS_TRAIN_DEVICE_H

#include "backend/backend.h"

/* want: as --device.  AUTO: the GPU when usable, else the CPU with `note`
 * (may be NULL) saying why in one line; CUDA without a usable GPU:
 * TS_ERR_DEVICE (the front ends turn that into the CPU and a line
 * before).  The network g (on the CPU) moves to the backend; on failure
 * it stays on the CPU and the context is closed.  compute_threads > 0
 * sets the CPU backend's threads when the CPU is used.  transfer: the
 * context is g's (ts_graph_backend): close it (ts_backend_close) after
 * freeing g. */
ts_status ts_train_device_open(ts_device want, int compute_threads, ts_graph *g, char *note, size_t note_len);

#endif
