/* bench-ert.c - the `ert` landmark localizer per face on ONE CPU core,
 * against dlib's own shape_predictor (bench-ert-dlib.cpp, Debian
 * libdlib-dev) in the same process, same core, same pixels, same boxes.
 * The peer's C++ is compiled -O3 -march=native (dlib's best case; at the
 * build type's -O2 it is 3-5x slower here); ours is the library as built.
 *
 * Faces: dlib's frontal face detector on the first N images (sorted) of
 * $TS_SHARED_DATA/celebahq/images and utkface/images (default N = 20 each).
 * Timing: after a warm-up, R rounds alternate ours and dlib's over all the
 * faces; each side's best round counts (the machine is shared).  Then each
 * face alone, R*K times per side, keeping its fastest run (robust to a
 * busy machine: the sum of those is the uncontended time).  Prints
 * ms/face for both, the ratio dlib/ours (> 1: we are faster), the model
 * load times, and how many of our points round to dlib's exact pixel (the
 * two must compute the same thing for the comparison to mean anything).
 *
 * usage: bench-ert [--images N] [--rounds R] [--reps K]
 * Not a test: nothing here asserts a speed.
 */
#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/ert.h"
#include "face/image.h"
#include "face/model-path.h"

/* bench-ert-dlib.cpp */
void *peer_ert_load(const char *model);
void peer_ert_free(void *p);
int peer_ert_add_image(void *p, const uint8_t *rgb, int w, int h, int stride);
int peer_ert_detect(void *p, int idx, long *boxes, int max);
double peer_ert_run(void *p, int n, const int *image, const long *boxes, int reps, long *pts);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_images(const char *dir, char **paths, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int cap = 16384, n = 0;
    char **names = malloc((size_t)cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".jpg")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int k = 0;
    for (; k < n && k < max; k++) {
        size_t l = strlen(dir) + strlen(names[k]) + 2;
        paths[k] = malloc(l);
        snprintf(paths[k], l, "%s/%s", dir, names[k]);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return k;
}

int main(int argc, char **argv)
{
    int per_set = 20, rounds = 7, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--images") && i + 1 < argc) per_set = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-ert [--images N] [--rounds R] [--reps K]\n");
            return 2;
        }
    }
    if (per_set < 1 || per_set > 1000 || rounds < 1 || reps < 1) {
        fprintf(stderr, "bench-ert: bad arguments\n");
        return 2;
    }

    /* one core: the one we run on now */
    int cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("bench-ert: sched_setaffinity");

    char model[4096];
    if (ts_model_path_find(TS_ERT_DEFAULT_FILE, TS_ERT_INSTALL_HINT, model, sizeof model) != TS_OK) {
        fprintf(stderr, "bench-ert: %s\n", ts_last_error());
        return 1;
    }
    const char *data = getenv("TS_SHARED_DATA");
    char dir[4096];
    char **paths = malloc(2 * (size_t)per_set * sizeof *paths);
    int n_img = 0;
    snprintf(dir, sizeof dir, "%s/celebahq/images", data ? data : "../shared/data");
    n_img += list_images(dir, paths, per_set);
    snprintf(dir, sizeof dir, "%s/utkface/images", data ? data : "../shared/data");
    n_img += list_images(dir, paths + n_img, per_set);
    if (!n_img) {
        fprintf(stderr, "bench-ert: no images (set TS_SHARED_DATA to the shared data folder)\n");
        return 1;
    }

    double t0 = now();
    ts_ert *m = NULL;
    if (ts_ert_load(model, &m) != TS_OK) {
        fprintf(stderr, "bench-ert: %s\n", ts_last_error());
        return 1;
    }
    double t_load_ours = now() - t0;
    t0 = now();
    void *peer = peer_ert_load(model);
    double t_load_dlib = now() - t0;
    if (!peer) {
        fprintf(stderr, "bench-ert: dlib could not read %s\n", model);
        return 1;
    }

    ts_image *imgs = calloc((size_t)n_img, sizeof *imgs);
    int max_faces = 4 * n_img, n = 0;
    int *face_img = malloc((size_t)max_faces * sizeof *face_img);
    long *boxes = malloc((size_t)max_faces * 4 * sizeof *boxes);
    for (int i = 0; i < n_img; i++) {
        if (ts_image_load(paths[i], &imgs[i]) != TS_OK) {
            fprintf(stderr, "bench-ert: %s\n", ts_last_error());
            return 1;
        }
        int idx = peer_ert_add_image(peer, imgs[i].data, imgs[i].width, imgs[i].height, imgs[i].stride);
        int k = peer_ert_detect(peer, idx, boxes + 4 * n, max_faces - n);
        for (int j = 0; j < k; j++) face_img[n + j] = i;
        n += k;
    }
    if (!n) {
        fprintf(stderr, "bench-ert: dlib found no faces\n");
        return 1;
    }
    float (*fbox)[4] = malloc((size_t)n * sizeof *fbox);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) fbox[i][k] = (float)boxes[4 * i + k];

    /* agreement + warm-up */
    long *ref = malloc((size_t)n * 136 * sizeof *ref);
    peer_ert_run(peer, n, face_img, boxes, 1, ref);
    int exact = 0, total = 0;
    double worst = 0;
    ts_points pts;
    for (int i = 0; i < n; i++) {
        if (ts_ert_predict(m, &imgs[face_img[i]], fbox[i], &pts) != TS_OK) {
            fprintf(stderr, "bench-ert: %s\n", ts_last_error());
            return 1;
        }
        for (int k = 0; k < pts.n && k < 68; k++) {
            double dx = fabs(pts.x[k] - ref[i * 136 + 2 * k]), dy = fabs(pts.y[k] - ref[i * 136 + 2 * k + 1]);
            worst = fmax(worst, fmax(dx, dy));
            exact += floor(pts.x[k] + 0.5) == ref[i * 136 + 2 * k] && floor(pts.y[k] + 0.5) == ref[i * 136 + 2 * k + 1];
            total++;
        }
    }

    double best_ours = INFINITY, best_dlib = INFINITY;
    volatile float sink = 0;
    for (int r = 0; r < rounds; r++) {
        t0 = now();
        for (int k = 0; k < reps; k++)
            for (int i = 0; i < n; i++) {
                ts_ert_predict(m, &imgs[face_img[i]], fbox[i], &pts);
                sink += pts.x[0];
            }
        best_ours = fmin(best_ours, now() - t0);
        best_dlib = fmin(best_dlib, peer_ert_run(peer, n, face_img, boxes, reps, NULL));
    }
    double ms_ours = 1e3 * best_ours / ((double)reps * n), ms_dlib = 1e3 * best_dlib / ((double)reps * n);

    /* On a busy machine a round is often preempted: also time every face
     * alone, many times, and keep each face's fastest run (the time it
     * takes when nothing else interferes). */
    double sum_min_ours = 0, sum_min_dlib = 0;
    for (int i = 0; i < n; i++) {
        double mo = INFINITY, md = INFINITY;
        for (int k = 0; k < rounds * reps; k++) {
            t0 = now();
            ts_ert_predict(m, &imgs[face_img[i]], fbox[i], &pts);
            mo = fmin(mo, now() - t0);
            sink += pts.x[0];
            md = fmin(md, peer_ert_run(peer, 1, face_img + i, boxes + 4 * i, 1, NULL));
        }
        sum_min_ours += mo;
        sum_min_dlib += md;
    }
    double mm_ours = 1e3 * sum_min_ours / n, mm_dlib = 1e3 * sum_min_dlib / n;

    printf("bench-ert: %d faces from %d images, one core (cpu %d), best of %d rounds x %d passes\n", n, n_img,
           cpu, rounds, reps);
    printf("  agreement: %d/%d points round to dlib's pixel, worst |d| %.3f px\n", exact, total, worst);
    printf("  model load: ours %.0f ms, dlib %.0f ms\n", 1e3 * t_load_ours, 1e3 * t_load_dlib);
    printf("  ert per face, best round:      ours %.3f ms, dlib %.3f ms, ratio dlib/ours %.2f (> 1: we are faster)\n",
           ms_ours, ms_dlib, ms_dlib / ms_ours);
    printf("  ert per face, each face's best: ours %.3f ms, dlib %.3f ms, ratio dlib/ours %.2f\n", mm_ours, mm_dlib,
           mm_dlib / mm_ours);

    for (int i = 0; i < n_img; i++) {
        ts_image_clear(&imgs[i]);
        free(paths[i]);
    }
    free(imgs);
    free(paths);
    free(face_img);
    free(boxes);
    free(fbox);
    free(ref);
    ts_ert_free(m);
    peer_ert_free(peer);
    return 0;
}
