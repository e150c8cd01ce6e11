/* select.c - choosing the backend: CUDA when asked for or available, the CPU
 * otherwise, with one line saying why we fell back (backend.h).
 *
 * The CUDA backend is a separate module, libtraitscope-cuda.so
 * (cuda/cuda-plugin.h), loaded here with dlopen the first time a GPU is
 * asked for; the programs themselves link no CUDA library, so they start on
 * machines without them.  The module is looked for, in this order, at
 *   $TS_CUDA_PLUGIN                          (a path; for tests and packagers)
 *   <program's folder>/libtraitscope-cuda.so
 *   <folder>/src/libtraitscope-cuda.so for the program's folder
 *       and up to four above it             (a build tree, wherever it was
 *                                            copied: tools/device-check.sh)
 *   TS_PLUGINDIR/libtraitscope-cuda.so      (the installed one)
 * and the first that exists is loaded; once loaded it stays (contexts point
 * into it).
 *
 * Before loading it (unless TS_CUDA_SKIP_PROBE=1, which tests use to load
 * the module on machines without a GPU), ts_gpu_present() asks the NVIDIA
 * driver itself
 * (libcuda.so.1, loaded with dlopen too) whether there is a GPU, so that a
 * machine without one hears "no NVIDIA driver" rather than which CUDA
 * library is missing, and tests can tell "no GPU here" (skip) from "a GPU
 * we failed to use" (fail).
 *
 * ts_backend_select keeps its contract (an explicit CUDA request without a
 * GPU is an error); ts_backend_select_or_cpu is the front ends' variant in
 * which every failure to get the GPU becomes the CPU plus that line.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "ts-config.h"

#if TS_HAVE_CUDA
#include "backend/cuda/cuda-plugin.h"
#endif

/* ---- is there a GPU at all? (the driver API, dlopen'ed) ------------------ */

static pthread_once_t gpu_once = PTHREAD_ONCE_INIT;
static bool gpu_found;
static char gpu_why[256];

/* CUresult cuInit(unsigned), cuDeviceGetCount(int *): plain ints in the ABI. */
typedef int (*cu_init_fn)(unsigned);
typedef int (*cu_count_fn)(int *);

static void gpu_probe(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(gpu_why, sizeof gpu_why, "no NVIDIA driver (libcuda.so.1 not found): no GPU here");
        return;
    }
    cu_init_fn init = (cu_init_fn)dlsym(h, "cuInit");
    cu_count_fn count = (cu_count_fn)dlsym(h, "cuDeviceGetCount");
    if (!init || !count) {
        snprintf(gpu_why, sizeof gpu_why, "the NVIDIA driver's libcuda.so.1 lacks cuInit/cuDeviceGetCount");
        return;
    }
    int r = init(0), n = 0;
    /* 100 CUDA_ERROR_NO_DEVICE, 35 CUDA_ERROR_INSUFFICIENT_DRIVER (driver.h) */
    if (r == 100) {
        snprintf(gpu_why, sizeof gpu_why, "the NVIDIA driver sees no GPU");
        return;
    }
    if (r != 0) {
        snprintf(gpu_why, sizeof gpu_why, "the NVIDIA driver failed to start (cuInit error %d)", r);
        return;
    }
    if (count(&n) != 0 || n < 1) {
        snprintf(gpu_why, sizeof gpu_why, "the NVIDIA driver sees no GPU");
        return;
    }
    gpu_found = true; /* the driver library stays loaded: the runtime uses it */
}

bool ts_gpu_present(char *why, size_t why_len)
{
    pthread_once(&gpu_once, gpu_probe);
    if (why && why_len) snprintf(why, why_len, "%s", gpu_found ? "" : gpu_why);
    return gpu_found;
}

/* ---- the CUDA module ------------------------------------------------------- */

#if TS_HAVE_CUDA
static pthread_once_t plugin_once = PTHREAD_ONCE_INIT;
static ts_cuda_plugin_open_fn plugin_open;
static char plugin_why[512];

static const ts_cuda_host host = { TS_CUDA_PLUGIN_ABI, ts_error_v, ts_error_prefix_v };

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* The first candidate path that exists (see the file comment), or "". */
static void plugin_path(char *out, size_t len)
{
    out[0] = '\0';
    const char *env = getenv("TS_CUDA_PLUGIN");
    if (env && env[0]) {
        snprintf(out, len, "%s", env);
        return;
    }
    /* The object holding this function is the program (libtraitscope is
     * static): its path even when the program is started through ld.so
     * (where /proc/self/exe names ld.so), else /proc/self/exe. */
    char dir[PATH_MAX];
    ssize_t n = -1;
    Dl_info info;
    if (dladdr((void *)plugin_path, &info) && info.dli_fname && info.dli_fname[0] &&
        realpath(info.dli_fname, dir))
        n = (ssize_t)strlen(dir);
    else
        n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n > 0) {
        dir[n] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof cand, "%s/%s", dir, TS_CUDA_PLUGIN_FILE);
        if (exists(cand)) {
            snprintf(out, len, "%s", cand);
            return;
        }
        for (int up = 0; up <= 4 && dir[0]; up++) {
            snprintf(cand, sizeof cand, "%s/src/%s", dir, TS_CUDA_PLUGIN_FILE);
            if (exists(cand)) {
                snprintf(out, len, "%s", cand);
                return;
            }
            slash = strrchr(dir, '/');
            if (!slash) break;
            *slash = '\0';
        }
    }
    char inst[PATH_MAX];
    snprintf(inst, sizeof inst, "%s/%s", TS_PLUGINDIR, TS_CUDA_PLUGIN_FILE);
    if (exists(inst)) snprintf(out, len, "%s", inst);
}

static void plugin_load(void)
{
    char path[PATH_MAX];
    plugin_path(path, sizeof path);
    if (!path[0]) {
        snprintf(plugin_why, sizeof plugin_why,
                 "the CUDA backend module %s is not installed beside the program or in %s", TS_CUDA_PLUGIN_FILE,
                 TS_PLUGINDIR);
        return;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        /* dlerror names the missing library: "libcudnn.so.9: cannot open
         * shared object file: No such file or directory" */
        const char *e = dlerror();
        snprintf(plugin_why, sizeof plugin_why, "cannot load the CUDA backend: %s", e ? e : path);
        return;
    }
    plugin_open = (ts_cuda_plugin_open_fn)dlsym(h, TS_CUDA_PLUGIN_ENTRY);
    if (!plugin_open)
        snprintf(plugin_why, sizeof plugin_why, "%s has no %s (not a Traitscope CUDA module)", path,
                 TS_CUDA_PLUGIN_ENTRY);
}

static ts_status cuda_open(const ts_backend **out, void **ctx)
{
    char why[256];
    /* TS_CUDA_SKIP_PROBE=1 (tests): load the module even without a GPU,
     * so that loading it and its libraries is checked on every machine;
     * the module's own open then fails with the runtime's words. */
    const char *skip = getenv("TS_CUDA_SKIP_PROBE");
    if (!(skip && skip[0] == '1') && !ts_gpu_present(why, sizeof why)) return ts_error(TS_ERR_DEVICE, "%s", why);
    pthread_once(&plugin_once, plugin_load);
    if (!plugin_open) return ts_error(TS_ERR_DEVICE, "%s", plugin_why);
    ts_status st = plugin_open(TS_CUDA_PLUGIN_ABI, &host, out, ctx);
    if (st == TS_ERR_UNSUPPORTED)
        return ts_error(TS_ERR_DEVICE, "the CUDA backend module was built for another version of Traitscope "
                        "(interface %d expected); rebuild it", TS_CUDA_PLUGIN_ABI);
    return st;
}
#endif

/* ---- choosing ----------------------------------------------------------------- */

ts_status ts_backend_select(ts_device want, const ts_backend **out, void **ctx, char *why, size_t why_len)
{
    *out = ts_backend_cpu();
    *ctx = NULL;
    if (why && why_len) why[0] = '\0';
    if (want == TS_DEVICE_CPU) return TS_OK;
#if TS_HAVE_CUDA
    const ts_backend *be;
    void *c;
    ts_status st = cuda_open(&be, &c);
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
    if (be && ctx && be->close) be->close(ctx);
}
