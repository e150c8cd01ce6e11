/* graph.c - building, shaping and running a network graph; see graph.h.
 *
 * Shape rules follow Caffe, the framework both papers trained with:
 * convolution output floor((H + pad_t + pad_b - KH) / stride) + 1; pooling
 * output ceil(...) + 1, minus one when the last window would start in the
 * bottom/right padding (Caffe's PoolingLayer::Reshape), floor with
 * pool_floor.  The graph never computes: it sizes arenas, wires tensors into
 * ts_op_args and calls the backend.
 *
 * Arenas live where g->backend keeps its memory: params and grads are made
 * on the host by ts_graph_finalize and moved by ts_graph_to_backend; acts
 * are always made (and freed) by g->backend's arena functions.
 */
#include "graph.h"

#include <math.h>
#include <string.h>

#include "../backend/backend.h"

ts_graph *ts_graph_new(int c, int h, int w)
{
    ts_graph *g = calloc(1, sizeof *g);
    TS_ASSERT(g);
    g->backend = ts_backend_cpu();
    g->seed = 1;
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
    n->stride = 1;
    n->groups = 1;
    n->has_bias = 1;
    n->lrn_size = 5;
    n->lrn_alpha = 1e-4f;
    n->lrn_beta = 0.75f;
    n->lrn_k = 1.0f;
    n->p = 0.5f;
    n->slope = 0.01f;
    g->output = g->n_nodes;
    g->n_nodes++;
    return n;
}

static int pool_out(int in, int k, int s, int p0, int p1, int floor_mode)
{
    int span = in + p0 + p1 - k;
    if (span < 0) return 0;
    if (floor_mode) return span / s + 1;
    int out = (span + s - 1) / s + 1;
    /* Caffe: the last window must start inside the image or the top/left
     * padding, never entirely in the bottom/right padding. */
    if ((p0 > 0 || p1 > 0) && (out - 1) * s >= in + p0) out--;
    return out;
}

static ts_status bad(const ts_node *n, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "layer '%s' (%s): %s", n->name, ts_op_name(n->op), what);
}

/* Output shape of node i from its inputs; checks hyper-parameters. */
static ts_status infer_shape(ts_graph *g, int i)
{
    ts_node *n = &g->nodes[i];
    if (n->op == TS_OP_INPUT) {
        if (i != 0) return bad(n, "only the first layer can be the input");
        if (n->c < 1 || n->h < 1 || n->w < 1 || n->c > 4096 || n->h > 8192 || n->w > 8192)
            return bad(n, "input shape out of range");
        return TS_OK;
    }
    if (i == 0) return bad(n, "the first layer must be the input");
    if (n->n_inputs < 1) return bad(n, "has no input");
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] < 0 || n->inputs[k] >= i)
            return bad(n, "input must be an earlier layer");
    const ts_node *in = &g->nodes[n->inputs[0]];
    if (n->op != TS_OP_CONCAT && n->op != TS_OP_ADD && n->n_inputs != 1)
        return bad(n, "takes exactly one input");
    n->c = in->c;
    n->h = in->h;
    n->w = in->w;
    switch (n->op) {
    case TS_OP_CONV2D:
        if (n->out_c < 1 || n->out_c > 65536) return bad(n, "output channels out of range");
        if (n->kh < 1 || n->kw < 1 || n->kh > 64 || n->kw > 64) return bad(n, "kernel size out of range");
        if (n->stride < 1 || n->stride > 64) return bad(n, "stride out of range");
        if (n->pad_t < 0 || n->pad_b < 0 || n->pad_l < 0 || n->pad_r < 0 ||
            n->pad_t >= n->kh || n->pad_b >= n->kh || n->pad_l >= n->kw || n->pad_r >= n->kw)
            return bad(n, "padding must be >= 0 and smaller than the kernel");
        if (n->groups < 1 || in->c % n->groups || n->out_c % n->groups)
            return bad(n, "groups must divide input and output channels");
        n->c = n->out_c;
        n->h = (in->h + n->pad_t + n->pad_b - n->kh) / n->stride + 1;
        n->w = (in->w + n->pad_l + n->pad_r - n->kw) / n->stride + 1;
        if (in->h + n->pad_t + n->pad_b < n->kh || in->w + n->pad_l + n->pad_r < n->kw)
            return bad(n, "kernel larger than the padded input");
        break;
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL:
        if (n->global) {
            n->kh = in->h;
            n->kw = in->w;
            n->stride = 1;
            n->pad_t = n->pad_b = n->pad_l = n->pad_r = 0;
        }
        if (n->kh < 1 || n->kw < 1 || n->stride < 1) return bad(n, "kernel and stride must be >= 1");
        if (n->pad_t < 0 || n->pad_b < 0 || n->pad_l < 0 || n->pad_r < 0 ||
            n->pad_t >= n->kh || n->pad_b >= n->kh || n->pad_l >= n->kw || n->pad_r >= n->kw)
            return bad(n, "padding must be >= 0 and smaller than the kernel");
        n->h = pool_out(in->h, n->kh, n->stride, n->pad_t, n->pad_b, n->pool_floor);
        n->w = pool_out(in->w, n->kw, n->stride, n->pad_l, n->pad_r, n->pool_floor);
        break;
    case TS_OP_FC:
        if (n->out_c < 1 || n->out_c > 1 << 20) return bad(n, "output size out of range");
        n->c = n->out_c;
        n->h = n->w = 1;
        break;
    case TS_OP_LRN:
        if (n->lrn_size < 1 || n->lrn_size % 2 == 0) return bad(n, "size must be odd and >= 1");
        if (!(n->lrn_k > 0.0f) || !(n->lrn_alpha >= 0.0f) || !isfinite(n->lrn_beta))
            return bad(n, "k must be > 0 and alpha >= 0");
        break;
    case TS_OP_DROPOUT:
        if (!(n->p >= 0.0f && n->p < 1.0f)) return bad(n, "p must be in [0,1)");
        break;
    case TS_OP_LEAKY_RELU:
        if (!isfinite(n->slope)) return bad(n, "slope must be finite");
        break;
    case TS_OP_RELU:
        break;
    case TS_OP_CONCAT:
        n->c = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            const ts_node *a = &g->nodes[n->inputs[k]];
            if (a->h != in->h || a->w != in->w) return bad(n, "inputs differ in height or width");
            n->c += a->c;
        }
        break;
    case TS_OP_ADD:
        if (n->n_inputs < 2) return bad(n, "needs at least two inputs");
        for (int k = 1; k < n->n_inputs; k++) {
            const ts_node *a = &g->nodes[n->inputs[k]];
            if (a->c != in->c || a->h != in->h || a->w != in->w) return bad(n, "inputs differ in shape");
        }
        break;
    default:
        return bad(n, "unknown op");
    }
    if (n->c < 1 || n->h < 1 || n->w < 1) return bad(n, "output would be empty");
    return TS_OK;
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
    } else {
        return 0;
    }
    *bias_len = n->has_bias ? n->out_c : 0;
    return 1;
}

ts_status ts_graph_finalize(ts_graph *g)
{
    if (g->n_nodes < 2) return ts_error(TS_ERR_FORMAT, "network has no layers after the input");
    for (int i = 0; i < g->n_nodes; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(g->nodes[i].name, g->nodes[j].name))
                return ts_error(TS_ERR_FORMAT, "two layers are called '%s'", g->nodes[i].name);
        TS_TRY(infer_shape(g, i));
    }
    size_t total = 0;
    for (int i = 1; i < g->n_nodes; i++) {
        int ws[4], bl;
        if (!param_shapes(g, &g->nodes[i], ws, &bl)) continue;
        double numel = (double)ws[0] * ws[1] * ws[2] * ws[3];
        if (numel > 1e9) return bad(&g->nodes[i], "more than 10^9 weights");
        total += ts_arena_size_for(ws[0], ws[1], ws[2], ws[3]);
        if (bl) total += ts_arena_size_for(1, bl, 1, 1);
        /* An architecture from an untrusted file must not reserve absurd
         * memory: 2^31 floats (8 GiB) is 15x VGG-16. */
        if (total > ((size_t)1 << 31)) return bad(&g->nodes[i], "network exceeds 2^31 parameters");
    }
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
        n += ts_tensor_numel(&g->nodes[i].weight) + ts_tensor_numel(&g->nodes[i].bias);
    return n;
}

static bool needs_aux(const ts_node *n)
{
    return n->op == TS_OP_MAXPOOL || n->op == TS_OP_LRN || n->op == TS_OP_DROPOUT;
}

/* Arena functions of the graph's backend (host ones when it has none). */
static ts_status graph_arena_init(ts_graph *g, ts_arena *a, size_t floats)
{
    if (g->backend && g->backend->arena_init) return g->backend->arena_init(g->backend_ctx, a, floats);
    return ts_arena_init(a, floats);
}

static void graph_arena_clear(ts_graph *g, ts_arena *a)
{
    if (a->on_device && g->backend && g->backend->arena_clear) g->backend->arena_clear(g->backend_ctx, a);
    else ts_arena_clear(a);
}

ts_status ts_graph_set_batch(ts_graph *g, int n)
{
    if (n < 1) return ts_error(TS_ERR_ARG, "batch size must be >= 1 (got %d)", n);
    if (g->batch == n) return TS_OK;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ts_node *nd = &g->nodes[i];
        size_t one = ts_arena_size_for(n, nd->c, nd->h, nd->w);
        total += 2 * one + (needs_aux(nd) ? one : 0);
    }
    graph_arena_clear(g, &g->acts);
    g->batch = 0;
    TS_TRY(graph_arena_init(g, &g->acts, total));
    for (int i = 0; i < g->n_nodes; i++) {
        ts_node *nd = &g->nodes[i];
        nd->out = ts_arena_take(&g->acts, n, nd->c, nd->h, nd->w);
        nd->dout = ts_arena_take(&g->acts, n, nd->c, nd->h, nd->w);
        nd->aux = needs_aux(nd) ? ts_arena_take(&g->acts, n, nd->c, nd->h, nd->w) : (ts_tensor){ 0 };
    }
    g->batch = n;
    return TS_OK;
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
    const ts_backend *be = g->backend;
    size_t numel = ts_tensor_numel(input);
    if (be->upload) TS_TRY(be->upload(g->backend_ctx, g->nodes[0].out.data, input->data, numel));
    else memcpy(g->nodes[0].out.data, input->data, numel * sizeof(float));
    g->step++;
    for (int i = 1; i <= g->output; i++) {
        ts_op_args a;
        wire(g, i, &a);
        ts_status st = be->forward(g->backend_ctx, &a);
        if (st != TS_OK) return ts_error_prefix(st, "layer '%s': ", g->nodes[i].name);
    }
    return TS_OK;
}

ts_status ts_graph_backward(ts_graph *g)
{
    TS_ASSERT(g->batch > 0);
    const ts_backend *be = g->backend;
    for (int i = 0; i < g->output; i++) {
        ts_tensor *d = &g->nodes[i].dout;
        if (be->device == TS_DEVICE_CPU) memset(d->data, 0, ts_tensor_numel(d) * sizeof(float));
        else if (be->zero) TS_TRY(be->zero(g->backend_ctx, d->data, ts_tensor_numel(d)));
    }
    /* Walk back, recomputing the dropout seed of each layer's forward step. */
    g->step--;
    for (int i = g->output; i >= 1; i--) {
        ts_op_args a;
        wire(g, i, &a);
        ts_status st = be->backward(g->backend_ctx, &a);
        if (st != TS_OK) {
            g->step++;
            return ts_error_prefix(st, "layer '%s' backward: ", g->nodes[i].name);
        }
    }
    g->step++;
    return TS_OK;
}

void ts_graph_zero_grads(ts_graph *g)
{
    if (!g->grads.on_device) ts_arena_zero(&g->grads);
    /* A device failure here is sticky and reported by the next call. */
    else if (g->backend->zero) (void)g->backend->zero(g->backend_ctx, g->grads.base, g->grads.used);
}

/* A copy of arena `a` (made by g's backend) in a new arena of backend `to`,
 * one copy. */
static ts_status copy_arena(ts_graph *g, const ts_arena *a, const ts_backend *to, void *to_ctx, ts_arena *na)
{
    TS_TRY(to->arena_init(to_ctx, na, a->cap));
    ts_status st = TS_OK;
    if (a->used) {
        if (a->on_device) /* device -> host (to is the CPU) through the source backend */
            st = g->backend->download(g->backend_ctx, na->base, a->base, a->used);
        else
            st = to->upload(to_ctx, na->base, a->base, a->used);
    }
    if (st != TS_OK) {
        to->arena_clear(to_ctx, na);
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
        ts_tensor *t[2] = { which ? &n->dweight : &n->weight, which ? &n->dbias : &n->bias };
        for (int k = 0; k < 2; k++)
            if (t[k]->data) t[k]->data = na->base + (t[k]->data - old->base);
    }
}

ts_status ts_graph_to_backend(ts_graph *g, const ts_backend *be, void *ctx)
{
    if (g->backend == be && g->backend_ctx == ctx) return TS_OK;
    /* Moves go host -> device or device -> host, never device -> device. */
    if (g->params.on_device && be->device != TS_DEVICE_CPU)
        return ts_error(TS_ERR_UNSUPPORTED, "graph: move it to the CPU before moving it to another device");
    /* Both copies first: a failure (a full device) leaves the graph as it
     * was. */
    ts_arena np, ng;
    TS_TRY(copy_arena(g, &g->params, be, ctx, &np));
    ts_status st = copy_arena(g, &g->grads, be, ctx, &ng);
    if (st != TS_OK) {
        be->arena_clear(ctx, &np);
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
    g->backend = be;
    g->backend_ctx = ctx;
    return TS_OK;
}

ts_status ts_graph_read(const ts_graph *g, const float *src, float *dst, size_t n)
{
    if (n == 0) return TS_OK;
    if (g->backend && g->backend->download) return g->backend->download(g->backend_ctx, dst, src, n);
    memcpy(dst, src, n * sizeof(float));
    return TS_OK;
}

ts_status ts_graph_write(ts_graph *g, float *dst, const float *src, size_t n)
{
    if (n == 0) return TS_OK;
    if (g->backend && g->backend->upload) return g->backend->upload(g->backend_ctx, dst, src, n);
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
