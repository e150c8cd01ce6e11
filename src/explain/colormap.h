/* colormap.h - the one colour-map module of Traitscope.
 *
 * The CLI's pictures, the app's panels and figure export all colour data
 * through these functions, so the screen and the paper show the same
 * colours (ARCHITECTURE.md).  Three maps:
 *
 *   diverging (relevance, LRP heatmaps): zero-centred, red = evidence for
 *     the target, blue = against, white at exactly 0.  Symmetric scale:
 *     value v maps to t = v / scale in [-1,1] (clamped), scale = max|R| of
 *     the array unless the caller fixes one (to compare heatmaps).  Anchors
 *     are ColorBrewer's 11-class RdBu (Cynthia Brewer, colorbrewer2.org)
 *     with its near-white centre made pure white, linear in sRGB between.
 *   sequential (activations, filters): matplotlib's viridis (perceptually
 *     uniform; van der Walt, Smith & Firing, CC0), 256 entries, value lo
 *     -> dark violet, hi -> yellow.
 *   categorical (A(x,y) regions): TS_CMAP_CATEGORIES distinct colours;
 *     colour i is chosen greedily to be as far as possible (in the OKLab
 *     perceptual space) from colours 0..i-1, so the first 68 are clearly
 *     apart and any two landmark regions differ.
 *
 * Non-finite inputs: NaN is drawn mid grey (128,128,128) and ignored when
 * a scale is computed; +-Inf clamp to the ends and are ignored too.
 * Colour bars: ts_colorbar_draw paints the map's gradient into a rectangle
 * of an image (vertical: high values at the top) and returns nothing else;
 * the numeric range belongs to whoever coloured the data (scale_used /
 * range_used below), tick labels are drawn by the caller (Cairo), or with
 * the small built-in digits of ts_image_draw_number for plain PNG output.
 */
#ifndef TS_COLORMAP_H
#define TS_COLORMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "face/image.h"

typedef enum ts_cmap {
    TS_CMAP_DIVERGING = 0, /* relevance, t in [-1,1] */
    TS_CMAP_VIRIDIS,       /* activations, t in [0,1] */
} ts_cmap;

#define TS_CMAP_CATEGORIES 256

/* Single colours.  t is clamped; NaN gives mid grey. */
void ts_cmap_diverging(float t, uint8_t rgb[3]);
void ts_cmap_viridis(float t, uint8_t rgb[3]);
/* Colour of category i (any int; taken modulo TS_CMAP_CATEGORIES). */
void ts_cmap_categorical(int i, uint8_t rgb[3]);

/* Relevance (H,W) -> out (allocated here, w x h).  scale > 0 fixes the
 * symmetric scale; scale <= 0 uses max|r| over finite values (an all-zero
 * map is all white, scale_used 0).  scale_used (optional) receives it.
 * transfer: full (out). */
ts_status ts_colormap_relevance(const float *r, int w, int h, float scale, ts_image *out,
                                float *scale_used);

/* Activation (H,W) -> out with viridis over [lo,hi]; lo >= hi means the
 * array's finite min..max (a constant map is all dark).  range_used
 * (optional) receives the range.  transfer: full (out). */
ts_status ts_colormap_activation(const float *a, int w, int h, float lo, float hi, ts_image *out,
                                 float range_used[2]);

/* A(x,y) index map (H,W) -> out with the categorical colours.
 * transfer: full (out). */
ts_status ts_colormap_amap(const uint8_t *amap, int w, int h, ts_image *out);

/* Paints the gradient of `cmap` into the rectangle (x,y,w,h) of img
 * (clipped to the image), with a 1-pixel dark frame when the rectangle is
 * at least 3x3.  vertical: the top row is the high end (t = 1), else the
 * right column is. */
void ts_colorbar_draw(ts_image *img, int x, int y, int w, int h, ts_cmap cmap, bool vertical);

/* dst = (1-alpha)*dst + alpha*over, per pixel (same sizes, else TS_ERR_ARG);
 * e.g. a heatmap over the grey face. */
ts_status ts_image_blend(ts_image *dst, const ts_image *over, float alpha);

/* Converts to grey (luma, ITU-R BT.601 weights) kept as RGB. */
void ts_image_to_grey(ts_image *img);

/* A filled disc of `radius` pixels at (cx,cy) (pixel centres at integers)
 * with a 1-pixel outline of `outline` colour when outline != NULL. */
void ts_image_draw_dot(ts_image *img, float cx, float cy, float radius, const uint8_t fill[3],
                       const uint8_t outline[3]);

/* Draws text made of the characters "0123456789.-+e" (others are
 * skipped as blanks) with a built-in 3x5 pixel font magnified by `scale`,
 * top-left at (x,y), clipped.  Returns the width drawn in pixels. */
int ts_image_draw_number(ts_image *img, int x, int y, const char *text, int scale,
                         const uint8_t rgb[3]);

#endif
