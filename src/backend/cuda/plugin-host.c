/* plugin-host.c - the CUDA module's side of cuda-plugin.h: its one exported
 * function, and status.h's error functions forwarded to the program that
 * loaded the module, so that ts_last_error() there reads what the backend
 * reported here (the thread-local message lives in the program). */
#include <stdarg.h>

#include "backend/cuda/cuda-plugin.h"

/* cuda-backend.c: opens the GPU. */
ts_status ts_cuda_backend_open(const ts_backend **out, void **ctx);

static const ts_cuda_host *host;

ts_status ts_error(ts_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (host) host->error_v(st, fmt, ap);
    va_end(ap);
    return st;
}

ts_status ts_error_prefix(ts_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (host) host->error_prefix_v(st, fmt, ap);
    va_end(ap);
    return st;
}

__attribute__((visibility("default"))) ts_status ts_cuda_plugin_open(int abi, const ts_cuda_host *h,
                                                                     const ts_backend **out, void **ctx)
{
    *out = NULL;
    *ctx = NULL;
    if (abi != TS_CUDA_PLUGIN_ABI || !h || h->abi != TS_CUDA_PLUGIN_ABI) return TS_ERR_UNSUPPORTED;
    host = h;
    return ts_cuda_backend_open(out, ctx);
}
