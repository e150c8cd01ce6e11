/* cmd-device.c - `traitscope-cli device [--device D]`: which backend the
 * other commands get for --device D, and what it is (issue 14): the GPU,
 * its driver, the CUDA runtime, and the cuDNN and cuBLAS actually loaded,
 * or why the CPU is used.
 *
 * Output (one JSON line, a contract tools/device-check.sh reads):
 *   {"asked":"auto","backend":"cuda"|"cpu","gpu_present":true|false,
 *    "describe":"...", "fallback":"..." | null,
 *    "blas_kernels":"SkylakeX"|..., "blas_better":"Haswell"|... | null}
 * gpu_present is the driver's own answer (ts_gpu_present), independent of
 * our build and of the CUDA libraries.  Exit 0 whenever the question could
 * be answered, also when the answer is the CPU.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static void help(void)
{
    printf("usage: traitscope-cli device [--device cpu|cuda|auto]\n\n"
           "Prints, as one JSON line, the backend the other commands would use for\n"
           "--device (default auto) and what it is: for the GPU its name, the driver's\n"
           "CUDA version, the CUDA runtime, cuDNN and cuBLAS loaded; otherwise why the\n"
           "CPU is used.\n");
}

int cmd_device(int argc, char **argv)
{
    const char *v;
    ts_device device = TS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("device", "--device wants cpu, cuda or auto, not '%s'", v);
        } else {
            return cli_usage_error("device", "unknown argument '%s'", argv[i]);
        }
    }
    char why[512], absent[256], desc[1024];
    bool present = ts_gpu_present(absent, sizeof absent);
    const ts_backend *be;
    void *ctx;
    (void)ts_backend_select_or_cpu(device, &be, &ctx, why, sizeof why);
    be->describe(ctx, desc, sizeof desc);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "asked", ts_device_name(device));
    cJSON_AddStringToObject(o, "backend", be->name);
    cJSON_AddBoolToObject(o, "gpu_present", present);
    if (!present) cJSON_AddStringToObject(o, "no_gpu", absent);
    cJSON_AddStringToObject(o, "describe", desc);
    if (why[0]) cJSON_AddStringToObject(o, "fallback", why);
    else cJSON_AddNullToObject(o, "fallback");
    /* OpenBLAS's kernels, and better ones where it chose its generic ones
     * on a CPU that can run more (backend/cpu/cpu.c restarts a program
     * that has them). */
    cJSON_AddStringToObject(o, "blas_kernels", ts_cpu_blas_core());
    const char *better = ts_cpu_blas_better_core();
    if (better) cJSON_AddStringToObject(o, "blas_better", better);
    else cJSON_AddNullToObject(o, "blas_better");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ts_backend_close(be, ctx);
    if (!line) return cli_fail("device", ts_error(TS_ERR_OOM, "out of memory"));
    printf("%s\n", line);
    free(line);
    return CMD_OK;
}
