/* bench-amap.c - A(x,y) (face/amap.h) at 150x150 and 1920x1080 against
 * PyTorch (torch.cdist + argmin, bench/peer-amap.py) in the same run.
 *
 * Landmarks: the 68-point reference face (align.h) filling a 150x150 crop,
 * and the same face about 400 pixels wide inside a full-HD frame.  Prints
 * our median time (fast version; the literal reference too at 150x150),
 * the peer's, the ratio peer/ours (> 1: we are faster), and how many
 * pixels the peer's map differs from ours (torch computes distances its
 * own way, so exact ties may resolve differently; ours equals
 * ts_amap_reference byte for byte, which is checked here too).  Both sides
 * run on one thread.  Goal (issue 3): well under 1 ms and 20 ms.
 *
 * usage: bench-amap [--repeats N] [--no-peer]
 * Not a test: nothing here asserts a speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "face/align.h"
#include "face/amap.h"
#include "ts-config.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef ts_status (*amap_fn)(const ts_points *, int, int, uint8_t *);

static double median_ms(amap_fn f, const ts_points *p, int w, int h, uint8_t *out, int repeats)
{
    double *t = malloc(sizeof *t * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        if (f(p, w, h, out) != TS_OK) {
            fprintf(stderr, "bench-amap: %s\n", ts_last_error());
            exit(1);
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    double m = t[repeats / 2] * 1e3;
    free(t);
    return m;
}

/* Runs the peer; returns its median ms (or -1) and fills peer_map. */
static double run_peer(const ts_points *p, int w, int h, int repeats, uint8_t *peer_map)
{
    char in[] = "/tmp/bench-amap-in-XXXXXX", outp[] = "/tmp/bench-amap-out-XXXXXX";
    int fi = mkstemp(in), fo = mkstemp(outp);
    if (fi < 0 || fo < 0) return -1;
    close(fo);
    FILE *f = fdopen(fi, "wb");
    int32_t hdr[3] = { w, h, p->n };
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(p->x, sizeof(float), (size_t)p->n, f);
    fwrite(p->y, sizeof(float), (size_t)p->n, f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/peer-amap.py' %s %s %d", TS_SOURCE_ROOT, in,
             outp, repeats);
    FILE *pp = popen(cmd, "r");
    double ms = -1;
    char line[512] = "";
    if (pp) {
        if (fgets(line, sizeof line, pp)) {
            const char *m = strstr(line, "\"median_ms\":");
            if (m) ms = atof(m + 12);
        }
        if (pclose(pp) != 0) ms = -1;
    }
    f = fopen(outp, "rb");
    if (!f || fread(peer_map, 1, (size_t)w * h, f) != (size_t)w * h) ms = -1;
    if (f) fclose(f);
    unlink(in);
    unlink(outp);
    return ms;
}

int main(int argc, char **argv)
{
    int repeats = 30, peer = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else {
            fprintf(stderr, "usage: bench-amap [--repeats N] [--no-peer]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    static const struct { int w, h; float face, cx, cy; } cases[] = {
        { 150, 150, 150, 74.5f, 74.5f },
        { 1920, 1080, 400 / (1 - 2 * TS_ALIGN_REF_PAD), 1100, 480 },
    };
    printf("A(x,y), 68 landmarks, one thread, median of %d runs\n", repeats);
    for (int c = 0; c < 2; c++) {
        int w = cases[c].w, h = cases[c].h;
        ts_points p = { .n = 68 };
        float rx[68], ry[68];
        ts_align_reference68(1000, rx, ry);
        for (int i = 0; i < 68; i++) {
            p.x[i] = cases[c].cx + (rx[i] - 499.5f) / 1000.0f * cases[c].face;
            p.y[i] = cases[c].cy + (ry[i] - 499.5f) / 1000.0f * cases[c].face;
        }
        uint8_t *ours = malloc((size_t)w * h), *ref = malloc((size_t)w * h), *theirs = malloc((size_t)w * h);
        double ms = median_ms(ts_amap_compute, &p, w, h, ours, repeats);
        double ref_ms = median_ms(ts_amap_reference, &p, w, h, ref, c == 0 ? repeats : 3);
        int same = !memcmp(ours, ref, (size_t)w * h);
        printf("  %4dx%-4d  ours %8.3f ms   literal reference %8.3f ms   identical to reference: %s\n", w,
               h, ms, ref_ms, same ? "yes" : "NO");
        if (peer) {
            double pm = run_peer(&p, w, h, c == 0 ? repeats : 3, theirs);
            if (pm < 0) {
                printf("             peer (torch.cdist+argmin) failed to run\n");
            } else {
                long diff = 0;
                for (size_t i = 0; i < (size_t)w * h; i++) diff += ours[i] != theirs[i];
                printf("             torch.cdist+argmin %8.3f ms   ratio peer/ours %.1fx   pixels differing %ld\n",
                       pm, pm / ms, diff);
            }
        }
        free(ours);
        free(ref);
        free(theirs);
    }
    return 0;
}
