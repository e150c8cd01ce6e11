/* select.c - choosing the backend: CUDA when asked for or available, the CPU
 * otherwise, with one line saying why we fell back. */
#include <stdio.h>

#include "backend.h"
#include "ts-config.h"

ts_status ts_backend_select(ts_device want, const ts_backend **out, void **ctx, char *why, size_t why_len)
{
    *out = ts_backend_cpu();
    *ctx = NULL;
    if (why && why_len) why[0] = '\0';
    if (want == TS_DEVICE_CPU) return TS_OK;
#if TS_HAVE_CUDA
    const ts_backend *be;
    void *c;
    ts_status st = ts_backend_cuda_open(&be, &c);
    if (st == TS_OK) {
        *out = be;
        *ctx = c;
        return TS_OK;
    }
    if (want == TS_DEVICE_CUDA) return st;
    if (why) snprintf(why, why_len, "no usable GPU (%s); running on the CPU", ts_last_error());
    return TS_OK;
#else
    if (want == TS_DEVICE_CUDA)
        return ts_error(TS_ERR_DEVICE, "this build has no CUDA backend (configured with -Dcuda=disabled or without nvcc)");
    if (why) snprintf(why, why_len, "built without CUDA; running on the CPU");
    return TS_OK;
#endif
}
