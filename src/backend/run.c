/* run.c - a backend runs a graph: the graph's tensors wired into each op's
 * ts_op_args, forward in topological order and backward in reverse; see
 * backend.h ("running a graph").
 *
 * Which backend: the one whose memory holds the graph's arenas.  A graph
 * records only that memory (nn/graph.h: g->mem, NULL for the host), and a
 * backend's memory table is its member `mem`, so the backend is found from
 * it; a graph in host memory runs on the CPU.  ts_graph_to_backend is the
 * only place that records a backend's memory in a graph.
 */
#include "backend/backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const ts_backend *ts_graph_backend(const ts_graph *g, void **ctx)
{
    if (ctx) *ctx = g->mem ? g->mem_ctx : NULL;
    if (!g->mem) return ts_backend_cpu();
    return (const ts_backend *)(const void *)((const char *)g->mem - offsetof(ts_backend, mem));
}

ts_status ts_graph_to_backend(ts_graph *g, const ts_backend *be, void *ctx)
{
    /* the CPU's memory is the host's */
    if (be->device == TS_DEVICE_CPU) return ts_graph_move(g, NULL, NULL);
    return ts_graph_move(g, &be->mem, ctx);
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void wire(ts_graph *g, int i, ts_op_args *a)
{
    ts_node *n = &g->nodes[i];
    memset(a, 0, sizeof *a);
    a->node = n;
    a->n_in = n->n_inputs;
    for (int k = 0; k < n->n_inputs; k++) {
        ts_node *src = &g->nodes[n->inputs[k]];
        a->in[k] = &src->out;
        a->din[k] = (n->inputs[k] == 0 && g->skip_input_grad) ? NULL : &src->dout;
    }
    a->out = &n->out;
    a->dout = &n->dout;
    a->aux = n->aux.data ? &n->aux : NULL;
    a->weight = n->weight.data ? &n->weight : NULL;
    a->bias = n->bias.data ? &n->bias : NULL;
    a->dweight = n->dweight.data ? &n->dweight : NULL;
    a->dbias = n->dbias.data ? &n->dbias : NULL;
    a->run_mean = n->run_mean.data ? &n->run_mean : NULL;
    a->run_var = n->run_var.data ? &n->run_var : NULL;
    a->training = g->training;
    /* A distinct, reproducible dropout mask per (seed, step, layer). */
    a->seed = g->seed * 0x9e3779b97f4a7c15ull ^ (g->step << 20) ^ (uint64_t)i;
    /* A shard of a larger batch: the mask element idx of this graph is
     * element idx + off of the whole batch's, off = sample_offset * c*h*w;
     * the mask hashes seed + (idx + 1) * golden (dropout-mask.h), so moving
     * the seed by off * golden gives exactly those bits. */
    if (g->sample_offset)
        a->seed += g->sample_offset * (uint64_t)n->c * (uint64_t)n->h * (uint64_t)n->w * 0x9e3779b97f4a7c15ull;
}

ts_status ts_graph_forward(ts_graph *g, const ts_tensor *input)
{
    const ts_node *in = &g->nodes[0];
    if (input->c != in->c || input->h != in->h || input->w != in->w) {
        char buf[64];
        return ts_error(TS_ERR_SHAPE, "input %s does not fit the network's (N,%d,%d,%d)",
                        ts_shape_str(input, buf, sizeof buf), in->c, in->h, in->w);
    }
    TS_TRY(ts_graph_set_batch(g, input->n));
    void *ctx;
    const ts_backend *be = ts_graph_backend(g, &ctx);
    TS_TRY(ts_graph_write(g, g->nodes[0].out.data, input->data, ts_tensor_numel(input)));
    g->step++;
    for (int i = 1; i <= g->output; i++) {
        ts_op_args a;
        wire(g, i, &a);
        double t0 = g->op_seconds ? seconds() : 0.0;
        ts_status st = be->forward(ctx, &a);
        if (g->op_seconds) g->op_seconds[i] += seconds() - t0;
        if (st != TS_OK) return ts_error_prefix(st, "layer '%s': ", g->nodes[i].name);
    }
    return TS_OK;
}

/* Whether node n reads its input k through another input too (add(x, x)):
 * then that input's gradient gets two terms and must start at zero. */
static bool read_twice(const ts_node *n, int k)
{
    for (int m = 0; m < n->n_inputs; m++)
        if (m != k && n->inputs[m] == n->inputs[k]) return true;
    return false;
}

ts_status ts_graph_backward(ts_graph *g)
{
    TS_ASSERT(g->batch > 0);
    void *ctx;
    const ts_backend *be = ts_graph_backend(g, &ctx);
    /* Every dout but the output's (the loss wrote it) starts at zero, for
     * the backward passes add onto it.  Each is zeroed just before the
     * first pass that adds to it (its last consumer's, walking back), where
     * it is still warm in the cache for that pass, rather than all of them
     * up front; not at all where that pass writes it whole (the backend's
     * writes_din: it is told the buffer is fresh), nor the image's when no
     * one wants it. */
    bool *zeroed = calloc((size_t)g->n_nodes, sizeof *zeroed);
    if (!zeroed) return ts_error(TS_ERR_OOM, "backward: no memory for %d flags", g->n_nodes);
    zeroed[g->output] = true;
    if (g->skip_input_grad) zeroed[0] = true;
    /* Walk back, recomputing the dropout seed of each layer's forward step. */
    g->step--;
    ts_status st = TS_OK;
    for (int i = g->output; i >= 1 && st == TS_OK; i--) {
        const ts_node *n = &g->nodes[i];
        double t0 = g->op_seconds ? seconds() : 0.0;
        ts_op_args a;
        wire(g, i, &a);
        /* its own dout when nothing consumed it; then its inputs', unless
         * the op writes them whole (an input read once by it) */
        for (int k = -1; k < n->n_inputs && st == TS_OK; k++) {
            const int j = k < 0 ? i : n->inputs[k];
            if (zeroed[j]) continue;
            zeroed[j] = true;
            if (k >= 0 && a.din[k] && be->writes_din && !read_twice(n, k) && be->writes_din(ctx, &a, k))
                a.din_fresh[k] = true;
            else
                st = be->mem.zero(ctx, g->nodes[j].dout.data, ts_tensor_numel(&g->nodes[j].dout));
        }
        if (st != TS_OK) break;
        st = be->backward(ctx, &a);
        if (g->op_seconds) g->op_seconds[g->n_nodes + i] += seconds() - t0;
        if (st != TS_OK) st = ts_error_prefix(st, "layer '%s' backward: ", n->name);
    }
    /* an image no layer reads still ends with its gradient: zero */
    if (st == TS_OK && !zeroed[0]) st = be->mem.zero(ctx, g->nodes[0].dout.data, ts_tensor_numel(&g->nodes[0].dout));
    free(zeroed);
    g->step++;
    return st;
}
