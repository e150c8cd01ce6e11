/* bench-cpu.c - AlexNet on the CPU against PyTorch, in the same run.
 *
 * The network is the built-in "alexnet" (arch.c) with 3 input channels,
 * 150x150 inputs and 2 classes (the LACNN FAD setting).  Two numbers:
 *   forward latency at batch 1, evaluation mode: median of --repeats runs;
 *   training throughput at batch --batch (32): zero grads + forward
 *   (dropout active) + softmax cross-entropy + backward, images/s from the
 *   median of --train-repeats steps (one warm-up step first).
 * The peer is bench/peer-cpu.py (Debian's python3-torch) with
 * torch.set_num_threads(the same count) and the same architecture and
 * modes.  Ratios are PyTorch time / our time (> 1: we are faster).  Wall
 * clock is the number that matters; process CPU time is printed beside it
 * because on a shared machine the wall clock also measures other jobs.
 *
 * Usage: bench-cpu [--threads N] [--repeats R] [--train-repeats R]
 *                  [--batch B] [--no-peer]
 * Not a test: nothing is asserted about speed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/arch.h"
#include "backend/backend.h"
#include "nn/loss.h"
#include "ts-config.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process (all threads): on a machine shared with
 * other jobs, wall time measures the machine's load as much as the code, so
 * both are printed. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
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
    fprintf(stderr, "bench-cpu: %s: %s\n", what, ts_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    int threads = 0, repeats = 30, train_repeats = 5, batch = 32, peer = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--train-repeats") && i + 1 < argc) train_repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else {
            fprintf(stderr, "usage: bench-cpu [--threads N] [--repeats R] [--train-repeats R] [--batch B] [--no-peer]\n");
            return 2;
        }
    }
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (repeats < 1) repeats = 1;
    if (train_repeats < 1) train_repeats = 1;
    if (batch < 1) batch = 1;
    ts_cpu_set_threads(threads);

    ts_arch_opts opts = { .in_channels = 3, .size = 150, .classes = 2 };
    ts_graph *g;
    if (ts_arch_build("alexnet", &opts, &g, NULL) != TS_OK) die("alexnet");
    ts_graph_init_params(g, 1);
    ts_rng rng;
    ts_rng_seed(&rng, 7);

    /* forward latency, batch 1, eval */
    ts_tensor x1 = { malloc(3 * 150 * 150 * sizeof(float)), 1, 3, 150, 150 };
    for (size_t i = 0; i < ts_tensor_numel(&x1); i++) x1.data[i] = ts_rng_normal(&rng);
    g->training = false;
    size_t most = (size_t)(repeats > train_repeats ? repeats : train_repeats);
    double *t = malloc(most * sizeof(double)), *c = malloc(most * sizeof(double));
    for (int i = 0; i < repeats + 3; i++) {
        double t0 = now(), c0 = cpu_now();
        if (ts_graph_forward(g, &x1) != TS_OK) die("forward");
        if (i >= 3) t[i - 3] = now() - t0, c[i - 3] = cpu_now() - c0;
    }
    double fwd_ms = median(t, repeats) * 1e3, fwd_cpu_ms = median(c, repeats) * 1e3;

    /* training step, batch B, train mode */
    ts_tensor xb = { malloc((size_t)batch * 3 * 150 * 150 * sizeof(float)), batch, 3, 150, 150 };
    for (size_t i = 0; i < ts_tensor_numel(&xb); i++) xb.data[i] = ts_rng_normal(&rng);
    int *labels = malloc((size_t)batch * sizeof(int));
    for (int i = 0; i < batch; i++) labels[i] = (int)(ts_rng_next(&rng) % 2);
    g->training = true;
    for (int i = 0; i < train_repeats + 1; i++) {
        double t0 = now(), c0 = cpu_now();
        ts_graph_zero_grads(g);
        if (ts_graph_forward(g, &xb) != TS_OK) die("forward");
        ts_node *o = &g->nodes[g->output];
        float loss;
        if (ts_loss_softmax_xent(&o->out, labels, &loss, &o->dout) != TS_OK) die("loss");
        if (ts_graph_backward(g) != TS_OK) die("backward");
        if (i >= 1) t[i - 1] = now() - t0, c[i - 1] = cpu_now() - c0;
    }
    double ips = batch / median(t, train_repeats), cpu_ips = batch / median(c, train_repeats);

    printf("AlexNet 3x150x150, 2 classes, %d thread%s\n", threads, threads == 1 ? "" : "s");
    printf("                  wall clock                   | CPU time (all threads)\n");
    printf("ours:    forward b1 %8.2f ms  train b%d %7.2f img/s | forward %8.2f ms  train %7.2f img/CPU-s\n",
           fwd_ms, batch, ips, fwd_cpu_ms, cpu_ips);

    if (peer) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 '%s/bench/peer-cpu.py' --threads %d --repeats %d --train-repeats %d --batch %d",
                 TS_SOURCE_ROOT, threads, repeats, train_repeats, batch);
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
        cJSON *pf = j ? cJSON_GetObjectItem(j, "fwd_b1_ms") : NULL;
        cJSON *pt = j ? cJSON_GetObjectItem(j, "train_ips") : NULL;
        cJSON *pfc = j ? cJSON_GetObjectItem(j, "fwd_b1_cpu_ms") : NULL;
        cJSON *ptc = j ? cJSON_GetObjectItem(j, "train_cpu_ips") : NULL;
        if (cJSON_IsNumber(pf) && cJSON_IsNumber(pt) && cJSON_IsNumber(pfc) && cJSON_IsNumber(ptc)) {
            printf("pytorch: forward b1 %8.2f ms  train b%d %7.2f img/s | forward %8.2f ms  train %7.2f img/CPU-s  (torch %s)\n",
                   pf->valuedouble, batch, pt->valuedouble, pfc->valuedouble, ptc->valuedouble,
                   cJSON_GetStringValue(cJSON_GetObjectItem(j, "torch")) ?: "?");
            printf("ratio (>1: ours faster): forward %.2fx  train %.2fx (wall) | forward %.2fx  train %.2fx (CPU)\n",
                   pf->valuedouble / fwd_ms, ips / pt->valuedouble, pfc->valuedouble / fwd_cpu_ms,
                   cpu_ips / ptc->valuedouble);
        } else {
            printf("pytorch: unavailable (needs /usr/bin/python3 with python3-torch)\n");
        }
        cJSON_Delete(j);
    }
    free(t);
    free(c);
    free(x1.data);
    free(xb.data);
    free(labels);
    ts_graph_free(g);
    return 0;
}
