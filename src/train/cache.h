/* cache.h - landmarks and A(x,y) computed once per image, kept on disk.
 *
 * A training run needs the 68 landmarks of every image (LACNN input, the
 * rotation/affine alignments) and the A(x,y) map of its unaugmented input;
 * the ERT localizer is the slow part, so results are cached.  An entry is
 * keyed by
 *   - the SHA-256 of the image file's bytes (renaming or moving a data set
 *     keeps its cache; editing an image invalidates its entry), and
 *   - the landmark method string (ts_lmcache_policy_name: localizer and how
 *     the face box was chosen), and
 *   - the side S of the stored A(x,y) map (0: landmarks only).
 * Path: DIR/HH/<image sha256>-<first 16 hex of sha256(method)>-S.tslm
 * (HH = first two hex digits, so no folder holds more than 1/256 of them).
 *
 * Face box (the ERT needs one; see ts_lmcache_policy):
 *   CelebA-HQ images are 1024-pixel faces aligned and cropped by the
 *   CelebA-HQ procedure, scaled to 256: the face sits at a fixed place, and
 *   the box (0.20, 0.30, 0.60, 0.60) of the image (x, y, w, h fractions)
 *   matches what dlib's frontal detector gives there (checked by eye on
 *   random images: the ERT's 68 points land on jaw, brows, eyes, nose and
 *   lips).  UTKFace's "aligned and cropped" faces fill more of the frame:
 *   (0.08, 0.08, 0.84, 0.84).  Adience's aligned crops use (0.20, 0.20,
 *   0.60, 0.60).  Everything else (folders of photos, CSV lists: faces
 *   anywhere, several per image) goes through the explorer's own face
 *   finder, ts_locate_face (face/locate.h: SSD detector with its close-up
 *   and turned passes, the largest face, landmarks that follow the head's
 *   roll), so that the browser's predictions are those of the face the
 *   explorer shows.  It costs about 0.3-0.6 s per image on this CPU, once
 *   (cached); one image at a time per cache (a mutex).
 *
 * File format (little-endian; the whole file is untrusted on read):
 *   0   8  magic "TSLMC\0\0\1"
 *   8  32  SHA-256 of the image file
 *  40  32  SHA-256 of the method string
 *  72   4  u32 n_points (1..TS_POINTS_MAX)
 *  76   8  u32 image width, height (1..TS_IMAGE_MAX_SIDE)
 *  84   4  u32 S (0..TS_LMCACHE_MAX_SIZE)
 *  88  16  float box x, y, w, h
 * 104  8n  float x[0..n-1], y[0..n-1] (finite, |v| <= TS_POINTS_MAX_COORD)
 *  ..  S*S u8 A(x,y) (values < n)
 *  ..  32  SHA-256 of every byte before it
 * A file of any other length, a wrong magic or key, a bad field or a
 * checksum mismatch is a miss: the entry is recomputed and rewritten.
 * Writes are atomic (fileio.h), so an interrupted run leaves either the old
 * entry, the new one or none, never half of one.
 *
 * Thread safety: ts_lmcache_get may be called from several threads on one
 * cache (the localizer is read-only, each call writes its own file).
 */
#ifndef TS_CACHE_H
#define TS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "face/image.h"
#include "nn/sha256.h"

#define TS_LMCACHE_MAX_SIZE 1024

typedef enum ts_box_policy {
    TS_BOX_FIXED = 0,   /* fixed fractions of the image (box_frac) */
    TS_BOX_DETECTOR,    /* ts_locate_face (face/locate.h); its own fallback when it finds none */
} ts_box_policy;

typedef struct ts_lmcache_policy {
    ts_box_policy box;
    float box_frac[4]; /* x, y, w, h fractions of the image */
} ts_lmcache_policy;

/* The default policy for a dataset kind ("celeba", "utkface", ...). */
ts_lmcache_policy ts_lmcache_policy_for(const char *dataset_kind);
/* "ert:box=0.200,0.300,0.600,0.600" or "ert:locate". */
void ts_lmcache_policy_name(const ts_lmcache_policy *p, char *buf, int len);

typedef struct ts_lmcache ts_lmcache;

/* One image's cached result. */
typedef struct ts_lm_entry {
    int img_w, img_h;
    float box[4];
    ts_points pts;      /* source image coordinates */
    int amap_size;      /* S, 0 if not requested */
    uint8_t *amap;      /* S*S, owned (ts_lm_entry_clear) */
} ts_lm_entry;

void ts_lm_entry_clear(ts_lm_entry *e);

/* dir NULL: $TRAITSCOPE_CACHE, else $XDG_CACHE_HOME/traitscope/landmarks,
 * else $HOME/.cache/traitscope/landmarks.  Loads the ERT model (and the
 * detector for TS_BOX_DETECTOR).  amap_size 0 stores landmarks only.
 * transfer: full (ts_lmcache_free). */
ts_status ts_lmcache_open(const char *dir, const ts_lmcache_policy *policy, int amap_size, ts_lmcache **out);
void ts_lmcache_free(ts_lmcache *c);
/* transfer: none. */
const char *ts_lmcache_dir(const ts_lmcache *c);

/* Landmarks (and A map) of the image file at `path`: from the cache, or
 * computed and stored.  When `img` is not NULL the decoded image is
 * returned too (transfer: full, ts_image_clear).  *hit says which.
 * Errors: the image's (TS_ERR_IO, TS_ERR_FORMAT), the localizer's; a
 * failure to write the cache is not an error (the result is returned). */
ts_status ts_lmcache_get(ts_lmcache *c, const char *path, ts_lm_entry *out, ts_image *img, bool *hit);

/* Parses one entry file (untrusted; format above).  With verify_digest
 * false the trailing SHA-256 is not checked (the fuzz target's way past
 * it); the keys are returned in image_sha / method_sha (either may be NULL)
 * for the caller to compare.  TS_ERR_FORMAT naming `name`, the offset or
 * the field; on failure *out is left empty. */
ts_status ts_lm_entry_parse(const uint8_t *buf, size_t len, const char *name, bool verify_digest,
                            uint8_t image_sha[32], uint8_t method_sha[32], ts_lm_entry *out);

/* Entry file of an image hash (hex) under this cache (for tests).
 * transfer: full (free()). */
char *ts_lmcache_entry_path(const ts_lmcache *c, const char *image_sha256_hex);

#endif
