/* body.h - what the per-element bodies of our kernels share (issue 14).
 *
 * Every kernel of kernels/<stem>.cu is a grid-stride loop around a
 * function of the element index, <stem>-body.h, written in the common
 * subset of C11 and CUDA C++ and marked TS_BODY (__host__ __device__ under
 * nvcc, plain static inline in C).  The kernels call them on the GPU; the
 * host test tests/nn/test-kernel-bodies.c calls the same functions over the
 * whole index space on the CPU and compares them with the CPU backend, so
 * indexing, rounding and tie rules are checked on every machine, GPU or
 * not.  Bodies take plain pointers and values, never CUDA types, and
 * include nothing but this file and the C headers below.
 *
 * Rounding: nvcc contracts a*b + c into one fused multiply-add unless told
 * otherwise; the host compiler (-std=c11, x86-64 without -mfma) rounds
 * every operation.  Where the result must be bit-identical on both (A(x,y)'s
 * distance ties) the bodies use TS_FADD/TS_FMUL/TS_FSUB, the
 * round-to-nearest intrinsics on the device and the plain operators on the
 * host; elsewhere the two may differ by the last bit, which the op table's
 * tolerances allow.
 */
#ifndef TS_KERNEL_BODY_H
#define TS_KERNEL_BODY_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define TS_BODY static inline __host__ __device__
#else
#define TS_BODY static inline
#endif

#if defined(__CUDA_ARCH__)
#define TS_FADD(a, b) __fadd_rn((a), (b))
#define TS_FSUB(a, b) __fsub_rn((a), (b))
#define TS_FMUL(a, b) __fmul_rn((a), (b))
#else
#define TS_FADD(a, b) ((float)((a) + (b)))
#define TS_FSUB(a, b) ((float)((a) - (b)))
#define TS_FMUL(a, b) ((float)((a) * (b)))
#endif

#endif
