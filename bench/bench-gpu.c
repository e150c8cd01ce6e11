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
 *     few hundred floats), dlogits uploaded, backward, ts_sgd_step (one
 *     backend sgd launch per parameter tensor, lr 0.01, momentum 0.9,
 *     decay 5e-4: what training runs), images/s.
 * Then A(x,y) of 68 points on a 1920x1080 frame: kernels/amap.cu (points
 * up, map down included) against our CPU version (face/amap.c), both
 * medians, with a byte comparison of the two maps.
 * The peer is bench/peer-gpu.py doing the same: host tensors moved with
 * .cuda() inside the timing, .cpu() of the logits as the synchronisation,
 * torch.optim.SGD.  Its python is the first of $TS_PYTHON, python3 on the
 * PATH, /usr/bin/python3 and /opt/torch/.venv/bin/python3 that imports
 * torch (a GPU machine's image keeps PyTorch in its own venv); the script
 * is found under $TS_SOURCE_ROOT (else the source folder of this build).
 * Both sides run strict float32 unless --tf32 (TS_CUDA_TF32=1 for us,
 * allow_tf32 for PyTorch); we run the backend's fast mode (any float32
 * cuDNN engine, as PyTorch's cudnn.benchmark may pick), --deterministic
 * keeps our deterministic engines.  Ratios are PyTorch time / our time
 * (> 1: we are faster).
 *
 * Usage: bench-gpu [--repeats R] [--tf32] [--deterministic] [--no-peer]
 * Without a GPU it says so and exits 77; with one that cannot be used it
 * fails.  Not a test: nothing is asserted about speed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/amap.h"
#include "nn/arch.h"
#include "backend/backend.h"
#include "nn/loss.h"
#include "train/sgd.h"
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
        if (be->mem.download(ctx, logits, o->out.data, ts_tensor_numel(&o->out)) != TS_OK) die("download");
        if (i >= 3) t[i - 3] = now() - t0;
    }
    double m = median(t, repeats);
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int repeats = 20, peer = 1, tf32 = 0, deterministic = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tf32")) tf32 = 1;
        else if (!strcmp(argv[i], "--deterministic")) deterministic = 1;
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else {
            fprintf(stderr, "usage: bench-gpu [--repeats R] [--tf32] [--deterministic] [--no-peer]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    char why[256];
    if (!ts_gpu_present(why, sizeof why)) {
        printf("bench-gpu: SKIP: no GPU here (%s)\n", why);
        return 77;
    }
    if (tf32) setenv("TS_CUDA_TF32", "1", 1);
    if (ts_backend_select(TS_DEVICE_CUDA, &be, &ctx, NULL, 0) != TS_OK) {
        printf("bench-gpu: FAIL: there is a GPU, but the CUDA backend does not open: %s\n", ts_last_error());
        return 1;
    }
    be->set_deterministic(ctx, deterministic);
    {
        char d[512];
        be->describe(ctx, d, sizeof d);
        printf("%s\n", d);
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
    ts_sgd sgd;
    ts_sgd_config cfg = ts_sgd_config_default();
    if (ts_sgd_init(&sgd, g, &cfg) != TS_OK) die("sgd");
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
        if (be->mem.download(ctx, logits, o->out.data, k) != TS_OK) die("download");
        ts_tensor lh = { logits, o->out.n, o->out.c, 1, 1 }, dh = { dlogits_h, o->out.n, o->out.c, 1, 1 };
        float loss;
        if (ts_loss_softmax_xent(&lh, labels, &loss, &dh) != TS_OK) die("loss");
        if (be->mem.upload(ctx, o->dout.data, dlogits_h, k) != TS_OK) die("upload");
        if (ts_graph_backward(g) != TS_OK) die("backward");
        if (ts_sgd_step(&sgd, g) != TS_OK) die("sgd");
        /* the next step's download synchronises; the last one needs this */
        if (be->mem.download(ctx, logits, o->out.data, 1) != TS_OK) die("sync");
        if (i >= 2) t[i - 2] = now() - t0;
    }
    double train_ips = 128 / median(t, repeats);
    free(t);

    printf("AlexNet 3x150x150, 2 classes, %s float32%s, %s engines\n", be->name,
           tf32 ? " (TF32 allowed)" : " (strict)", deterministic ? "deterministic" : "fast");
    printf("ours:    forward b1 %8.3f ms  forward b256 %9.1f img/s  train b128 %8.1f img/s\n", fwd1_ms,
           fwd256_ips, train_ips);
    if (peer) {
        char cmd[8192];
        const char *root = getenv("TS_SOURCE_ROOT");
        if (!root || !root[0]) root = TS_SOURCE_ROOT;
        /* the first python that has torch (file comment) */
        snprintf(cmd, sizeof cmd,
                 "for p in \"$TS_PYTHON\" python3 /usr/bin/python3 /opt/torch/.venv/bin/python3; do "
                 "[ -n \"$p\" ] && command -v \"$p\" >/dev/null 2>&1 && \"$p\" -c 'import torch' 2>/dev/null && "
                 "exec \"$p\" '%s/bench/peer-gpu.py' --repeats %d%s; done; "
                 "echo '{\"skip\": \"no python with torch found\"}'",
                 root, repeats, tf32 ? " --tf32" : "");
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
            printf("pytorch: unavailable (no python with a CUDA torch: set TS_PYTHON)\n");
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
            if (be->amap(ctx, pts.x, pts.y, pts.n, W, H, mg) != TS_OK) die("A(x,y) on the GPU");
            double t1 = now();
            if (ts_amap_compute(&pts, W, H, mc) != TS_OK) die("A(x,y) on the CPU");
            if (i >= 2) tg[i - 2] = t1 - t0, tc[i - 2] = now() - t1;
        }
        printf("A(x,y) 1920x1080, 68 points: GPU %.3f ms, CPU %.3f ms, maps %s\n", median(tg, repeats) * 1e3,
               median(tc, repeats) * 1e3, memcmp(mg, mc, (size_t)W * H) ? "DIFFER" : "identical");
        free(mg), free(mc), free(tg), free(tc);
    }
    ts_sgd_clear(&sgd);
    free(x1.data);
    free(x256.data);
    free(x128.data);
    ts_graph_free(g);
    ts_backend_close(be, ctx);
    return 0;
}
