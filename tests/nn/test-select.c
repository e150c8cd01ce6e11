/* test-select.c - choosing the backend (backend/select.c, issue 5).
 *
 * Runs with or without a GPU and checks the contract of ts_backend_select:
 *   - TS_DEVICE_CPU always gives the CPU backend and no "why" line;
 *   - TS_DEVICE_AUTO gives CUDA when a GPU can be opened, otherwise the CPU
 *     with exactly one non-empty line saying why (no newline in it);
 *   - TS_DEVICE_CUDA without a usable GPU (or without the CUDA backend in
 *     the build) is TS_ERR_DEVICE with a message, never a crash.
 * The device-memory entry points of the chosen backend are then exercised
 * (arena, upload, zero, download of 1000 floats) and must round-trip.
 */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "ts-config.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            printf("FAIL: " __VA_ARGS__);                                   \
            printf("\n");                                                   \
            failures++;                                                     \
        }                                                                   \
    } while (0)

int main(void)
{
    const ts_backend *be;
    void *ctx;
    char why[256];

    CHECK(ts_backend_select(TS_DEVICE_CPU, &be, &ctx, why, sizeof why) == TS_OK, "cpu select");
    CHECK(be == ts_backend_cpu() && ctx == NULL && why[0] == '\0', "cpu pick is the cpu backend, no why");

    ts_status st = ts_backend_select(TS_DEVICE_AUTO, &be, &ctx, why, sizeof why);
    CHECK(st == TS_OK, "auto select never fails (%s)", ts_last_error());
    int gpu = be && be->device == TS_DEVICE_CUDA;
    if (gpu) {
        printf("auto picked %s\n", be->name);
        CHECK(why[0] == '\0', "a GPU pick needs no why line (got '%s')", why);
    } else {
        printf("auto fell back: %s\n", why);
        CHECK(be == ts_backend_cpu(), "fallback is the cpu backend");
        CHECK(why[0] != '\0' && !strchr(why, '\n'), "fallback says why in one line (got '%s')", why);
        CHECK(strstr(why, "CPU") != NULL, "the why line says where it runs (got '%s')", why);
        const ts_backend *b2;
        void *c2;
        st = ts_backend_select(TS_DEVICE_CUDA, &b2, &c2, why, sizeof why);
        CHECK(st == TS_ERR_DEVICE, "asking for cuda without a GPU is TS_ERR_DEVICE (got %d)", (int)st);
        CHECK(ts_last_error()[0] != '\0', "with a message");
        printf("cuda refused: %s\n", ts_last_error());
    }

    /* memory round trip on whatever was chosen */
    ts_arena a;
    float host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (float)i * 0.5f - 3.0f;
    CHECK(be->arena_init(ctx, &a, 1000) == TS_OK, "arena of 1000 floats");
    CHECK(a.cap >= 1000 && a.on_device == gpu, "arena size and placement");
    CHECK(be->upload(ctx, a.base, host, 1000) == TS_OK, "upload");
    CHECK(be->zero && be->zero(ctx, a.base + 10, 5) == TS_OK, "zero");
    CHECK(be->download(ctx, back, a.base, 1000) == TS_OK, "download");
    for (int i = 0; i < 1000; i++) {
        float want = i >= 10 && i < 15 ? 0.0f : host[i];
        if (back[i] != want) {
            CHECK(0, "round trip float %d: %g, want %g", i, back[i], want);
            break;
        }
    }
    be->arena_clear(ctx, &a);
#if TS_HAVE_CUDA
    if (gpu) ts_backend_cuda_close(ctx);
#endif
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
