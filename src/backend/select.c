/* select.c - choosing the backend: CUDA when asked for or available, the CPU
 * otherwise, with one line saying why we fell back (backend.h).
 * ts_backend_select keeps its contract (an explicit CUDA request without a
 * GPU is an error); ts_backend_select_or_cpu is the front ends' variant in
 * which every failure to get the GPU becomes the CPU plus that line. */
#include <stdio.h>
#include <string.h>

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

ts_status ts_backend_select_or_cpu(ts_device want, const ts_backend **out, void **ctx, char *why, size_t why_len)
{
    ts_status st = ts_backend_select(want, out, ctx, why, why_len);
    if (st == TS_OK) return TS_OK;
    /* Only TS_DEVICE_CUDA gets here: say what was asked and why not. */
    if (why) snprintf(why, why_len, "--device cuda: %s; running on the CPU", ts_last_error());
    *out = ts_backend_cpu();
    *ctx = NULL;
    return TS_OK;
}

ts_status ts_device_parse(const char *text, ts_device *out)
{
    TS_ASSERT(out);
    if (text && !strcmp(text, "cpu")) *out = TS_DEVICE_CPU;
    else if (text && !strcmp(text, "cuda")) *out = TS_DEVICE_CUDA;
    else if (text && !strcmp(text, "auto")) *out = TS_DEVICE_AUTO;
    else return ts_error(TS_ERR_ARG, "device '%s': expected cpu, cuda or auto", text ? text : "(null)");
    return TS_OK;
}

const char *ts_device_name(ts_device d)
{
    return d == TS_DEVICE_CPU ? "cpu" : d == TS_DEVICE_CUDA ? "cuda" : "auto";
}

void ts_backend_close(const ts_backend *be, void *ctx)
{
    if (!be || !ctx) return;
#if TS_HAVE_CUDA
    if (be->device == TS_DEVICE_CUDA) ts_backend_cuda_close(ctx);
#endif
}
