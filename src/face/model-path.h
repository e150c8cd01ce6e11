/* model-path.h - where Traitscope finds the third-party model files.
 *
 * Landmark and detector weights come from package registries at set-up
 * time: Debian's libdlib-data (dlib's 68-point shape predictor) and the npm
 * package @vladmandic/face-api (tiny face detector, 68-point landmark net).
 * Search order for a file name:
 *   1. $TRAITSCOPE_MODELS (a folder) if set,
 *   2. <source root>/node_modules/@vladmandic/face-api/model (npm install in
 *      the checkout, what the README's set-up does),
 *   3. <prefix>/share/traitscope/models,
 *   4. /usr/share/dlib (libdlib-data).
 */
#ifndef TS_MODEL_PATH_H
#define TS_MODEL_PATH_H

#include <stddef.h>

#include "nn/status.h"

/* Finds `file` in the search path and writes its full path into out.
 * TS_ERR_IO with a message naming the file, the folders searched and
 * `install_hint` (e.g. "apt-get install libdlib-data") when absent. */
ts_status ts_model_path_find(const char *file, const char *install_hint, char *out, size_t len);

#endif
