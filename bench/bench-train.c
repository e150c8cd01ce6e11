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
 * The peer runs beside us as a server (peer-train.py --serve) and the two
 * take turns, one step each: this shared 2-core machine's speed drifts by
 * half within a minute, and turns give both sides the same moments.
 * Prints our median step time and images/s, the peer's, and the median of
 * the per-turn ratios ours / peer (> 1: we are faster) with their range.
 *
 * --profile adds our time per layer (forward, backward; mean of the timed
 * steps), to find where a step goes.  --ab-winograd (no peer) takes turns
 * between the CPU's Winograd in tiles of 2 (wherever it can) and im2col
 * convolutions, step by step, and prints both profiles side by side;
 * --ab-tiles the same between Winograd's tiles of 4 and of 2, --ab-keep
 * between the weight gradient taking the forward pass's transformed input
 * tiles and transforming the input again, --ab-direct between the first
 * layer's forward pass computed directly (conv-direct.c) and by im2col.
 *
 * usage: bench-train [--batch N] [--steps N] [--threads T] [--size S]
 *                    [--arch NAME] [--no-peer] [--profile]
 *                    [--ab-winograd | --ab-tiles | --ab-keep | --ab-direct]
 * Not a test: nothing here asserts a speed.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
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

/* The peer as a server: its pid, and pipes to and from it. */
typedef struct peer_proc {
    pid_t pid;
    FILE *to, *from;
    char version[64];
} peer_proc;

/* Starts peer-train.py --serve on the architecture text; 0 when it has
 * warmed up and answers, -1 (with why) when it cannot. */
static int peer_start(peer_proc *pr, const char *archfile, int threads, int size, int batch, char *why, size_t why_len)
{
    int down[2], up[2];
    if (pipe(down) || pipe(up)) {
        snprintf(why, why_len, "no pipe");
        return -1;
    }
    char script[4200], sz[16], th[16], bt[16];
    snprintf(script, sizeof script, "%s/bench/peer-train.py", TS_SOURCE_ROOT);
    snprintf(sz, sizeof sz, "%d", size);
    snprintf(th, sizeof th, "%d", threads);
    snprintf(bt, sizeof bt, "%d", batch);
    fflush(stdout);
    pr->pid = fork();
    if (pr->pid < 0) {
        snprintf(why, why_len, "no fork");
        return -1;
    }
    if (pr->pid == 0) {
        dup2(down[0], 0);
        dup2(up[1], 1);
        close(down[0]), close(down[1]), close(up[0]), close(up[1]);
        execl("/usr/bin/python3", "python3", script, "--serve", "--threads", th, "--size", sz, "--batch", bt,
              "--arch-file", archfile, (char *)NULL);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    pr->to = fdopen(down[1], "w");
    pr->from = fdopen(up[0], "r");
    char line[4096];
    while (pr->from && fgets(line, sizeof line, pr->from)) {
        cJSON *j = line[0] == '{' ? cJSON_Parse(line) : NULL;
        cJSON *v = cJSON_GetObjectItem(j, "ready");
        if (cJSON_IsString(v)) {
            snprintf(pr->version, sizeof pr->version, "%s", v->valuestring);
            cJSON_Delete(j);
            return 0;
        }
        cJSON_Delete(j);
        snprintf(why, why_len, "%s", line);
    }
    if (!why[0]) snprintf(why, why_len, "the script ended without answering\n");
    return -1;
}

/* One peer step: its time in seconds, or a negative number. */
static double peer_step(peer_proc *pr)
{
    char line[128];
    if (fputs("step\n", pr->to) < 0 || fflush(pr->to) || !fgets(line, sizeof line, pr->from)) return -1.0;
    return atof(line) * 1e-3;
}

static void peer_stop(peer_proc *pr)
{
    if (pr->to) fclose(pr->to); /* end of input: the server returns */
    if (pr->from) fclose(pr->from);
    if (pr->pid > 0) waitpid(pr->pid, NULL, 0);
}

int main(int argc, char **argv)
{
    int batch = 50, steps = 5, threads = 2, size = 150, peer = 1, profile = 0, ab = 0;
    ts_winograd_mode ab_mode[2] = { TS_WINOGRAD_ALWAYS, TS_WINOGRAD_OFF };
    const char *ab_name[2] = { "winograd", "im2col" };
    const char *arch = "alexnet";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--ab-winograd")) ab = profile = 1, peer = 0;
        else if (!strcmp(argv[i], "--ab-tiles")) {
            ab = profile = 1, peer = 0;
            ab_mode[0] = TS_WINOGRAD_ALWAYS4, ab_mode[1] = TS_WINOGRAD_ALWAYS;
            ab_name[0] = "tiles 4", ab_name[1] = "tiles 2";
        } else if (!strcmp(argv[i], "--ab-keep")) {
            ab = 2, profile = 1, peer = 0;
            ab_name[0] = "kept", ab_name[1] = "again";
        } else if (!strcmp(argv[i], "--ab-direct")) {
            ab = 3, profile = 1, peer = 0;
            ab_name[0] = "direct", ab_name[1] = "im2col";
        } else {
            fprintf(stderr, "usage: bench-train [--batch N] [--steps N] [--threads T] [--size S] [--arch A] [--no-peer] [--profile] [--ab-winograd | --ab-tiles | --ab-keep | --ab-direct]\n");
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
    /* per layer: [0, 2n) the profile, [2n, 4n) the second path's turns with --ab-* */
    double *op_s = profile ? calloc(4 * (size_t)g->n_nodes, sizeof *op_s) : NULL;
    if (ab) steps += steps & 1; /* as many turns of each */
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
    /* The peer builds the same network from our expanded text (any chain
     * network; alexnet is also written out by hand there). */
    peer_proc pr = { 0 };
    char archfile[] = "/tmp/bench-train-arch-XXXXXX", why[4096] = "";
    int have_archfile = 0;
    if (peer) {
        int fd = mkstemp(archfile);
        have_archfile = fd >= 0;
        FILE *af = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (af) {
            fputs(expanded ? expanded : "", af);
            fclose(af);
        }
        signal(SIGPIPE, SIG_IGN); /* a peer that died shows as a failed step */
        if (peer_start(&pr, archfile, threads, size, batch, why, sizeof why) != 0) peer = 0;
    }
    double *t = malloc((size_t)(steps + 1) * sizeof *t), *tp = malloc((size_t)(steps + 1) * sizeof *tp);
    double *ratio = malloc((size_t)(steps + 1) * sizeof *ratio);
    for (int s = 0; s <= steps; s++) { /* step 0 warms up (allocations) */
        double t0 = now();
        if (ab == 2) ts_cpu_set_winograd_keep(s % 2 == 1);
        else if (ab == 3) ts_cpu_set_direct_conv(s % 2 == 1);
        else if (ab) ts_cpu_set_winograd(ab_mode[s % 2 == 1 ? 0 : 1]);
        g->op_seconds = s > 0 ? op_s + (ab && s % 2 == 0 ? 2 * (size_t)g->n_nodes : 0) : NULL;
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
        if (peer && s > 0) {
            tp[s] = peer_step(&pr);
            if (tp[s] <= 0.0) {
                snprintf(why, sizeof why, "the peer stopped answering at step %d\n", s);
                peer = 0;
            } else {
                ratio[s] = tp[s] / t[s];
            }
        }
    }
    qsort(t + 1, (size_t)steps, sizeof *t, cmp_double);
    double ours = t[1 + steps / 2];
    printf("bench-train: %s %dx%d, batch %d, %d threads, forward+loss+backward+SGD, median of %d steps%s; OpenBLAS kernels %s\n",
           arch, size, size, batch, threads, steps, peer ? ", taking turns with the peer" : "", ts_cpu_blas_core());
    printf("  traitscope                 %8.1f ms/step  %8.1f images/s\n", ours * 1e3, batch / ours);
    if (ab) {
        const int n = g->n_nodes, turns = steps / 2;
        double tot[2][2] = { { 0 } };
        printf("  per layer, ms per step (mean of %d turns each):  %s fw  bw   %s fw  bw\n", turns, ab_name[0],
               ab_name[1]);
        for (int i = 1; i < n; i++) {
            printf("    %-28s %8.2f %8.2f   %8.2f %8.2f\n", g->nodes[i].name, op_s[i] * 1e3 / turns,
                   op_s[n + i] * 1e3 / turns, op_s[2 * n + i] * 1e3 / turns, op_s[3 * n + i] * 1e3 / turns);
            for (int k = 0; k < 2; k++) tot[0][k] += op_s[k * n + i], tot[1][k] += op_s[(2 + k) * n + i];
        }
        printf("    %-28s %8.2f %8.2f   %8.2f %8.2f\n", "all layers", tot[0][0] * 1e3 / turns,
               tot[0][1] * 1e3 / turns, tot[1][0] * 1e3 / turns, tot[1][1] * 1e3 / turns);
    } else if (op_s) {
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
        qsort(tp + 1, (size_t)steps, sizeof *tp, cmp_double);
        qsort(ratio + 1, (size_t)steps, sizeof *ratio, cmp_double);
        double pt = tp[1 + steps / 2], r = ratio[1 + steps / 2];
        int pad = 18 - (int)strlen(pr.version);
        printf("  peer (%s)%*s %8.1f ms/step  %8.1f images/s\n", pr.version, pad > 0 ? pad : 0, "", pt * 1e3,
               batch / pt);
        printf("  ratio ours / peer          %8.2fx  (median of %d turns, %.2f to %.2f; %s)\n", r, steps, ratio[1],
               ratio[steps], r >= 1.0 ? "traitscope is faster" : "PyTorch is faster");
    } else if (why[0]) {
        printf("  peer (PyTorch) unavailable: %s", why);
    }
    if (have_archfile) unlink(archfile);
    peer_stop(&pr);
    free(tp);
    free(ratio);
    free(expanded);
    free(op_s);
    free(t);
    free(x.data);
    free(labels);
    ts_sgd_clear(&sgd);
    ts_graph_free(g);
    return 0;
}
