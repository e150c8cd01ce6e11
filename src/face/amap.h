/* amap.h - A(x,y), the nearest-landmark map of LACNN (AUGMENT-FLL).
 *
 * Spec: LACNN paper (lacnn-face-attributes.txt), section 3.1 and Fig. 3:
 * A(x,y) = argmin_j d_j(x,y), d_j the Euclidean distance between pixel
 * (x,y) and landmark j.  Made exact here:
 *   - pixel (x,y) is the point (x,y): pixel centres at integer coordinates,
 *     x = 0..W-1 left to right, y = 0..H-1 top to bottom (image.h);
 *   - indices are 0-based, 0..k-1, k = number of landmarks (1..255);
 *   - the compared quantity is the squared distance evaluated in IEEE
 *     single precision exactly as
 *         float dx = (float)x - px[j], dy = (float)y - py[j];
 *         float d = dx * dx + dy * dy;      (no fused multiply-add)
 *     (argmin of the distance = argmin of its square; comparing squares
 *     avoids sqrt rounding merging distinct distances);
 *   - ties go to the lowest index (strict < while scanning j upwards);
 *   - landmarks may lie outside the image; coordinates must be finite with
 *     |v| <= TS_POINTS_MAX_COORD.
 * The map is uint8, row-major (H,W) with stride W.
 *
 * ts_amap_reference is Fig. 3 literally, O(W*H*k).  ts_amap_compute gives
 * the identical map (every byte) much faster: it evaluates the same float
 * expression but only for landmarks that can possibly win inside each tile
 * of pixels (conservative bounds with a safety margin far above float
 * rounding), so the argmin and its tie-breaking are unchanged.
 *
 * The LACNN input channel (model.h: v = encoded A, then (v-mean)/std like
 * the RGB channels whose v = pixel/255 lies in [0,1]):
 *     v = A(x,y) / (k-1)   in [0,1]   (k = 1: v = 0)
 * named "index/<k-1>" in a model's metadata, "index/67" for 68 landmarks.
 */
#ifndef TS_AMAP_H
#define TS_AMAP_H

#include <stdint.h>

#include "face/image.h"

/* The encoding string that models with 68-landmark A(x,y) store
 * (model.h's amap_encoding; equals TS_AMAP_ENCODING_DEFAULT there). */
#define TS_AMAP_ENCODING "index/67"

/* Fig. 3 literally.  out: (H,W) uint8, width*height bytes.
 * TS_ERR_ARG: k outside 1..255, a size outside 1..TS_IMAGE_MAX_SIDE, a
 * coordinate not finite or beyond TS_POINTS_MAX_COORD. */
ts_status ts_amap_reference(const ts_points *pts, int width, int height, uint8_t *out);

/* Same contract and same output as ts_amap_reference, fast. */
ts_status ts_amap_compute(const ts_points *pts, int width, int height, uint8_t *out);

/* The input channel value of each pixel: out[i] = amap[i] / (k-1) (0 when
 * k == 1).  amap (H,W) uint8 with values < k; out (H,W) float, e.g. channel
 * 3 of a (1,4,H,W) tensor before normalisation.  TS_ERR_ARG when a value
 * is >= k or k is outside 1..255. */
ts_status ts_amap_encode(const uint8_t *amap, int width, int height, int k, float *out);

/* Parses an encoding name "index/<d>" (d = 1..254) into its divisor, so a
 * model's metadata can be checked before use.  TS_ERR_FORMAT otherwise. */
ts_status ts_amap_encoding_parse(const char *enc, int *divisor);

/* Encoding name for k landmarks ("index/67" for 68) into buf. */
void ts_amap_encoding_name(int k, char *buf, int buflen);

#endif
