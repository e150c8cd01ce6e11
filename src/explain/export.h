/* export.h - files that explanations leave behind: .npy arrays and PNG text.
 *
 * .npy: NumPy's format, version 1.0 (numpy.lib.format): the magic
 * "\x93NUMPY", bytes 1 and 0, a little-endian uint16 header length, then
 * an ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (...), }
 * padded with spaces and ended by '\n' so that the data starts at a
 * multiple of 64 bytes, then the float32 data in C order.  numpy.load()
 * reads it.  Written atomically (fileio.h).
 *
 * PNG text: a tEXt chunk (PNG 1.2 section 11.3.4.3: Latin-1 keyword of
 * 1..79 characters, NUL, text) inserted after IHDR of an existing PNG file,
 * which is rewritten atomically.  Heatmaps carry their LRP rule string this
 * way (keyword "traitscope:lrp-rules"), so a picture says how it was made.
 */
#ifndef TS_EXPORT_H
#define TS_EXPORT_H

#include "nn/status.h"

/* Writes ndim (1..8) dims of float32 data to `path` atomically. */
ts_status ts_npy_save(const char *path, const float *data, int ndim, const int *shape);

/* Adds tEXt chunks keyword[k] = text[k] (n of them) to the PNG at `path`.
 * TS_ERR_FORMAT when the file is not a PNG with an IHDR first, TS_ERR_ARG
 * for a bad keyword. */
ts_status ts_png_add_text(const char *path, int n, const char *const *keyword, const char *const *text);

#endif
