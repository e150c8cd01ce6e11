/* activations.c - response grids and filter pictures (activations.h; the
 * layout of Fig. 5 of the LACNN paper).
 *
 * Invariants: grids hold values in [0,1] or NaN (background); every map is
 * upscaled by pixel replication (nearest), so one grid pixel block is one
 * unit's response and nothing is invented between units.
 */
#include "explain/activations.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/colormap.h"

void ts_act_grid_clear(ts_act_grid *g)
{
    if (!g) return;
    free(g->v);
    memset(g, 0, sizeof *g);
}

typedef struct layout {
    int cols, rows, scale, gap, cw, ch, w, h;
} layout;

static ts_status plan(int n_maps, int mh, int mw, const ts_act_opts *o, layout *l)
{
    ts_act_opts d = o ? *o : (ts_act_opts){ 0 };
    if (n_maps < 1 || mh < 1 || mw < 1)
        return ts_error(TS_ERR_ARG, "activation grid: %d maps of %dx%d", n_maps, mw, mh);
    l->cols = d.cols > 0 ? d.cols : n_maps <= 100 ? (n_maps < 10 ? n_maps : 10)
                                                  : (int)ceil(sqrt((double)n_maps));
    l->rows = (n_maps + l->cols - 1) / l->cols;
    int big = mh > mw ? mh : mw;
    l->scale = d.scale > 0 ? d.scale : (48 + big - 1) / big;
    l->gap = d.gap < 0 ? 0 : d.gap == 0 ? 2 : d.gap;
    l->cw = mw * l->scale;
    l->ch = mh * l->scale;
    long w = (long)l->cols * l->cw + (long)(l->cols - 1) * l->gap;
    long h = (long)l->rows * l->ch + (long)(l->rows - 1) * l->gap;
    if (w > TS_IMAGE_MAX_SIDE || h > TS_IMAGE_MAX_SIDE)
        return ts_error(TS_ERR_ARG, "activation grid: %ldx%ld pixels is too large (lower the scale)", w, h);
    l->w = (int)w;
    l->h = (int)h;
    return TS_OK;
}

/* transfer: full.  A host copy of n floats of the graph's memory (its
 * activations and weights may live on a GPU); NULL with a message. */
static float *host_copy(const ts_graph *g, const float *src, size_t n, const char *what)
{
    float *d = malloc((n ? n : 1) * sizeof(float));
    if (!d) {
        ts_error(TS_ERR_OOM, "%s: out of memory", what);
        return NULL;
    }
    if (ts_graph_read(g, src, d, n) != TS_OK) {
        free(d);
        return NULL;
    }
    return d;
}

ts_status ts_act_grid_maps(const float *maps, int n_maps, int mh, int mw, const ts_act_opts *o,
                           ts_act_grid *out)
{
    memset(out, 0, sizeof *out);
    layout l;
    TS_TRY(plan(n_maps, mh, mw, o, &l));
    size_t npix = (size_t)l.w * l.h, hw = (size_t)mh * mw;
    out->v = malloc(npix * sizeof(float));
    if (!out->v) return ts_error(TS_ERR_OOM, "activation grid %dx%d", l.w, l.h);
    for (size_t q = 0; q < npix; q++) out->v[q] = NAN;
    out->w = l.w, out->h = l.h, out->cols = l.cols, out->rows = l.rows;
    out->cell_w = l.cw, out->cell_h = l.ch;
    out->lo = out->hi = NAN;

    bool shared = o && o->shared_norm;
    float glo = INFINITY, ghi = -INFINITY;
    if (shared) {
        for (size_t q = 0; q < hw * n_maps; q++)
            if (isfinite(maps[q])) glo = fminf(glo, maps[q]), ghi = fmaxf(ghi, maps[q]);
        out->lo = glo, out->hi = ghi;
    }
    for (int k = 0; k < n_maps; k++) {
        const float *m = maps + (size_t)k * hw;
        float lo = glo, hi = ghi;
        if (!shared) {
            lo = INFINITY, hi = -INFINITY;
            for (size_t q = 0; q < hw; q++)
                if (isfinite(m[q])) lo = fminf(lo, m[q]), hi = fmaxf(hi, m[q]);
        }
        float span = hi - lo;
        int ox = (k % l.cols) * (l.cw + l.gap), oy = (k / l.cols) * (l.ch + l.gap);
        for (int y = 0; y < l.ch; y++)
            for (int x = 0; x < l.cw; x++) {
                float v = m[(size_t)(y / l.scale) * mw + x / l.scale];
                float t = !isfinite(v) ? 0.0f : span > 0 ? (v - lo) / span : 0.5f;
                out->v[(size_t)(oy + y) * l.w + ox + x] = t;
            }
    }
    return TS_OK;
}

static ts_status find_layer(const ts_graph *g, const char *layer, int *index)
{
    int i = layer ? ts_graph_index(g, layer) : -1;
    if (i >= 0) {
        *index = i;
        return TS_OK;
    }
    char names[512];
    size_t used = 0;
    names[0] = '\0';
    for (int k = 0; k < g->n_nodes && used + 4 < sizeof names; k++) {
        int w = snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", g->nodes[k].name);
        if (w < 0 || used + (size_t)w >= sizeof names) break;
        used += (size_t)w;
    }
    return ts_error(TS_ERR_ARG, "unknown layer '%s' (layers: %s)", layer ? layer : "(null)", names);
}

ts_status ts_act_grid_layer(const ts_graph *g, const char *layer, int n, const ts_act_opts *o,
                            ts_act_grid *out)
{
    memset(out, 0, sizeof *out);
    int i;
    TS_TRY(find_layer(g, layer, &i));
    const ts_node *nd = &g->nodes[i];
    if (g->batch < 1 || n < 0 || n >= g->batch || !nd->out.data)
        return ts_error(TS_ERR_ARG, "layer '%s': no forward pass has run for sample %d", layer, n);
    size_t per = (size_t)nd->c * nd->h * nd->w;
    float *maps = host_copy(g, nd->out.data + (size_t)n * per, per, layer);
    if (!maps) return ts_error_prefix(TS_ERR_DEVICE, "activations: ");
    ts_status st = ts_act_grid_maps(maps, nd->c, nd->h, nd->w, o, out);
    free(maps);
    return st;
}

static ts_status conv_layer(const ts_graph *g, const char *layer, const ts_node **nd)
{
    int i;
    TS_TRY(find_layer(g, layer, &i));
    *nd = &g->nodes[i];
    if ((*nd)->op != TS_OP_CONV2D || !(*nd)->weight.data)
        return ts_error(TS_ERR_ARG, "layer '%s' is a %s, filters need a conv2d layer", layer,
                        ts_op_name((*nd)->op));
    return TS_OK;
}

ts_status ts_act_filters_rgb(const ts_graph *g, const char *layer, const ts_act_opts *o, ts_image *out)
{
    memset(out, 0, sizeof *out);
    const ts_node *nd;
    TS_TRY(conv_layer(g, layer, &nd));
    ts_tensor w_host = nd->weight;
    w_host.data = host_copy(g, nd->weight.data, ts_tensor_numel(&nd->weight), layer);
    if (!w_host.data) return ts_error_prefix(TS_ERR_DEVICE, "filters: ");
    const ts_tensor *w = &w_host;
    int O = w->n, Cw = w->c, KH = w->h, KW = w->w, nc = Cw >= 3 ? 3 : 1;
    ts_act_opts d = o ? *o : (ts_act_opts){ 0 };
    if (d.scale <= 0) d.scale = (32 + (KH > KW ? KH : KW) - 1) / (KH > KW ? KH : KW);
    layout l;
    ts_status st = plan(O, KH, KW, &d, &l);
    if (st == TS_OK) st = ts_image_init(out, l.w, l.h);
    if (st != TS_OK) {
        free(w_host.data);
        return st;
    }
    for (int y = 0; y < l.h; y++)
        memset(ts_image_pixel(out, 0, y), 235, (size_t)l.w * 3);
    /* Shared: one symmetric range over all filters. */
    float gmax = 0;
    for (size_t q = 0; q < ts_tensor_numel(w); q++) gmax = fmaxf(gmax, fabsf(w->data[q]));
    size_t khw = (size_t)KH * KW;
    for (int k = 0; k < O; k++) {
        const float *f = w->data + (size_t)k * Cw * khw;
        float m = d.shared_norm ? gmax : 0;
        if (!d.shared_norm)
            for (size_t q = 0; q < nc * khw; q++) m = fmaxf(m, fabsf(f[q]));
        int ox = (k % l.cols) * (l.cw + l.gap), oy = (k / l.cols) * (l.ch + l.gap);
        for (int y = 0; y < l.ch; y++)
            for (int x = 0; x < l.cw; x++) {
                uint8_t *p = ts_image_pixel(out, ox + x, oy + y);
                size_t q = (size_t)(y / l.scale) * KW + x / l.scale;
                for (int c = 0; c < 3; c++) {
                    float v = f[(nc == 3 ? c : 0) * khw + q];
                    float t = m > 0 ? 0.5f + 0.5f * v / m : 0.5f;
                    p[c] = (uint8_t)lrintf(fminf(fmaxf(t, 0.0f), 1.0f) * 255.0f);
                }
            }
    }
    free(w_host.data);
    return TS_OK;
}

ts_status ts_act_filters_channel(const ts_graph *g, const char *layer, int channel,
                                 const ts_act_opts *o, ts_act_grid *out)
{
    memset(out, 0, sizeof *out);
    const ts_node *nd;
    TS_TRY(conv_layer(g, layer, &nd));
    const ts_tensor *w = &nd->weight;
    if (channel < 0 || channel >= w->c)
        return ts_error(TS_ERR_ARG, "layer '%s': filters have %d input channels, no channel %d", layer,
                        w->c, channel);
    size_t khw = (size_t)w->h * w->w;
    float *all = host_copy(g, w->data, ts_tensor_numel(w), layer);
    if (!all) return ts_error_prefix(TS_ERR_DEVICE, "filters: ");
    float *maps = malloc((size_t)w->n * khw * sizeof(float));
    if (!maps) {
        free(all);
        return ts_error(TS_ERR_OOM, "filters of '%s'", layer);
    }
    for (int k = 0; k < w->n; k++)
        memcpy(maps + k * khw, all + ((size_t)k * w->c + channel) * khw, khw * sizeof(float));
    free(all);
    ts_act_opts d = o ? *o : (ts_act_opts){ 0 };
    if (d.scale <= 0) d.scale = (32 + (w->h > w->w ? w->h : w->w) - 1) / (w->h > w->w ? w->h : w->w);
    ts_status st = ts_act_grid_maps(maps, w->n, w->h, w->w, &d, out);
    free(maps);
    return st;
}

ts_status ts_act_grid_render(const ts_act_grid *grid, ts_image *out)
{
    memset(out, 0, sizeof *out);
    if (!grid->v || grid->w < 1 || grid->h < 1) return ts_error(TS_ERR_ARG, "empty activation grid");
    TS_TRY(ts_image_init(out, grid->w, grid->h));
    for (int y = 0; y < grid->h; y++)
        for (int x = 0; x < grid->w; x++) {
            float v = grid->v[(size_t)y * grid->w + x];
            uint8_t *p = ts_image_pixel(out, x, y);
            if (isnan(v)) p[0] = p[1] = p[2] = 235; /* background */
            else ts_cmap_viridis(v, p);
        }
    return TS_OK;
}

/* ---- ts_act_layer ---- */

void ts_act_layer_clear(ts_act_layer *l)
{
    if (!l) return;
    free(l->maps);
    free(l->weight);
    free(l->bias);
    memset(l, 0, sizeof *l);
}

ts_status ts_act_layer_copy(const ts_graph *g, const char *layer, int n, ts_act_layer *out)
{
    memset(out, 0, sizeof *out);
    int i;
    TS_TRY(find_layer(g, layer, &i));
    const ts_node *nd = &g->nodes[i];
    if (g->batch < 1 || n < 0 || n >= g->batch || !nd->out.data)
        return ts_error(TS_ERR_ARG, "layer '%s': no forward pass has run for sample %d", layer, n);
    snprintf(out->name, sizeof out->name, "%s", nd->name);
    out->c = nd->c, out->h = nd->h, out->w = nd->w;
    size_t per = (size_t)nd->c * nd->h * nd->w;
    out->maps = host_copy(g, nd->out.data + (size_t)n * per, per, layer);
    if (!out->maps) goto oom;
    if (nd->op == TS_OP_CONV2D && nd->weight.data) {
        const ts_tensor *w = &nd->weight;
        /* (O, C/groups, KH, KW): the filter sees in_c channels of its group */
        out->in_c = w->c, out->kh = w->h, out->kw = w->w, out->stride = nd->stride;
        out->pad_t = nd->pad_t, out->pad_l = nd->pad_l;
        out->weight = host_copy(g, w->data, ts_tensor_numel(w), layer);
        if (!out->weight) goto oom;
        if (nd->has_bias && nd->bias.data) {
            out->bias = host_copy(g, nd->bias.data, (size_t)w->n, layer);
            if (!out->bias) goto oom;
        }
    }
    return TS_OK;
oom:
    ts_act_layer_clear(out);
    return ts_error_prefix(TS_ERR_OOM, "copy of layer '%s': ", layer);
}

void ts_act_layer_map_stats(const ts_act_layer *l, int k, float *lo, float *hi, double *mean)
{
    TS_ASSERT(l->maps && k >= 0 && k < l->c);
    size_t hw = (size_t)l->h * l->w;
    const float *m = l->maps + (size_t)k * hw;
    float a = INFINITY, b = -INFINITY;
    double s = 0;
    for (size_t q = 0; q < hw; q++) {
        a = fminf(a, m[q]);
        b = fmaxf(b, m[q]);
        s += m[q];
    }
    if (lo) *lo = a;
    if (hi) *hi = b;
    if (mean) *mean = hw ? s / (double)hw : 0;
}
