/* graph.c - building, shaping, sizing and moving a network graph; see
 * graph.h.
 *
 * Every node's shape comes from shape.h's rules (ts_node_infer_shape).
 * The graph never computes: it sizes arenas and moves them between host
 * and device memory; the layer below wires its tensors into ops and runs
 * them.
 *
 * Arenas live in g->mem: params and grads are made on the host by
 * ts_graph_finalize and moved by ts_graph_move; acts are always made (and
 * freed) in g->mem.
 */
#include "nn/graph.h"

#include <math.h>
#include <string.h>

#include "nn/shape.h"

ts_graph *ts_graph_new(int c, int h, int w)
{
    ts_graph *g = calloc(1, sizeof *g);
    TS_ASSERT(g);
    g->seed = 1; /* g->mem NULL: host memory */
    ts_node *in = ts_graph_add(g, TS_OP_INPUT, "data", 0, NULL);
    in->c = c;
    in->h = h;
    in->w = w;
    return g;
}

ts_node *ts_graph_add(ts_graph *g, ts_op op, const char *name, int n_inputs, const int *inputs)
{
    TS_ASSERT(n_inputs >= 0 && n_inputs <= TS_MAX_INPUTS);
    ts_node *nodes = realloc(g->nodes, (size_t)(g->n_nodes + 1) * sizeof *nodes);
    TS_ASSERT(nodes);
    g->nodes = nodes;
    ts_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    snprintf(n->name, sizeof n->name, "%s", name);
    if (op != TS_OP_INPUT) {
        if (n_inputs == 0) {
            n->n_inputs = 1;
            n->inputs[0] = g->n_nodes - 1;
        } else {
            n->n_inputs = n_inputs;
            memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof *inputs);
        }
    }
    ts_node_defaults(n);
    g->output = g->n_nodes;
    g->n_nodes++;
    return n;
}

static ts_status bad(const ts_node *n, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "layer '%s' (%s): %s", n->name, ts_op_name(n->op), what);
}

/* Parameter shapes of node n, or 0 when it has none. */
static int param_shapes(const ts_graph *g, const ts_node *n, int wshape[4], int *bias_len)
{
    const ts_node *in = &g->nodes[n->inputs[0]];
    *bias_len = 0;
    if (n->op == TS_OP_CONV2D) {
        wshape[0] = n->out_c;
        wshape[1] = in->c / n->groups;
        wshape[2] = n->kh;
        wshape[3] = n->kw;
    } else if (n->op == TS_OP_FC) {
        wshape[0] = n->out_c;
        wshape[1] = in->c * in->h * in->w;
        wshape[2] = wshape[3] = 1;
    } else if (n->op == TS_OP_BATCHNORM) {
        /* gamma and beta; the running statistics come after (has_stats) */
        wshape[0] = wshape[2] = wshape[3] = 1;
        wshape[1] = in->c;
        *bias_len = in->c;
        return 1;
    } else {
        return 0;
    }
    *bias_len = n->has_bias ? n->out_c : 0;
    return 1;
}

static bool has_stats(const ts_node *n) { return n->op == TS_OP_BATCHNORM; }

/* Shapes and checks every node; the parameters' floats (weights and
 * biases) into *numel and the arena they need (alignment included) into
 * *arena. */
static ts_status shape_all(ts_graph *g, size_t *numel_total, size_t *arena_total)
{
    if (g->n_nodes < 2) return ts_error(TS_ERR_FORMAT, "network has no layers after the input");
    for (int i = 0; i < g->n_nodes; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(g->nodes[i].name, g->nodes[j].name))
                return ts_error(TS_ERR_FORMAT, "two layers are called '%s'", g->nodes[i].name);
        TS_TRY(ts_node_infer_shape(g->nodes, i));
    }
    size_t total = 0, count = 0;
    for (int i = 1; i < g->n_nodes; i++) {
        int ws[4], bl;
        if (!param_shapes(g, &g->nodes[i], ws, &bl)) continue;
        double numel = (double)ws[0] * ws[1] * ws[2] * ws[3];
        if (numel > 1e9) return bad(&g->nodes[i], "more than 10^9 weights");
        total += ts_arena_size_for(ws[0], ws[1], ws[2], ws[3]);
        count += (size_t)numel;
        if (bl) total += ts_arena_size_for(1, bl, 1, 1), count += (size_t)bl;
        if (has_stats(&g->nodes[i])) total += 2 * ts_arena_size_for(1, bl, 1, 1), count += 2 * (size_t)bl;
        /* An architecture from an untrusted file must not reserve absurd
         * memory: 2^31 floats (8 GiB) is 15x VGG-16. */
        if (total > ((size_t)1 << 31)) return bad(&g->nodes[i], "network exceeds 2^31 parameters");
    }
    *numel_total = count;
    *arena_total = total;
    return TS_OK;
}

ts_status ts_graph_shape(ts_graph *g, size_t *param_floats)
{
    size_t count, total;
    TS_TRY(shape_all(g, &count, &total));
    if (param_floats) *param_floats = count;
    return TS_OK;
}

ts_status ts_graph_finalize(ts_graph *g)
{
    size_t count, total;
    TS_TRY(shape_all(g, &count, &total));
    ts_arena_clear(&g->params);
    ts_arena_clear(&g->grads);
    TS_TRY(ts_arena_init(&g->params, total));
    TS_TRY(ts_arena_init(&g->grads, total));
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        int ws[4], bl;
        if (!param_shapes(g, n, ws, &bl)) continue;
        n->weight = ts_arena_take(&g->params, ws[0], ws[1], ws[2], ws[3]);
        n->dweight = ts_arena_take(&g->grads, ws[0], ws[1], ws[2], ws[3]);
        if (bl) {
            n->bias = ts_arena_take(&g->params, 1, bl, 1, 1);
            n->dbias = ts_arena_take(&g->grads, 1, bl, 1, 1);
        }
        if (has_stats(n)) { /* the grads arena keeps the layout: its slots stay 0 */
            n->run_mean = ts_arena_take(&g->params, 1, bl, 1, 1);
            n->run_var = ts_arena_take(&g->params, 1, bl, 1, 1);
            (void)ts_arena_take(&g->grads, 1, bl, 1, 1);
            (void)ts_arena_take(&g->grads, 1, bl, 1, 1);
        }
    }
    g->batch = 0;
    return TS_OK;
}

ts_node *ts_graph_find(ts_graph *g, const char *name)
{
    int i = ts_graph_index(g, name);
    return i < 0 ? NULL : &g->nodes[i];
}

int ts_graph_index(const ts_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

size_t ts_graph_param_count(const ts_graph *g)
{
    size_t n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += ts_tensor_numel(&g->nodes[i].weight) + ts_tensor_numel(&g->nodes[i].bias) +
             ts_tensor_numel(&g->nodes[i].run_mean) + ts_tensor_numel(&g->nodes[i].run_var);
    return n;
}

static bool needs_aux(const ts_node *n)
{
    return n->op == TS_OP_MAXPOOL || n->op == TS_OP_LRN || n->op == TS_OP_DROPOUT || n->op == TS_OP_BATCHNORM;
}

/* The aux buffer's shape for batch n: like the output, but batchnorm's
 * per-channel mean and 1/sqrt(var + eps) of the batch (1,2,C,1). */
static void aux_shape(const ts_node *nd, int n, int s[4])
{
    if (nd->op == TS_OP_BATCHNORM) s[0] = 1, s[1] = 2, s[2] = nd->c, s[3] = 1;
    else s[0] = n, s[1] = nd->c, s[2] = nd->h, s[3] = nd->w;
}

/* An arena in the graph's memory. */
static ts_status graph_arena_init(ts_graph *g, ts_arena *a, size_t floats)
{
    if (g->mem) return g->mem->arena_init(g->mem_ctx, a, floats);
    return ts_arena_init(a, floats);
}

static void graph_arena_clear(ts_graph *g, ts_arena *a)
{
    if (a->on_device && g->mem) g->mem->arena_clear(g->mem_ctx, a);
    else ts_arena_clear(a);
}

ts_status ts_graph_set_batch(ts_graph *g, int n)
{
    if (n < 1) return ts_error(TS_ERR_ARG, "batch size must be >= 1 (got %d)", n);
    if (g->batch == n) return TS_OK;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ts_node *nd = &g->nodes[i];
        int as[4];
        aux_shape(nd, n, as);
        total += 2 * ts_arena_size_for(n, nd->c, nd->h, nd->w) +
                 (needs_aux(nd) ? ts_arena_size_for(as[0], as[1], as[2], as[3]) : 0);
    }
    graph_arena_clear(g, &g->acts);
    g->batch = 0;
    TS_TRY(graph_arena_init(g, &g->acts, total));
    for (int i = 0; i < g->n_nodes; i++) {
        ts_node *nd = &g->nodes[i];
        nd->out = ts_arena_take(&g->acts, n, nd->c, nd->h, nd->w);
        nd->dout = ts_arena_take(&g->acts, n, nd->c, nd->h, nd->w);
        int as[4];
        aux_shape(nd, n, as);
        nd->aux = needs_aux(nd) ? ts_arena_take(&g->acts, as[0], as[1], as[2], as[3]) : (ts_tensor){ 0 };
    }
    g->batch = n;
    return TS_OK;
}

void ts_graph_zero_grads(ts_graph *g)
{
    if (!g->grads.on_device) ts_arena_zero(&g->grads);
    /* A device failure here is sticky and reported by the next call. */
    else (void)g->mem->zero(g->mem_ctx, g->grads.base, g->grads.used);
}

/* Arena functions of memory `m` (NULL: the host). */
static ts_status mem_arena_init(const ts_memory *m, void *ctx, ts_arena *a, size_t floats)
{
    return m ? m->arena_init(ctx, a, floats) : ts_arena_init(a, floats);
}

static void mem_arena_clear(const ts_memory *m, void *ctx, ts_arena *a)
{
    if (m) m->arena_clear(ctx, a);
    else ts_arena_clear(a);
}

/* A copy of arena `a` (in g's memory) in a new arena of memory `to`, one
 * copy. */
static ts_status copy_arena(ts_graph *g, const ts_arena *a, const ts_memory *to, void *to_ctx, ts_arena *na)
{
    TS_TRY(mem_arena_init(to, to_ctx, na, a->cap));
    ts_status st = TS_OK;
    if (a->used) {
        if (a->on_device) /* device -> host (to is the host) through the source's memory */
            st = g->mem->download(g->mem_ctx, na->base, a->base, a->used);
        else if (to)
            st = to->upload(to_ctx, na->base, a->base, a->used);
        else
            memcpy(na->base, a->base, a->used * sizeof(float));
    }
    if (st != TS_OK) {
        mem_arena_clear(to, to_ctx, na);
        return st;
    }
    na->used = a->used;
    return TS_OK;
}

/* Points every parameter (which 0) or gradient (1) view of `old` into `na`. */
static void rebase_views(ts_graph *g, const ts_arena *old, const ts_arena *na, int which)
{
    for (int i = 0; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        ts_tensor *t[4] = { which ? &n->dweight : &n->weight, which ? &n->dbias : &n->bias,
                            which ? NULL : &n->run_mean, which ? NULL : &n->run_var };
        for (int k = 0; k < 4; k++)
            if (t[k] && t[k]->data) t[k]->data = na->base + (t[k]->data - old->base);
    }
}

ts_status ts_graph_move(ts_graph *g, const ts_memory *to, void *ctx)
{
    if (g->mem == to && g->mem_ctx == ctx) return TS_OK;
    /* Moves go host -> device or device -> host, never device -> device. */
    if (g->params.on_device && to)
        return ts_error(TS_ERR_UNSUPPORTED, "graph: move it to the host before moving it to another device");
    /* Both copies first: a failure (a full device) leaves the graph as it
     * was. */
    ts_arena np, ng;
    TS_TRY(copy_arena(g, &g->params, to, ctx, &np));
    ts_status st = copy_arena(g, &g->grads, to, ctx, &ng);
    if (st != TS_OK) {
        mem_arena_clear(to, ctx, &np);
        return st;
    }
    graph_arena_clear(g, &g->acts);
    g->batch = 0;
    rebase_views(g, &g->params, &np, 0);
    rebase_views(g, &g->grads, &ng, 1);
    graph_arena_clear(g, &g->params);
    graph_arena_clear(g, &g->grads);
    g->params = np;
    g->grads = ng;
    g->mem = to;
    g->mem_ctx = ctx;
    return TS_OK;
}

ts_status ts_graph_read(const ts_graph *g, const float *src, float *dst, size_t n)
{
    if (n == 0) return TS_OK;
    if (g->mem) return g->mem->download(g->mem_ctx, dst, src, n);
    memcpy(dst, src, n * sizeof(float));
    return TS_OK;
}

ts_status ts_graph_write(ts_graph *g, float *dst, const float *src, size_t n)
{
    if (n == 0) return TS_OK;
    if (g->mem) return g->mem->upload(g->mem_ctx, dst, src, n);
    memcpy(dst, src, n * sizeof(float));
    return TS_OK;
}

ts_status ts_graph_logits_host(ts_graph *g, ts_tensor *logits, ts_tensor *dlogits)
{
    TS_ASSERT(g->batch > 0);
    ts_node *o = &g->nodes[g->output];
    int N = g->batch, K = o->c * o->h * o->w;
    size_t n = (size_t)N * K;
    if (!g->params.on_device && !g->acts.on_device) {
        *logits = (ts_tensor){ o->out.data, N, K, 1, 1 };
        *dlogits = (ts_tensor){ o->dout.data, N, K, 1, 1 };
        return TS_OK;
    }
    if (g->host_io_cap < 2 * n) {
        float *p = malloc(2 * n * sizeof(float));
        if (!p) return ts_error(TS_ERR_OOM, "graph: no memory for %zu host logits", n);
        free(g->host_io);
        g->host_io = p;
        g->host_io_cap = 2 * n;
    }
    *logits = (ts_tensor){ g->host_io, N, K, 1, 1 };
    *dlogits = (ts_tensor){ g->host_io + n, N, K, 1, 1 };
    return ts_graph_read(g, o->out.data, g->host_io, n);
}

ts_status ts_graph_dlogits_commit(ts_graph *g)
{
    if (!g->acts.on_device) return TS_OK; /* the loss wrote dout itself */
    ts_node *o = &g->nodes[g->output];
    size_t n = ts_tensor_numel(&o->dout);
    TS_ASSERT(g->host_io && g->host_io_cap >= 2 * n);
    return ts_graph_write(g, o->dout.data, g->host_io + n, n);
}

void ts_graph_init_params(ts_graph *g, uint64_t seed)
{
    ts_rng r;
    ts_rng_seed(&r, seed);
    g->seed = seed;
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        if (!n->weight.data) continue;
        if (n->op == TS_OP_BATCHNORM) { /* the identity: gamma 1, beta 0, mean 0, variance 1 */
            for (int c = 0; c < n->weight.c; c++)
                n->weight.data[c] = 1.0f, n->bias.data[c] = 0.0f, n->run_mean.data[c] = 0.0f, n->run_var.data[c] = 1.0f;
            continue;
        }
        size_t fan_in = (size_t)n->weight.c * n->weight.h * n->weight.w;
        /* He initialisation for ReLU networks; the logits layer gets Xavier's
         * smaller scale so that initial predictions are near uniform. */
        float std = sqrtf((i == g->output ? 1.0f : 2.0f) / (float)fan_in);
        size_t k = ts_tensor_numel(&n->weight);
        for (size_t j = 0; j < k; j++) n->weight.data[j] = std * ts_rng_normal(&r);
        if (n->bias.data) memset(n->bias.data, 0, ts_tensor_numel(&n->bias) * sizeof(float));
    }
}

void ts_graph_free(ts_graph *g)
{
    if (!g) return;
    graph_arena_clear(g, &g->params);
    graph_arena_clear(g, &g->grads);
    graph_arena_clear(g, &g->acts);
    free(g->host_io);
    free(g->nodes);
    free(g);
}
