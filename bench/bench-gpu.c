/* bench-gpu.c - AlexNet on the GPU against PyTorch with cuDNN on the same
 * GPU, in the same run (issue 5).
 *
 * The network is the built-in "alexnet" (arch.c), 3x150x150 inputs, 2
 * classes (the LACNN FAD setting), moved to the GPU with
 * ts_graph_to_backend.  Three numbers, each the median of --repeats runs
 * after warm-up runs (which also choose and cache the cuDNN execution
 * plans, one per convolution shape):
 *   forward latency at batch 1, evaluation mode: host input uploaded,
 *     forward, logits downloaded (the download is the synchronisation);
 *   forward throughput at batch 256 (images/s), same steps;
 *   training step at batch 128: zero grads, forward (dropout active),
 *     logits downloaded, softmax cross-entropy on the host (2 classes: a
 *     few hundred floats), dlogits uploaded, backward, one momentum-SGD
 *     launch over the whole parameter arena (lr 0.01, momentum 0.9, decay
 *     5e-4, the same for weights and biases), images/s.
 * Then A(x,y) of 68 points on a 1920x1080 frame: kernels/amap.cu (points
 * up, map down included) against our CPU version (face/amap.c), both
 * medians, with a byte comparison of the two maps.
 * The peer is bench/peer-gpu.py (Debian's python3-torch) doing the same:
 * host tensors moved with .cuda() inside the timing, .cpu() of the logits
 * as the synchronisation, torch.optim.SGD.  Both sides run strict float32
 * unless --tf32 (TS_CUDA_TF32=1 for us, allow_tf32 for PyTorch).  Ratios
 * are PyTorch time / our time (> 1: we are faster).
 *
 * Usage: bench-gpu [--repeats R] [--tf32] [--no-peer]
 * Without a usable GPU it says so and exits 77.  Not a test: nothing is
 * asserted about speed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amap.h"
#include "arch.h"
#include "backend/backend.h"
#include "loss.h"
#include "ts-config.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what)
{
    fprintf(stderr, "bench-gpu: %s: %s\n", what, ts_last_error());
    exit(1);
}

#if TS_HAVE_CUDA
static const ts_backend *be;
static void *ctx;

static ts_tensor random_input(ts_rng *r, int n)
{
    ts_tensor x = { malloc((size_t)n * 3 * 150 * 150 * sizeof(float)), n, 3, 150, 150 };
    if (!x.data) die("input");
    for (size_t i = 0; i < ts_tensor_numel(&x); i++) x.data[i] = ts_rng_normal(r);
    return x;
}

/* Median seconds of one forward (upload, forward, download of the logits). */
static double time_forward(ts_graph *g, const ts_tensor *x, float *logits, int repeats)
{
    double *t = malloc((size_t)repeats * sizeof *t);
    const ts_node *o = &g->nodes[g->output];
    for (int i = 0; i < repeats + 3; i++) {
        double t0 = now();
        if (ts_graph_forward(g, x) != TS_OK) die("forward");
        if (be->download(ctx, logits, o->out.data, ts_tensor_numel(&o->out)) != TS_OK) die("download");
        if (i >= 3) t[i - 3] = now() - t0;
    }
    double m = median(t, repeats);
    free(t);
    return m;
}
#endif

int main(int argc, char **argv)
{
    int repeats = 20, peer = 1, tf32 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tf32")) tf32 = 1;
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else {
            fprintf(stderr, "usage: bench-gpu [--repeats R] [--tf32] [--no-peer]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
#if !TS_HAVE_CUDA
    (void)peer, (void)tf32;
    printf("bench-gpu: SKIP: no usable GPU (this build has no CUDA backend)\n");
    return 77;
#else
    if (tf32) setenv("TS_CUDA_TF32", "1", 1);
    if (ts_backend_cuda_open(&be, &ctx) != TS_OK) {
        printf("bench-gpu: SKIP: no usable GPU (%s)\n", ts_last_error());
        return 77;
    }
    ts_arch_opts opts = { .in_channels = 3, .size = 150, .classes = 2 };
    ts_graph *g;
    if (ts_arch_build("alexnet", &opts, &g, NULL) != TS_OK) die("alexnet");
    ts_graph_init_params(g, 1);
    if (ts_graph_to_backend(g, be, ctx) != TS_OK) die("moving AlexNet to the GPU");
    ts_rng rng;
    ts_rng_seed(&rng, 7);
    float logits[256 * 2];

    g->training = false;
    ts_tensor x1 = random_input(&rng, 1), x256 = random_input(&rng, 256), x128 = random_input(&rng, 128);
    double fwd1_ms = time_forward(g, &x1, logits, repeats) * 1e3;
    double fwd256_ips = 256 / time_forward(g, &x256, logits, repeats);

    /* training step at batch 128 */
    ts_arena mom;
    if (be->arena_init(ctx, &mom, g->params.used) != TS_OK) die("momentum arena");
    int labels[128];
    for (int i = 0; i < 128; i++) labels[i] = (int)(ts_rng_next(&rng) % 2);
    float dlogits_h[128 * 2];
    g->training = true;
    double *t = malloc((size_t)repeats * sizeof *t);
    for (int i = 0; i < repeats + 2; i++) {
        double t0 = now();
        ts_graph_zero_grads(g);
        if (ts_graph_forward(g, &x128) != TS_OK) die("forward");
        ts_node *o = &g->nodes[g->output];
        size_t k = ts_tensor_numel(&o->out);
        if (be->download(ctx, logits, o->out.data, k) != TS_OK) die("download");
        ts_tensor lh = { logits, o->out.n, o->out.c, 1, 1 }, dh = { dlogits_h, o->out.n, o->out.c, 1, 1 };
        float loss;
        if (ts_loss_softmax_xent(&lh, labels, &loss, &dh) != TS_OK) die("loss");
        if (be->upload(ctx, o->dout.data, dlogits_h, k) != TS_OK) die("upload");
        if (ts_graph_backward(g) != TS_OK) die("backward");
        if (ts_backend_cuda_sgd(ctx, g->params.base, g->grads.base, mom.base, g->params.used, 0.01f, 0.9f, 5e-4f) !=
            TS_OK)
            die("sgd");
        /* the next step's download synchronises; the last one needs this */
        if (be->download(ctx, logits, o->out.data, 1) != TS_OK) die("sync");
        if (i >= 2) t[i - 2] = now() - t0;
    }
    double train_ips = 128 / median(t, repeats);
    free(t);

    printf("AlexNet 3x150x150, 2 classes, %s float32%s\n", be->name, tf32 ? " (TF32 allowed)" : " (strict)");
    printf("ours:    forward b1 %8.3f ms  forward b256 %9.1f img/s  train b128 %8.1f img/s\n", fwd1_ms,
           fwd256_ips, train_ips);
    if (peer) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/peer-gpu.py' --repeats %d%s", TS_SOURCE_ROOT,
                 repeats, tf32 ? " --tf32" : "");
        FILE *p = popen(cmd, "r");
        char line[4096] = "";
        cJSON *j = NULL;
        if (p) {
            while (fgets(line, sizeof line, p))
                if (line[0] == '{') {
                    cJSON_Delete(j);
                    j = cJSON_Parse(line);
                }
            pclose(p);
        }
        cJSON *a = j ? cJSON_GetObjectItem(j, "fwd_b1_ms") : NULL;
        cJSON *b = j ? cJSON_GetObjectItem(j, "fwd_b256_ips") : NULL;
        cJSON *c = j ? cJSON_GetObjectItem(j, "train_b128_ips") : NULL;
        if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && cJSON_IsNumber(c)) {
            printf("pytorch: forward b1 %8.3f ms  forward b256 %9.1f img/s  train b128 %8.1f img/s  (torch %s, %s)\n",
                   a->valuedouble, b->valuedouble, c->valuedouble,
                   cJSON_GetStringValue(cJSON_GetObjectItem(j, "torch")) ?: "?",
                   cJSON_GetStringValue(cJSON_GetObjectItem(j, "gpu")) ?: "?");
            printf("ratio (>1: ours faster): forward b1 %.2fx  forward b256 %.2fx  train b128 %.2fx\n",
                   a->valuedouble / fwd1_ms, fwd256_ips / b->valuedouble, train_ips / c->valuedouble);
        } else {
            printf("pytorch: unavailable (needs /usr/bin/python3 with python3-torch built with CUDA)\n");
        }
        cJSON_Delete(j);
    }
    /* A(x,y), 68 random points around a face-sized box of a full-HD frame */
    {
        enum { W = 1920, H = 1080 };
        ts_points pts = { .n = 68 };
        for (int j = 0; j < 68; j++)
            pts.x[j] = 760.0f + 400.0f * ts_rng_uniform(&rng), pts.y[j] = 340.0f + 400.0f * ts_rng_uniform(&rng);
        uint8_t *mg = malloc((size_t)W * H), *mc = malloc((size_t)W * H);
        double *tg = malloc((size_t)repeats * sizeof *tg), *tc = malloc((size_t)repeats * sizeof *tc);
        if (!mg || !mc || !tg || !tc) die("A(x,y) buffers");
        for (int i = 0; i < repeats + 2; i++) {
            double t0 = now();
            if (ts_backend_cuda_amap(ctx, pts.x, pts.y, pts.n, W, H, mg) != TS_OK) die("A(x,y) on the GPU");
            double t1 = now();
            if (ts_amap_compute(&pts, W, H, mc) != TS_OK) die("A(x,y) on the CPU");
            if (i >= 2) tg[i - 2] = t1 - t0, tc[i - 2] = now() - t1;
        }
        printf("A(x,y) 1920x1080, 68 points: GPU %.3f ms, CPU %.3f ms, maps %s\n", median(tg, repeats) * 1e3,
               median(tc, repeats) * 1e3, memcmp(mg, mc, (size_t)W * H) ? "DIFFER" : "identical");
        free(mg), free(mc), free(tg), free(tc);
    }
    be->arena_clear(ctx, &mom);
    free(x1.data);
    free(x256.data);
    free(x128.data);
    ts_graph_free(g);
    ts_backend_cuda_close(ctx);
    return 0;
#endif
}
