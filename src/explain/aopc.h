/* aopc.h - pixel flipping and the area over the perturbation curve (AOPC).
 *
 * Follows Samek, Binder, Montavon, Lapuschkin, Mueller, "Evaluating the
 * visualization of what a deep neural network has learned" (IEEE TNNLS
 * 2017): regions are removed most relevant first (MoRF), the target score
 * f is recorded after every step, and
 *     AOPC = 1/(L+1) * sum_{k=0..L} ( f(x^(0)) - f(x^(k)) )
 * for L steps (x^(0) the unperturbed input).  A better heatmap destroys the
 * score faster, i.e. has the larger AOPC; the same procedure with a random
 * region order is the baseline every heatmap should beat.
 *
 * Choices made here (documented because they change the numbers):
 *   - regions: a grid of non-overlapping patch x patch squares (9 x 9 by
 *     default) from the top-left corner; squares cut by the right/bottom
 *     edge are kept smaller, so every pixel belongs to one region; a
 *     region's score is the sum of the heatmap over it;
 *   - removal: a region's pixels are replaced in every flipped channel by
 *       TS_FLIP_UNIFORM  uniform random values in [low[c], high[c]] (the
 *                        normalised input range; Samek et al.), or
 *       TS_FLIP_MEAN     the mean of that channel over the whole image;
 *     the replacement values are drawn once per image, so MoRF and the
 *     random order differ only in the order;
 *   - channels: the first `channels` input channels are flipped (0 = all);
 *     3 flips only RGB of a 4-channel LACNN input and keeps A(x,y);
 *   - score: the target's logit (before softmax);
 *   - ties in region scores keep the region order (stable), the random
 *     order is a seeded Fisher-Yates shuffle.
 */
#ifndef TS_AOPC_H
#define TS_AOPC_H

#include <stdint.h>

#include "nn/graph.h"

typedef enum ts_flip_fill {
    TS_FLIP_UNIFORM = 0,
    TS_FLIP_MEAN,
} ts_flip_fill;

#define TS_FLIP_MAX_CHANNELS 16

typedef struct ts_flip_opts {
    int patch;         /* region side, default 9 */
    int steps;         /* L, default 100, at most the number of regions */
    int batch;         /* perturbed inputs per forward pass, default 16 */
    ts_flip_fill fill;
    int channels;      /* channels flipped, 0 = all */
    uint64_t seed;     /* fill values and the random order */
    /* Bounds per channel for TS_FLIP_UNIFORM (the normalised input range).
     * n_bounds == 0 uses [-1, 1]. */
    int n_bounds;
    float low[TS_FLIP_MAX_CHANNELS], high[TS_FLIP_MAX_CHANNELS];
} ts_flip_opts;

/* Curves of one image: score[k] = f(x^(k)), k = 0..steps. */
typedef struct ts_flip_curve {
    int steps;
    float *morf;      /* steps + 1, most relevant first */
    float *random;    /* steps + 1, random order */
    double aopc_morf, aopc_random;
} ts_flip_curve;

/* Fills defaults for zero fields. */
void ts_flip_opts_defaults(ts_flip_opts *o);

/* Pixel-flips input sample n of `input` (N,C,H,W) under `heat` (H*W, the
 * heatmap of that sample), scoring class `target`.  Runs forward passes of
 * up to o->batch samples (the graph's batch changes).  curve->morf and
 * ->random are allocated: ts_flip_curve_clear().  TS_ERR_ARG for a bad
 * target, patch or bounds; the graph's errors otherwise. */
ts_status ts_flip_image(ts_graph *g, const ts_tensor *input, int n, const float *heat, int target,
                        const ts_flip_opts *o, ts_flip_curve *curve);

void ts_flip_curve_clear(ts_flip_curve *c);

/* Every sample of `input` (N,C,H,W): heat (N,H,W), targets (N), curves (N
 * entries, caller storage; clear each).  *mean_morf / *mean_random (may be
 * NULL) receive the AOPC averaged over the batch. */
ts_status ts_flip_batch(ts_graph *g, const ts_tensor *input, const float *heat, const int *targets,
                        const ts_flip_opts *o, ts_flip_curve *curves, double *mean_morf,
                        double *mean_random);

/* AOPC of a curve (steps + 1 scores). */
double ts_flip_aopc(const float *score, int steps);

#endif
