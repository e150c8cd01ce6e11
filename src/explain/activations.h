/* activations.h - pictures of what a layer sees: response grids and filters.
 *
 * Follows Fig. 5 of the LACNN paper (lacnn-face-attributes.txt, section 4):
 * the 96 responses of AlexNet's conv1 to one input, laid out on a 10 x 10
 * grid (row-major, map k at row k / cols, column k % cols; the 4 cells left
 * over stay empty).  Any layer can be shown by name; an fc layer's outputs
 * are 1x1 maps.  Filters: a conv layer's weights, one tile per output
 * channel, channels 0..2 as R, G, B (each filter scaled symmetrically
 * around 0 so that grey is 0), and any single channel (channel 3 is the
 * A(x,y) channel of a LACNN model) as its own grid.
 *
 * Normalisation: per map (each map's own min..max to 0..1, a constant map
 * shows 0.5), or shared (one min..max over all maps, so map brightness
 * compares across maps).  Grids are float pictures in [0,1] with NaN for
 * the background (gaps and empty cells); ts_act_grid_render colours them
 * with the perceptual map of colormap.h, the background light grey.
 */
#ifndef TS_ACTIVATIONS_H
#define TS_ACTIVATIONS_H

#include <stdbool.h>

#include "face/image.h"
#include "nn/graph.h"

typedef struct ts_act_opts {
    int cols;          /* grid columns; 0: 10 for up to 100 maps, else ceil(sqrt(n)) */
    int scale;         /* integer upscale of every map; 0: smallest giving >= 48 px */
    int gap;           /* background pixels between cells; < 0 means 0, default 2 when 0 */
    bool shared_norm;  /* one range for all maps instead of one per map */
} ts_act_opts;

/* A float picture, w x h, row-major; NaN = background.  Owned. */
typedef struct ts_act_grid {
    int w, h;
    int cols, rows, cell_w, cell_h; /* layout, for hit testing in the app */
    float lo, hi;                   /* the value range mapped to 0..1 (shared), or NaN */
    float *v;
} ts_act_grid;

void ts_act_grid_clear(ts_act_grid *g);

/* Grid of `n_maps` maps of map_h x map_w floats (contiguous, map after map). */
ts_status ts_act_grid_maps(const float *maps, int n_maps, int map_h, int map_w, const ts_act_opts *o,
                           ts_act_grid *out);

/* Grid of the output of layer `layer` for sample `n` of the last forward
 * pass.  TS_ERR_ARG naming the layer (and listing the layers) when there is
 * no such layer; TS_ERR_ARG when no forward pass has run for sample n. */
ts_status ts_act_grid_layer(const ts_graph *g, const char *layer, int n, const ts_act_opts *o,
                            ts_act_grid *out);

/* Filters of conv layer `layer` as an RGB picture (input channels 0..2; a
 * layer with fewer than 3 input channels shows channel 0 as grey).
 * TS_ERR_ARG when the layer is missing or not a conv2d. */
ts_status ts_act_filters_rgb(const ts_graph *g, const char *layer, const ts_act_opts *o, ts_image *out);

/* Input channel `channel` of every filter of conv layer `layer` as a grid
 * (e.g. channel 3, the A(x,y) channel of a LACNN conv1).  TS_ERR_ARG when
 * the layer has no such channel. */
ts_status ts_act_filters_channel(const ts_graph *g, const char *layer, int channel,
                                 const ts_act_opts *o, ts_act_grid *out);

/* Colours a grid with the perceptual colour map (colormap.h); background
 * light grey.  transfer: full (out, ts_image_clear). */
ts_status ts_act_grid_render(const ts_act_grid *grid, ts_image *out);

/* ---- one layer, raw: what an enlarged map and its filter are drawn from ---- */

/* The outputs of one layer for one sample, unnormalised, and for a conv2d
 * layer a copy of its weights and biases, so that a reader on another
 * thread (the app's main thread) never touches the graph.  Owned. */
typedef struct ts_act_layer {
    char name[64];
    int c, h, w;             /* output maps */
    float *maps;             /* (c, h, w) raw responses */
    /* conv2d only (weight NULL and the rest 0 for other ops): */
    int in_c, kh, kw, stride;
    int pad_t, pad_l;
    float *weight;           /* (c, in_c, kh, kw) */
    float *bias;             /* (c), NULL when the layer has none */
} ts_act_layer;

/* Copies layer `layer`'s output for sample `n` of the last forward pass and,
 * for a conv2d, its parameters.  Errors as ts_act_grid_layer.
 * transfer: full (out, ts_act_layer_clear). */
ts_status ts_act_layer_copy(const ts_graph *g, const char *layer, int n, ts_act_layer *out);
void ts_act_layer_clear(ts_act_layer *l);

/* Smallest, largest and mean value of map k (0 <= k < l->c). */
void ts_act_layer_map_stats(const ts_act_layer *l, int k, float *lo, float *hi, double *mean);

#endif
