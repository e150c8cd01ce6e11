/* cuda-plugin.h - the contract between libtraitscope and the CUDA backend's
 * shared module, libtraitscope-cuda.so (issue 14, finding 10).
 *
 * The CUDA backend (cuda-backend.c, kernels/) is built into its own module,
 * linked against cuDNN, cuBLAS and the CUDA runtime; nothing else links
 * them.  select.c dlopen()s the module the first time a GPU is asked for,
 * so that one binary runs everywhere: where the module or a library it
 * needs is missing, dlopen fails, and the user reads one line saying which
 * library and that the work runs on the CPU.
 *
 * The module exports one function, TS_CUDA_PLUGIN_ENTRY.  It receives the
 * host's error functions (the thread-local message of status.h lives in
 * the program, not in the module: the module's ts_error forwards to them,
 * plugin-host.c) and opens the GPU.  ABI: both sides compare
 * TS_CUDA_PLUGIN_ABI and refuse a mismatch with a message (a module left
 * over from another build).
 */
#ifndef TS_CUDA_PLUGIN_H
#define TS_CUDA_PLUGIN_H

#include <stdarg.h>

#include "backend/backend.h"

/* Bump on any change of ts_backend, ts_op_args, ts_node, ts_tensor or the
 * structs below. */
#define TS_CUDA_PLUGIN_ABI 4 /* 4: ts_backend.stream (issue 17) */
#define TS_CUDA_PLUGIN_FILE "libtraitscope-cuda.so"
#define TS_CUDA_PLUGIN_ENTRY "ts_cuda_plugin_open"

typedef struct ts_cuda_host {
    int abi;
    /* status.h's ts_error / ts_error_prefix with a va_list */
    ts_status (*error_v)(ts_status st, const char *fmt, va_list ap);
    ts_status (*error_prefix_v)(ts_status st, const char *fmt, va_list ap);
} ts_cuda_host;

/* Opens the GPU (TS_CUDA_DEVICE, default 0) with its cuBLAS and cuDNN
 * handles.  abi: the caller's TS_CUDA_PLUGIN_ABI, compared before host is
 * touched: a mismatch returns TS_ERR_UNSUPPORTED and sets no message.
 * TS_ERR_DEVICE (message set through host) when the GPU cannot be used.
 * transfer: full (*ctx, release with (*out)->close). */
typedef ts_status (*ts_cuda_plugin_open_fn)(int abi, const ts_cuda_host *host, const ts_backend **out, void **ctx);

#endif
