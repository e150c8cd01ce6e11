/* bench-detector.c - our face detectors (face/detector.h) against face-api
 * itself on TensorFlow.js's WebAssembly backend (bench/peer-detector.js:
 * XNNPACK, SIMD), on face-api's demo photos sample1..6.jpg, in one run.
 *
 * Both sides run one thread (ts_cpu_set_threads(1); the peer's
 * setThreadsCount(1)) and get the same RGB pixels (our decoder's, written
 * as PPM files for the peer).  Per photo: one warm-up, then the median of
 * REPEATS timed detections of face-api's single pass (ts_detector_detect;
 * face-api's detectAllFaces), input building, network, decoding and NMS
 * included, decoding the JPEG not.  Prints per photo both times (wall
 * clock and process CPU time: on a machine shared with other jobs the CPU
 * time is the fair one) and the face counts, and the ratios peer / ours of
 * the mean time per photo (> 1: we are faster).  Our full search (ts_detector_find, which adds
 * passes only when the first finds nothing) is timed too.  Goal (issue 16):
 * the SSD faster than face-api on one core.
 *
 * usage: bench-detector [--detector ssd|tiny] [--repeats N] [--no-peer]
 * Not a test: nothing here asserts a speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "face/detector.h"
#include "face/image.h"
#include "ts-config.h"

#define N_PHOTOS 6

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU time of this process: on a machine shared with other jobs the wall
 * clock measures the neighbours too; both sides report both. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef ts_status (*detect_fn)(ts_detector *, const ts_image *, float, ts_face_box *, int, int *);

typedef struct timing {
    double wall_ms, cpu_ms; /* medians */
} timing;

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2] * 1e3;
}

static timing time_detect(detect_fn f, ts_detector *d, const ts_image *img, int repeats, int *faces)
{
    ts_face_box b[64];
    double *t = malloc(sizeof *t * (size_t)repeats * 2);
    if (!t || f(d, img, TS_DETECTOR_MIN_SCORE, b, 64, faces) != TS_OK) { /* warm-up */
        fprintf(stderr, "bench-detector: %s\n", ts_last_error());
        exit(1);
    }
    for (int r = 0; r < repeats; r++) {
        double t0 = now(), c0 = cpu_now();
        if (f(d, img, TS_DETECTOR_MIN_SCORE, b, 64, faces) != TS_OK) {
            fprintf(stderr, "bench-detector: %s\n", ts_last_error());
            exit(1);
        }
        t[r] = now() - t0;
        t[repeats + r] = cpu_now() - c0;
    }
    timing tm = { median(t, repeats), median(t + repeats, repeats) };
    free(t);
    return tm;
}

static int write_ppm(const char *path, const ts_image *img)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fprintf(f, "P6\n%d %d\n255\n", img->width, img->height);
    for (int y = 0; y < img->height; y++) fwrite(ts_image_pixel(img, 0, y), 3, (size_t)img->width, f);
    return fclose(f) == 0;
}

/* Runs the peer on the PPM files; fills tm[] and faces[]. */
static int run_peer(const char *kind, char ppm[N_PHOTOS][64], int repeats, timing *tm, int *faces)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && node bench/peer-detector.js %d %s", TS_SOURCE_ROOT, repeats, kind);
    for (int i = 0; i < N_PHOTOS; i++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", ppm[i]);
    FILE *p = popen(cmd, "r");
    char line[8192] = "";
    if (p) {
        if (!fgets(line, sizeof line, p)) line[0] = '\0';
        pclose(p);
    }
    const char *s = line;
    int got = 0;
    for (int i = 0; i < N_PHOTOS; i++) {
        const char *f = strstr(s, "\"faces\":"), *m = f ? strstr(f, "\"median_ms\":") : NULL;
        const char *c = m ? strstr(m, "\"median_cpu_ms\":") : NULL;
        if (!c) break;
        faces[i] = atoi(f + 8);
        tm[i].wall_ms = atof(m + 12);
        tm[i].cpu_ms = atof(c + 16);
        s = c + 16;
        got++;
    }
    return got == N_PHOTOS;
}

int main(int argc, char **argv)
{
    int repeats = 5, peer = 1;
    ts_detector_kind kind = TS_DETECTOR_SSD;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else if (!strcmp(argv[i], "--detector") && i + 1 < argc) {
            if (ts_detector_kind_parse(argv[++i], &kind) != TS_OK) {
                fprintf(stderr, "bench-detector: %s\n", ts_last_error());
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench-detector [--detector ssd|tiny] [--repeats N] [--no-peer]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    ts_cpu_set_threads(1);
    ts_detector *d = NULL;
    if (ts_detector_load(kind, NULL, &d) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        return 77;
    }
    ts_image img[N_PHOTOS];
    char ppm[N_PHOTOS][64];
    for (int i = 0; i < N_PHOTOS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/node_modules/@vladmandic/face-api/demo/sample%d.jpg", TS_SOURCE_ROOT, i + 1);
        if (ts_image_load(path, &img[i]) != TS_OK) {
            printf("skip: %s\n", ts_last_error());
            return 77;
        }
        snprintf(ppm[i], sizeof ppm[i], "/tmp/bench-detector-%d-%d.ppm", (int)getpid(), i + 1);
        if (peer && !write_ppm(ppm[i], &img[i])) {
            fprintf(stderr, "bench-detector: cannot write %s\n", ppm[i]);
            return 1;
        }
    }
    timing ours[N_PHOTOS], full[N_PHOTOS], theirs[N_PHOTOS];
    int nf[N_PHOTOS], nfull[N_PHOTOS], pf[N_PHOTOS];
    for (int i = 0; i < N_PHOTOS; i++) {
        ours[i] = time_detect(ts_detector_detect, d, &img[i], repeats, &nf[i]);
        full[i] = time_detect(ts_detector_find, d, &img[i], repeats, &nfull[i]);
    }
    int have_peer = peer && run_peer(ts_detector_kind_name(kind), ppm, repeats, theirs, pf);
    for (int i = 0; i < N_PHOTOS; i++) {
        if (peer) remove(ppm[i]);
        ts_image_clear(&img[i]);
    }
    ts_detector_free(d);

    printf("%s detector, one thread, median of %d runs per photo, ms wall / ms CPU\n", ts_detector_kind_name(kind),
           repeats);
    printf("photo     ours (faces)          ours, full search     face-api tfjs-wasm (faces)\n");
    double so = 0, sp = 0, sf = 0, co = 0, cp = 0, cf = 0;
    for (int i = 0; i < N_PHOTOS; i++) {
        printf("sample%d  %6.1f / %6.1f (%d)  %6.1f / %6.1f (%d)", i + 1, ours[i].wall_ms, ours[i].cpu_ms, nf[i],
               full[i].wall_ms, full[i].cpu_ms, nfull[i]);
        if (have_peer) printf("  %6.1f / %6.1f (%d)", theirs[i].wall_ms, theirs[i].cpu_ms, pf[i]);
        printf("\n");
        so += ours[i].wall_ms, co += ours[i].cpu_ms;
        sf += full[i].wall_ms, cf += full[i].cpu_ms;
        if (have_peer) sp += theirs[i].wall_ms, cp += theirs[i].cpu_ms;
    }
    printf("mean per photo: ours %.1f / %.1f ms, full search %.1f / %.1f ms", so / N_PHOTOS, co / N_PHOTOS,
           sf / N_PHOTOS, cf / N_PHOTOS);
    if (have_peer) {
        printf(", face-api (tfjs-wasm) %.1f / %.1f ms\n", sp / N_PHOTOS, cp / N_PHOTOS);
        printf("ratio face-api / ours: %.2f wall, %.2f CPU (> 1: ours is faster)\n", sp / so, cp / co);
    } else {
        printf("; peer not run%s\n", peer ? " (node or @tensorflow/tfjs-backend-wasm missing: npm ci)" : "");
    }
    return 0;
}
