/* bench-train.c - training throughput (images per second) of the built-in
 * AlexNet at 150 x 150 on the CPU, against PyTorch in the same run.
 *
 * One step is what the training job (src/train/job.c) does per batch:
 * forward in training mode, softmax cross-entropy, zero the gradients,
 * backward, SGD with momentum 0.9 and weight decay 5e-4 (train/sgd.h).  The
 * peer (bench/peer-train.py) does the same with torch.nn and torch.optim.SGD
 * on the same network, batch and thread count.  Inputs are random (the
 * data pipeline runs in the job's prefetch thread, beside the compute).
 *
 * Prints our median step time and images/s, the peer's, and the ratio
 * ours / peer (> 1: we are faster).
 *
 * --profile adds our time per layer (forward, backward; mean of the timed
 * steps), to find where a step goes.
 *
 * usage: bench-train [--batch N] [--steps N] [--threads T] [--size S]
 *                    [--arch NAME] [--no-peer] [--profile]
 * Not a test: nothing here asserts a speed.
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
#include "train/sgd.h"
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

int main(int argc, char **argv)
{
    int batch = 50, steps = 5, threads = 2, size = 150, peer = 1, profile = 0;
    const char *arch = "alexnet";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else {
            fprintf(stderr, "usage: bench-train [--batch N] [--steps N] [--threads T] [--size S] [--arch A] [--no-peer] [--profile]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    if (batch < 1) batch = 1;
    ts_cpu_set_threads(threads);
    ts_arch_opts ao = { .in_channels = 3, .size = size, .classes = 2 };
    ts_graph *g;
    char *expanded = NULL;
    if (ts_arch_build(arch, &ao, &g, &expanded) != TS_OK) {
        fprintf(stderr, "bench-train: %s\n", ts_last_error());
        return 1;
    }
    ts_graph_init_params(g, 1);
    g->training = true;
    g->skip_input_grad = true; /* as the training job: no gradient of the images */
    double *op_s = profile ? calloc(2 * (size_t)g->n_nodes, sizeof *op_s) : NULL;
    double sgd_s = 0.0;
    ts_sgd_config cfg = ts_sgd_config_default();
    cfg.base_lr = 0.001f;
    ts_sgd sgd;
    if (ts_sgd_init(&sgd, g, &cfg) != TS_OK) return 1;
    ts_tensor x = { malloc((size_t)batch * 3 * size * size * sizeof(float)), batch, 3, size, size };
    int *labels = malloc((size_t)batch * sizeof *labels);
    ts_rng r;
    ts_rng_seed(&r, 3);
    for (size_t i = 0; i < ts_tensor_numel(&x); i++) x.data[i] = ts_rng_normal(&r);
    for (int i = 0; i < batch; i++) labels[i] = i & 1;
    double *t = malloc((size_t)(steps + 1) * sizeof *t);
    for (int s = 0; s <= steps; s++) { /* step 0 warms up (allocations) */
        double t0 = now();
        g->op_seconds = s > 0 ? op_s : NULL;
        ts_status st = ts_graph_forward(g, &x);
        ts_node *o = &g->nodes[g->output];
        ts_tensor logits = { o->out.data, batch, 2, 1, 1 }, dl = { o->dout.data, batch, 2, 1, 1 };
        float loss;
        if (st == TS_OK) st = ts_loss_softmax_xent(&logits, labels, &loss, &dl);
        ts_graph_zero_grads(g);
        if (st == TS_OK) st = ts_graph_backward(g);
        double t_sgd = now();
        if (st == TS_OK) st = ts_sgd_step(&sgd, g);
        if (s > 0) sgd_s += now() - t_sgd;
        if (st != TS_OK) {
            fprintf(stderr, "bench-train: %s\n", ts_last_error());
            return 1;
        }
        t[s] = now() - t0;
    }
    qsort(t + 1, (size_t)steps, sizeof *t, cmp_double);
    double ours = t[1 + steps / 2];
    printf("bench-train: %s %dx%d, batch %d, %d threads, forward+loss+backward+SGD, median of %d steps\n", arch, size,
           size, batch, threads, steps);
    printf("  traitscope                 %8.1f ms/step  %8.1f images/s\n", ours * 1e3, batch / ours);
    if (op_s) {
        double fw = 0.0, bw = 0.0;
        printf("  per layer, ms per step (mean of %d):  forward  backward\n", steps);
        for (int i = 1; i < g->n_nodes; i++) {
            printf("    %-28s %8.2f  %8.2f\n", g->nodes[i].name, op_s[i] * 1e3 / steps,
                   op_s[g->n_nodes + i] * 1e3 / steps);
            fw += op_s[i];
            bw += op_s[g->n_nodes + i];
        }
        printf("    %-28s %8.2f  %8.2f   SGD %.2f\n", "all layers", fw * 1e3 / steps, bw * 1e3 / steps,
               sgd_s * 1e3 / steps);
    }
    if (peer) {
        /* The peer builds the same network from our expanded text (any
         * chain network; alexnet is also written out by hand there). */
        char archfile[] = "/tmp/bench-train-arch-XXXXXX", cmd[4600], line[4096] = "";
        int fd = mkstemp(archfile);
        FILE *af = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (af) {
            fputs(expanded ? expanded : "", af);
            fclose(af);
        }
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 '%s/bench/peer-train.py' --threads %d --size %d --batch %d --steps %d "
                 "--arch-file '%s' 2>&1",
                 TS_SOURCE_ROOT, threads, size, batch, steps, archfile);
        FILE *p = popen(cmd, "r");
        while (p && fgets(line, sizeof line, p)) {
            if (line[0] == '{') break;
        }
        int prc = p ? pclose(p) : -1;
        cJSON *j = cJSON_Parse(line);
        cJSON *ips = cJSON_GetObjectItem(j, "images_per_s"), *v = cJSON_GetObjectItem(j, "peer");
        if (prc != 0 || !cJSON_IsNumber(ips)) {
            printf("  peer (PyTorch) unavailable: %s", line[0] ? line : "the script failed\n");
        } else {
            double peer_ips = ips->valuedouble;
            printf("  peer (%s)%*s %8.1f ms/step  %8.1f images/s\n", cJSON_IsString(v) ? v->valuestring : "torch",
                   (int)(18 - (cJSON_IsString(v) ? strlen(v->valuestring) : 5)), "", batch / peer_ips * 1e3, peer_ips);
            printf("  ratio ours / peer          %8.2fx  (%s)\n", (batch / ours) / peer_ips,
                   batch / ours >= peer_ips ? "traitscope is faster" : "PyTorch is faster");
        }
        cJSON_Delete(j);
        unlink(archfile);
    }
    free(expanded);
    free(op_s);
    free(t);
    free(x.data);
    free(labels);
    ts_sgd_clear(&sgd);
    ts_graph_free(g);
    return 0;
}
