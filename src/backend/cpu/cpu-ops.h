/* cpu-ops.h - private declarations shared by the files of the CPU backend.
 *
 * One pair of functions per op, named after the op's stem (graph.h):
 * cpu_<stem>_forward / cpu_<stem>_backward.  cpu.c dispatches to them with a
 * switch on args->node->op.  Every function follows the conventions of
 * backend.h: forward writes args->out completely (and args->aux where the op
 * keeps state), backward ACCUMULATES into din[i], dweight and dbias, and a
 * NULL din[i] (or a tensor with data == NULL) means "no gradient wanted".
 *
 * Threads: loops run under OpenMP with cpu_threads() threads; BLAS calls are
 * made outside parallel regions and use OpenBLAS's own pool, sized by
 * ts_cpu_set_threads().  Scratch memory (im2col columns) comes from
 * cpu_scratch(), one growing buffer per calling thread.
 */
#ifndef TS_CPU_OPS_H
#define TS_CPU_OPS_H

#include "../backend.h"

/* Threads for OpenMP loops (>= 1). */
int cpu_threads(void);

/* transfer: none.  At least `floats` floats of scratch for the calling
 * thread, 64-byte aligned, contents undefined; slot 0..3 are independent
 * buffers.  NULL (and a ts_error message) when memory runs out. */
float *cpu_scratch(int slot, size_t floats);

/* Loops go parallel only above this many floats touched: below it the
 * wake-up of a second thread costs more than it saves (and much more on a
 * loaded machine). */
#define CPU_PAR_WORK ((size_t)65536)

/* True when a gradient tensor is wanted. */
static inline int cpu_want(const ts_tensor *t) { return t && t->data; }

/* Output size of a pooling window along one axis with Caffe's rounding
 * (ceil, then drop a last window that would start in the end padding) or
 * floor rounding; see cpu_pool_check(). */
int cpu_pool_out_size(int in, int k, int stride, int pad_lo, int pad_hi, int floor_mode);

#define CPU_OP(stem)                                                        \
    ts_status cpu_##stem##_forward(const ts_op_args *a);                    \
    ts_status cpu_##stem##_backward(const ts_op_args *a);

CPU_OP(conv2d)
CPU_OP(relu)
CPU_OP(leaky_relu)
CPU_OP(lrn)
CPU_OP(maxpool)
CPU_OP(avgpool)
CPU_OP(fc)
CPU_OP(dropout)
CPU_OP(concat)
CPU_OP(add)

#undef CPU_OP

#endif
