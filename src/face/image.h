/* image.h - the one image type and the one points type of Traitscope.
 *
 * ts_image is 8-bit RGB, row-major, `stride` bytes per row (>= 3*width).
 * ts_points holds up to TS_POINTS_MAX landmark positions as float pixel
 * coordinates, pixel centres at integer coordinates ((0,0) is the centre of
 * the top-left pixel), the convention of dlib and of the A(x,y) map.
 *
 * Decoding: PNG through libpng, JPEG through libjpeg-turbo, chosen by the
 * file's magic bytes, never by its name.  Every failure names the file.
 */
#ifndef TS_IMAGE_H
#define TS_IMAGE_H

#include <stdint.h>
#include <stddef.h>

#include "nn/status.h"

typedef struct ts_image {
    uint8_t *data; /* owned: ts_image_clear frees it */
    int width, height, stride;
} ts_image;

#define TS_POINTS_MAX 255
#define TS_LANDMARKS 68

typedef struct ts_points {
    int n;
    float x[TS_POINTS_MAX];
    float y[TS_POINTS_MAX];
} ts_points;

/* Zeroed w x h image.  TS_ERR_OOM / TS_ERR_ARG for absurd sizes. */
ts_status ts_image_init(ts_image *img, int width, int height);
void ts_image_clear(ts_image *img);

/* Largest width or height a decoder accepts (guards against decompression
 * bombs in untrusted files). */
#define TS_IMAGE_MAX_SIDE 16384

/* Decodes a PNG or JPEG file into RGB8 (grey and alpha are converted). */
ts_status ts_image_load(const char *path, ts_image *out);
/* Same from memory; `name` is used in error messages. */
ts_status ts_image_decode(const uint8_t *buf, size_t len, const char *name, ts_image *out);

/* Writes an 8-bit RGB PNG atomically (temporary file, then rename). */
ts_status ts_image_save_png(const char *path, const ts_image *img);

/* --- added by the image layer (issue 3) --- */

/* Largest width*height any image may have (402 MB of RGB8). */
#define TS_IMAGE_MAX_PIXELS (1L << 27)

/* ts_image_decode with a lower pixel cap (fuzzing, thumbnails): images with
 * more than max_pixels pixels are refused with TS_ERR_FORMAT before any
 * pixel buffer is allocated.  max_pixels < 1 means TS_IMAGE_MAX_PIXELS. */
ts_status ts_image_decode_limited(const uint8_t *buf, size_t len, const char *name,
                                  long max_pixels, ts_image *out);

/* Deep copy with stride 3*width.  transfer: full (dst, ts_image_clear it). */
ts_status ts_image_copy(ts_image *dst, const ts_image *src);

/* Writes width*height grey bytes (row-major, no padding) atomically as an
 * 8-bit binary PGM (netpbm "P5", maxval 255) or an 8-bit grey PNG. */
ts_status ts_grey_save_pgm(const char *path, const uint8_t *grey, int width, int height);
ts_status ts_grey_save_png(const char *path, const uint8_t *grey, int width, int height);

static inline uint8_t *ts_image_pixel(const ts_image *img, int x, int y)
{
    return img->data + (size_t)y * img->stride + (size_t)x * 3;
}

#endif
