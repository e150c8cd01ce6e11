/* bench-lrp.c - forward + LRP (the Adience paper's preset) for the built-in
 * AlexNet at 150x150 on the CPU, batch 1, against PyTorch in the same run.
 *
 * Prints our median latency, the peer's (bench/peer-lrp.py: the same rules
 * written with autograd, the common way of doing LRP in PyTorch) and the
 * ratio peer/ours (> 1: we are faster).  The peer also recomputes the
 * relevance from our weights and input and reports the largest difference
 * relative to max |R|, so the two sides are known to compute the same thing.
 *
 * usage: bench-lrp [--repeats N] [--threads T] [--size S] [--rules STRING] [--no-peer]
 * Not a test: nothing here asserts a speed.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/arch.h"
#include "backend/backend.h"
#include "explain/lrp.h"
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

static void put(FILE *f, const float *data, int ndim, int d0, int d1, int d2, int d3)
{
    int32_t hdr[5] = { ndim, d0, d1, d2, d3 };
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(data, sizeof(float), (size_t)d0 * d1 * d2 * d3, f);
}

int main(int argc, char **argv)
{
    int repeats = 20, threads = 2, size = 150, peer = 1;
    const char *rules_spec = "preset=adience";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rules") && i + 1 < argc) rules_spec = argv[++i];
        else if (!strcmp(argv[i], "--no-peer")) peer = 0;
        else {
            fprintf(stderr, "usage: bench-lrp [--repeats N] [--threads T] [--size S] [--rules R] [--no-peer]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    ts_cpu_set_threads(threads);

    ts_graph *g = NULL;
    ts_arch_opts ao = { .in_channels = 3, .size = size, .classes = 2 };
    if (ts_arch_build("alexnet", &ao, &g, NULL) != TS_OK) {
        fprintf(stderr, "bench-lrp: %s\n", ts_last_error());
        return 1;
    }
    ts_graph_init_params(g, 1);
    /* Small positive biases, as trained nets have, so the bias path runs. */
    for (int i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < ts_tensor_numel(&g->nodes[i].bias); k++) g->nodes[i].bias.data[k] = 0.01f;
    size_t per = (size_t)3 * size * size;
    float *xb = malloc(per * sizeof(float)), *rb = malloc(per * sizeof(float));
    ts_rng r;
    ts_rng_seed(&r, 2);
    for (size_t q = 0; q < per; q++) xb[q] = ts_rng_normal(&r);
    ts_tensor x = { xb, 1, 3, size, size }, rel = { rb, 1, 3, size, size };

    ts_lrp_rules rules;
    ts_lrp *l = NULL;
    ts_lrp_target t = { TS_LRP_TARGET_PREDICTED, -1, -1 };
    if (ts_lrp_rules_parse(g, rules_spec, &rules) != TS_OK || ts_lrp_new(g, &rules, &l) != TS_OK) {
        fprintf(stderr, "bench-lrp: %s\n", ts_last_error());
        return 1;
    }
    double *tf = malloc(repeats * sizeof(double)), *tl = malloc(repeats * sizeof(double));
    ts_lrp_stats st;
    for (int i = 0; i < repeats + 2; i++) {
        double t0 = now();
        if (ts_graph_forward(g, &x) != TS_OK) return fprintf(stderr, "%s\n", ts_last_error()), 1;
        double t1 = now();
        if (ts_lrp_explain(l, &x, &t, 1, &rel, &st) != TS_OK) return fprintf(stderr, "%s\n", ts_last_error()), 1;
        double t2 = now();
        if (i >= 2) tf[i - 2] = t1 - t0, tl[i - 2] = t2 - t1;
    }
    qsort(tf, repeats, sizeof *tf, cmp_double);
    qsort(tl, repeats, sizeof *tl, cmp_double);
    double fwd_ms = tf[repeats / 2] * 1e3, ours_ms = tl[repeats / 2] * 1e3;
    printf("bench-lrp: AlexNet %dx%d, batch 1, rules '%s', %d threads, %d repeats (median)\n", size,
           size, rules_spec, threads, repeats);
    printf("  forward only (ours)          %8.2f ms\n", fwd_ms);
    printf("  forward + LRP (traitscope)   %8.2f ms   (relevance sum %.5g, logit %.5g)\n", ours_ms,
           st.relevance_sum, st.logit);

    int rc = 0;
    if (peer && strcmp(rules_spec, "preset=adience")) {
        printf("  peer skipped: it implements preset=adience only\n");
    } else if (peer) {
        char path[] = "/tmp/bench-lrp-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!f) {
            fprintf(stderr, "bench-lrp: cannot write a temporary file\n");
            return 1;
        }
        for (int i = 0; i < g->n_nodes; i++) {
            const ts_node *n = &g->nodes[i];
            if (n->op != TS_OP_CONV2D && n->op != TS_OP_FC) continue;
            const ts_tensor *w = &n->weight;
            if (n->op == TS_OP_FC) put(f, w->data, 2, w->n, w->c, 1, 1);
            else put(f, w->data, 4, w->n, w->c, w->h, w->w);
            put(f, n->bias.data, 1, n->out_c, 1, 1, 1);
        }
        put(f, xb, 4, 1, 3, size, size);
        put(f, rb, 4, 1, 3, size, size);
        fclose(f);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/peer-lrp.py' --data '%s' --threads %d --repeats %d",
                 TS_SOURCE_ROOT, path, threads, repeats);
        FILE *p = popen(cmd, "r");
        char line[4096] = "";
        while (p && fgets(line, sizeof line, p) && line[0] != '{') {}
        int prc = p ? pclose(p) : -1;
        remove(path);
        cJSON *j = prc == 0 ? cJSON_Parse(line) : NULL;
        cJSON *ms = j ? cJSON_GetObjectItem(j, "lrp_ms") : NULL;
        if (!cJSON_IsNumber(ms)) {
            printf("  peer (PyTorch) unavailable: %s\n", prc ? "the script failed (python3-torch?)" : line);
            rc = 0;
        } else {
            double peer_ms = ms->valuedouble;
            cJSON *d = cJSON_GetObjectItem(j, "max_rel_diff"), *v = cJSON_GetObjectItem(j, "peer");
            printf("  forward + LRP (%-12s)   %8.2f ms   (relevance max |diff| / max |R| = %.2g)\n",
                   cJSON_IsString(v) ? v->valuestring : "torch", peer_ms,
                   cJSON_IsNumber(d) ? d->valuedouble : NAN);
            printf("  ratio peer / ours            %8.2fx  (%s)\n", peer_ms / ours_ms,
                   peer_ms >= ours_ms ? "traitscope is faster" : "PyTorch is faster");
        }
        cJSON_Delete(j);
    }
    free(tf);
    free(tl);
    free(xb);
    free(rb);
    ts_lrp_free(l);
    ts_lrp_rules_clear(&rules);
    ts_graph_free(g);
    return rc;
}
