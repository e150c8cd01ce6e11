/* dataset.h - labelled face datasets: rows of (image path, class per trait).
 *
 * A dataset spec names a layout and where it lives:
 *   celeba:DIR    DIR/attributes.txt in the CelebA attribute-file layout
 *                 (line 1: image count; line 2: the attribute names; then
 *                 "NAME v1 .. vK" with 1 / -1, 0 also read as "not set"),
 *                 images in DIR/images/.  Traits: traits.h's CelebA table.
 *   utkface:DIR   DIR/labels.csv "file,age,gender,race" (blank = missing,
 *                 a header line is recognised), images in DIR/images/; or,
 *                 without labels.csv, the UTKFace file names
 *                 AGE_GENDER_RACE_DATE.jpg.chip.jpg (RACE may be absent) in
 *                 DIR/images/ or DIR.  Traits: ethnicity, gender, age-group.
 *   adience:DIR   DIR/fold_N_data.txt (N = 0, 1, ...; the fold_frontal_N
 *                 files only when there are no fold_N files), tab-separated
 *                 with a header: user_id, original_image, face_id, age
 *                 ("(25, 32)", "35" or "None"), gender (m/f/u or blank),
 *                 x, y, dx, dy, ... (ignored).  Image path
 *                 DIR/faces/USER/coarse_tilt_aligned_face.FACE.ORIGINAL, or
 *                 DIR/aligned/USER/landmark_aligned_face.FACE.ORIGINAL when
 *                 only aligned/ exists.  Traits: gender, age-group.
 *   csv:FILE      header "path,TRAIT[,TRAIT...]" ("path,label" gives one
 *                 trait named "label"); RFC 4180 quoting within a line;
 *                 relative paths are relative to FILE's folder.  A trait's
 *                 classes are its distinct non-blank values, sorted
 *                 numerically when all are integers, else by bytes
 *                 (strcmp); a blank cell excludes the row from that trait.
 *                 At most TS_CSV_MAX_CLASSES classes per column, else the
 *                 column is dropped with a warning.
 *   folder:DIR, or a bare DIR
 *                 every .jpg/.jpeg/.png in DIR (not recursive), sorted by
 *                 name; no traits.
 *
 * Invariants of a loaded dataset: every row has a non-empty path; every
 * trait has n_classes >= 1 class names and n_rows labels, each -1
 * (excluded) or in [0, n_classes).  Rows keep the file's order.
 *
 * Errors: a missing file or folder, or a header that does not parse, fails
 * the load (TS_ERR_IO / TS_ERR_FORMAT naming the file and line).  A row that
 * does not parse is skipped and recorded as a warning "FILE:LINE: why"; the
 * load goes on.  Image files are not opened at load.
 *
 * Every file is untrusted: the parsers take memory buffers (so the fuzz
 * targets reach them), check every field, and accept NUL bytes, CRLF and a
 * UTF-8 BOM without reading out of bounds.
 */
#ifndef TS_DATASET_H
#define TS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"

#define TS_CSV_MAX_CLASSES 1000
/* Warnings kept in full; the rest are only counted. */
#define TS_DATASET_MAX_WARNINGS 1000
/* Largest label file read (bytes). */
#define TS_DATASET_MAX_FILE (512u << 20)

typedef struct ts_trait {
    char *name;
    int n_classes;
    char **classes; /* n_classes names */
    int *labels;    /* n_rows entries: class index or -1 (excluded) */
} ts_trait;

typedef struct ts_dataset {
    char *spec;     /* as given to ts_dataset_load (NULL for parsed buffers) */
    char *kind;     /* "celeba", "utkface", "adience", "csv", "folder" */
    int n_rows;
    char **paths;   /* n_rows image paths */
    int n_traits;
    ts_trait *traits;
    int n_warnings;       /* warnings kept (<= TS_DATASET_MAX_WARNINGS) */
    char **warnings;
    int n_warnings_total; /* including those only counted */
    int cap_rows, cap_warnings; /* internal */
} ts_dataset;

void ts_dataset_init(ts_dataset *ds);
void ts_dataset_clear(ts_dataset *ds);

/* Loads a dataset from a spec string (see above).  limit > 0 keeps only the
 * first `limit` rows that parse.  On failure ds is left empty (cleared). */
ts_status ts_dataset_load(ts_dataset *ds, const char *spec, int limit);

/* transfer: none.  The trait called `name`, or NULL. */
const ts_trait *ts_dataset_trait(const ts_dataset *ds, const char *name);
int ts_dataset_trait_index(const ts_dataset *ds, const char *name);

/* counts[c] = rows labelled c (n_classes entries); returns the number of
 * rows excluded from the trait. */
int ts_trait_class_counts(const ts_trait *t, int n_rows, int *counts);

/* ---- parsers over memory buffers ---------------------------------------
 * Each appends rows (and the traits it provides) to ds, which must be
 * initialised; `name` is the file name used in warnings and errors;
 * `image_dir` (or `base_dir`) is joined before each image name; limit > 0
 * stops once ds holds that many rows.  buf need not be NUL-terminated. */
ts_status ts_dataset_parse_celeba(ts_dataset *ds, const char *buf, size_t len,
                                  const char *name, const char *image_dir, int limit);
ts_status ts_dataset_parse_utkface(ts_dataset *ds, const char *buf, size_t len,
                                   const char *name, const char *image_dir, int limit);
/* face_prefix: "coarse_tilt_aligned_face" or "landmark_aligned_face". */
ts_status ts_dataset_parse_adience(ts_dataset *ds, const char *buf, size_t len,
                                   const char *name, const char *faces_dir,
                                   const char *face_prefix, int limit);
ts_status ts_dataset_parse_csv(ts_dataset *ds, const char *buf, size_t len,
                               const char *name, const char *base_dir, int limit);

/* Parses one UTKFace file name "AGE_GENDER_RACE_DATE.jpg.chip.jpg" (or
 * "AGE_GENDER_DATE...": race missing, -1).  TS_ERR_FORMAT if it is not one. */
ts_status ts_utk_parse_name(const char *file, int *age, int *gender, int *race);

#endif
