/* ert.c - dlib shape predictor files and the cascade of regression trees.
 *
 * Format (dlib's serialization, as written by dlib 19.x on LP64 systems):
 *
 *   integers   one control byte, then 1..8 little-endian magnitude bytes.
 *              Control: bit 7 = negative (signed types only), bits 0-3 =
 *              number of magnitude bytes (1..sizeof(type)), bits 4-6 are
 *              ignored.  Zero is written as 01 00.
 *   float      two integers: an int64 mantissa (signed, no separate sign
 *              bit) then an int16 exponent; the value is mantissa * 2^exp,
 *              except exponents 32000 / 32001 / 32002 = +inf / -inf / NaN.
 *              (dlib's older ASCII float format, recognised by a first
 *              byte with any of bits 4-6 set, is refused.)
 *   matrix     long rows, long cols (both negated in the current format),
 *              then rows*cols elements, row-major.
 *   vector     unsigned long count, then the elements.
 *   dlib::vector<float,2>   x then y.
 *
 *   shape_predictor:
 *     int version (= 1)
 *     matrix<float,0,1> initial_shape      2*P values x0 y0 x1 y1 ..., the
 *                                          mean shape in the unit box
 *     vector<vector<tree>> forests         C cascades of T trees
 *        tree: vector<split> splits        split: ulong idx1, ulong idx2,
 *                                                 float thresh
 *              vector<matrix<float,0,1>> leaf_values (each 2*P values)
 *     vector<vector<ulong>> anchor_idx     per cascade, F feature pixels:
 *                                          the landmark each is tied to
 *     vector<vector<vector<float,2>>> deltas  per cascade, F offsets from
 *                                          the anchor in the mean shape
 *
 * Invariants after loading (checked, so prediction needs no checks):
 *   - 1 <= P <= TS_POINTS_MAX; every leaf holds exactly 2*P values;
 *   - every tree has splits+1 leaves; dlib walks it as a binary tree in an
 *     array (children of node i are 2i+1 and 2i+2, node ns+k is leaf k),
 *     which with that leaf count ends on a valid leaf for any split count;
 *   - leaves are stored padded with zeros to a multiple of 8 floats, at
 *     32-byte aligned addresses (vector adds, no tail loop);
 *   - every split index < F of its cascade, every anchor < P;
 *   - every value is finite.
 *
 * Prediction (dlib's shape_predictor::operator(), Kazemi & Sullivan sec. 2):
 * start from the mean shape; for each cascade, map the feature pixels
 * through the similarity transform mean shape -> current shape (rotation and
 * scale only) and the unit-square -> box transform, read their grey values,
 * walk each tree on pixel differences and add its leaf to the shape.
 * Speed: the ~4 MB of leaves one face touches dominate; all trees of a
 * cascade are walked first, then their leaves summed in tree order (dlib's
 * rounding) with the next leaves prefetched.  Grey values are computed only
 * for the pixels read, so a face costs the same in any size of photo.
 */
#include "face/ert.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/fileio.h"
#include "face/model-path.h"

/* Caps beyond anything dlib's trainer makes (the iBUG model: 15 cascades of
 * 500 depth-4 trees, 500 feature pixels each); they bound work, not memory
 * (memory is bounded by the file size, each element costing >= 2 bytes). */
#define ERT_MAX_FEATURES 65535
#define ERT_MAX_SPLITS 65535
#define ERT_MAX_FILE ((size_t)1 << 31)
/* Trees ahead whose leaves are prefetched while summing. */
#define ERT_PREFETCH 8

/* Eight floats, one AVX register or two SSE ones (GCC/Clang vector
 * extension; element-wise IEEE adds, so the sums equal the scalar ones). */
typedef float v8f __attribute__((vector_size(32), may_alias));

typedef struct ert_split {
    uint16_t idx1, idx2;
    float thresh;
} ert_split;

typedef struct ert_tree {
    size_t split_off; /* into m->splits */
    size_t leaf_off;  /* into m->leaves, in floats; leaf k at leaf_off + k*stride */
    uint32_t n_splits;
} ert_tree;

typedef struct ert_cascade {
    int n_feat;
    uint16_t *anchor; /* (F) landmark index */
    float *dx, *dy;   /* (F) offset from the anchor in the mean shape */
    size_t tree_off;  /* into m->trees */
    size_t n_trees;
} ert_cascade;

struct ts_ert {
    int n_parts;
    int max_feat;
    float *init; /* (2P) mean shape, unit-box coordinates */
    /* Mean-shape statistics for the similarity transform, as dlib computes
     * them (double): centred points and their mean squared norm. */
    double *init_cx, *init_cy; /* (P) */
    double sigma_from;
    size_t n_cascades;
    ert_cascade *casc;
    ert_tree *trees;
    size_t n_trees;
    ert_split *splits;
    size_t n_splits;
    float *leaves;        /* 32-byte aligned; each leaf padded with zeros to `stride` */
    size_t n_leaf_floats;
    int stride;           /* floats per stored leaf: 2P rounded up to a multiple of 8 */
    size_t max_trees;     /* most trees in one cascade */
};

/* ---------------------------------------------------------------------- */
/* Reading dlib's encodings                                                */

typedef struct reader {
    const uint8_t *buf;
    size_t len, off;
    const char *name;
} reader;

static ts_status rd_fail(const reader *r, size_t off, const char *field, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "%s: offset %zu: %s: %s", r->name, off, field, what);
}

/* One integer's magnitude and sign.  max_bytes: sizeof the C++ type. */
static ts_status rd_raw_int(reader *r, const char *field, int max_bytes, int allow_neg,
                            uint64_t *mag, int *neg)
{
    size_t at = r->off;
    if (r->off >= r->len) return rd_fail(r, at, field, "file ends inside an integer");
    uint8_t ctl = r->buf[r->off];
    int n = ctl & 0x0f;
    *neg = (ctl & 0x80) != 0;
    if (*neg && !allow_neg) return rd_fail(r, at, field, "negative value for an unsigned integer");
    if (n == 0 || n > max_bytes) return rd_fail(r, at, field, "bad integer length byte");
    if (r->len - r->off - 1 < (size_t)n) return rd_fail(r, at, field, "file ends inside an integer");
    uint64_t v = 0;
    for (int i = n; i >= 1; i--) v = (v << 8) | r->buf[r->off + (size_t)i];
    r->off += (size_t)n + 1;
    *mag = v;
    return TS_OK;
}

static ts_status rd_ulong(reader *r, const char *field, uint64_t *out)
{
    int neg;
    return rd_raw_int(r, field, 8, 0, out, &neg);
}

/* Signed integer of `bytes` bytes (int 4, long 8, int16 2). */
static ts_status rd_slong(reader *r, const char *field, int bytes, int64_t *out)
{
    size_t at = r->off;
    uint64_t mag;
    int neg;
    TS_TRY(rd_raw_int(r, field, bytes, 1, &mag, &neg));
    uint64_t lim = (uint64_t)1 << (bytes * 8 - 1); /* |min| of the type */
    if (mag > lim || (!neg && mag == lim)) return rd_fail(r, at, field, "integer out of range");
    *out = neg ? (mag == lim ? (bytes == 8 ? INT64_MIN : -(int64_t)mag) : -(int64_t)mag)
               : (int64_t)mag;
    return TS_OK;
}

/* The common case of rd_float, for the ~16 million floats of a model: both
 * integers well-formed and inside the buffer.  Returns the bytes used, or
 * 0 to let the careful path below re-read and report what is wrong. */
static inline size_t fast_float(const uint8_t *p, size_t avail, float *out)
{
    if (avail < 4) return 0;
    unsigned c1 = p[0];
    size_t n1 = c1 & 0x0f;
    if ((c1 & 0x70) || n1 == 0 || n1 > 7 || avail < n1 + 3) return 0;
    uint64_t man = 0;
    for (size_t i = n1; i >= 1; i--) man = (man << 8) | p[i];
    unsigned c2 = p[n1 + 1];
    size_t n2 = c2 & 0x0f;
    if ((c2 & 0x70) || n2 == 0 || n2 > 2 || avail < n1 + 2 + n2) return 0;
    unsigned ex = p[n1 + 2];
    if (n2 == 2) ex |= (unsigned)p[n1 + 3] << 8;
    if (ex >= 32000) return 0;
    /* magnitudes below 2^56 and exponents below 32000 are in range */
    float v = ldexpf((c1 & 0x80) ? -(float)man : (float)man, (c2 & 0x80) ? -(int)ex : (int)ex);
    if (!isfinite(v)) return 0;
    *out = v;
    return n1 + 2 + n2;
}

static ts_status rd_float(reader *r, const char *field, float *out)
{
    size_t at = r->off;
    size_t used = fast_float(r->buf + r->off, r->len - r->off, out);
    if (used) {
        r->off += used;
        return TS_OK;
    }
    if (r->off < r->len && (r->buf[r->off] & 0x70))
        return rd_fail(r, at, field, "dlib's old ASCII float format is not supported");
    int64_t man, ex;
    TS_TRY(rd_slong(r, field, 8, &man));
    TS_TRY(rd_slong(r, field, 2, &ex));
    if (ex >= 32000) return rd_fail(r, at, field, "infinite or NaN value");
    /* dlib: ldexp((float)mantissa, exponent) */
    float v = ldexpf((float)man, (int)ex);
    if (!isfinite(v)) return rd_fail(r, at, field, "value overflows a float");
    *out = v;
    return TS_OK;
}

/* A vector's element count, checked against the bytes left: every element
 * takes at least `min_bytes`. */
static ts_status rd_count(reader *r, const char *field, size_t min_bytes, uint64_t cap, size_t *out)
{
    size_t at = r->off;
    uint64_t n;
    TS_TRY(rd_ulong(r, field, &n));
    if (n > cap) return rd_fail(r, at, field, "count too large");
    if (n > (r->len - r->off) / min_bytes) return rd_fail(r, at, field, "count larger than the rest of the file");
    *out = (size_t)n;
    return TS_OK;
}

/* matrix<float,0,1>: a column of exactly `want` values (want 0: any even
 * count from 2 to 2*TS_POINTS_MAX, returned in *got). */
static ts_status rd_column(reader *r, const char *field, size_t want, size_t *got, float *dst, size_t dst_cap)
{
    size_t at = r->off;
    int64_t nr, nc;
    TS_TRY(rd_slong(r, field, 8, &nr));
    TS_TRY(rd_slong(r, field, 8, &nc));
    if (nr < 0 || nc < 0) { /* the current format stores both negated */
        if (nr == INT64_MIN || nc == INT64_MIN) return rd_fail(r, at, field, "bad matrix size");
        nr = -nr;
        nc = -nc;
    }
    if (nc != 1) return rd_fail(r, at, field, "expected a column vector (1 column)");
    if (want) {
        if ((uint64_t)nr != want) return rd_fail(r, at, field, "wrong number of values (must be 2 per landmark)");
    } else if (nr < 2 || nr % 2 || (uint64_t)nr > 2 * (uint64_t)TS_POINTS_MAX) {
        return rd_fail(r, at, field, "landmark count must be 1..255 (an even number of values)");
    }
    if ((size_t)nr > dst_cap) return rd_fail(r, at, field, "too many values");
    for (int64_t i = 0; i < nr; i++) TS_TRY(rd_float(r, field, &dst[i]));
    if (got) *got = (size_t)nr;
    return TS_OK;
}

/* ---------------------------------------------------------------------- */
/* Growable storage                                                        */

static ts_status grow(void **p, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap) return TS_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return ts_error(TS_ERR_OOM, "ert model: %s too large", what);
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return ts_error(TS_ERR_OOM, "out of memory for the ert model's %s", what);
    *p = q;
    *cap = c;
    return TS_OK;
}

/* The leaves are the hot data of prediction: keep them 32-byte aligned so
 * that every (8-float padded) leaf starts on a vector boundary. */
static ts_status grow_leaves(ts_ert *m, size_t *cap, size_t need)
{
    if (need <= *cap) return TS_OK;
    size_t c = *cap ? *cap : 1024;
    while (c < need) {
        if (c > SIZE_MAX / 2 / sizeof(float)) return ts_error(TS_ERR_OOM, "ert model: leaves too large");
        c *= 2;
    }
    float *q = aligned_alloc(32, c * sizeof(float));
    if (!q) return ts_error(TS_ERR_OOM, "out of memory for the ert model's leaves");
    if (m->n_leaf_floats) memcpy(q, m->leaves, m->n_leaf_floats * sizeof(float));
    free(m->leaves);
    m->leaves = q;
    *cap = c;
    return TS_OK;
}

void ts_ert_free(ts_ert *m)
{
    if (!m) return;
    if (m->casc) {
        for (size_t c = 0; c < m->n_cascades; c++) {
            free(m->casc[c].anchor);
            free(m->casc[c].dx);
            free(m->casc[c].dy);
        }
    }
    free(m->casc);
    free(m->trees);
    free(m->splits);
    free(m->leaves);
    free(m->init);
    free(m->init_cx);
    free(m->init_cy);
    free(m);
}

ts_status ts_ert_predict_refit(const ts_ert *m, const ts_image *img, const float box[4], int rounds,
                               ts_points *out, float fitted[4])
{
    return ts_ert_predict_refit_rotated(m, img, box, 0.0f, rounds, out, fitted);
}

ts_status ts_ert_predict_refit_rotated(const ts_ert *m, const ts_image *img, const float box[4], float roll,
                                       int rounds, ts_points *out, float fitted[4])
{
    TS_ASSERT(m && box && out);
    float b[4] = { box[0], box[1], box[2], box[3] };
    TS_TRY(ts_ert_predict_rotated(m, img, b, roll, out));
    /* x = l + u (w - 1): fit l, t and one side s = w - 1 = h - 1, with the
     * mean shape's centred points (init_cx, init_cy) kept at load.  A turned
     * box is fitted in the face's frame: the points turned back by -roll
     * about the box's centre, the fitted box's centre turned forward again. */
    const int np = m->n_parts;
    const double mu = m->init[0] - m->init_cx[0], mv = m->init[1] - m->init_cy[0];
    const double a = roll * M_PI / 180.0, co = cos(a), si = sin(a);
    double den = 0;
    for (int i = 0; i < np; i++) den += m->init_cx[i] * m->init_cx[i] + m->init_cy[i] * m->init_cy[i];
    for (int round = 0; round < rounds && den > 0; round++) {
        const double cx = b[0] + (b[2] - 1) / 2.0, cy = b[1] + (b[3] - 1) / 2.0;
        double fx[TS_POINTS_MAX], fy[TS_POINTS_MAX];
        for (int i = 0; i < np; i++) {
            if (roll == 0.0f) {
                fx[i] = out->x[i];
                fy[i] = out->y[i];
            } else { /* R^-1 = R^T */
                double dx = out->x[i] - cx, dy = out->y[i] - cy;
                fx[i] = cx + co * dx - si * dy;
                fy[i] = cy + si * dx + co * dy;
            }
        }
        double mx = 0, my = 0;
        for (int i = 0; i < np; i++) {
            mx += fx[i];
            my += fy[i];
        }
        mx /= np, my /= np;
        double num = 0;
        for (int i = 0; i < np; i++) num += m->init_cx[i] * (fx[i] - mx) + m->init_cy[i] * (fy[i] - my);
        if (!(num > 0)) break;
        double side = num / den;
        float nb[4] = { (float)(mx - side * mu), (float)(my - side * mv), (float)(side + 1), (float)(side + 1) };
        if (roll != 0.0f) {
            double ncx = nb[0] + side / 2.0 - cx, ncy = nb[1] + side / 2.0 - cy;
            nb[0] = (float)(cx + co * ncx + si * ncy - side / 2.0);
            nb[1] = (float)(cy - si * ncx + co * ncy - side / 2.0);
        }
        if (!(nb[2] >= 1) || !isfinite(nb[0]) || !isfinite(nb[1])) break;
        ts_points next;
        if (ts_ert_predict_rotated(m, img, nb, roll, &next) != TS_OK) break; /* keep the last good shape */
        *out = next;
        memcpy(b, nb, sizeof b);
    }
    if (fitted) memcpy(fitted, b, sizeof b);
    return TS_OK;
}

int ts_ert_num_parts(const ts_ert *m)
{
    TS_ASSERT(m);
    return m->n_parts;
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */

static ts_status parse(reader *r, ts_ert *m)
{
    size_t at = r->off;
    int64_t version;
    TS_TRY(rd_slong(r, "version", 4, &version));
    if (version != 1) return rd_fail(r, at, "version", "not a dlib shape_predictor (version must be 1)");

    float init_buf[2 * TS_POINTS_MAX];
    size_t n_init;
    TS_TRY(rd_column(r, "initial_shape", 0, &n_init, init_buf, 2 * TS_POINTS_MAX));
    m->n_parts = (int)(n_init / 2);
    m->init = malloc(n_init * sizeof *m->init);
    m->init_cx = malloc((size_t)m->n_parts * sizeof *m->init_cx);
    m->init_cy = malloc((size_t)m->n_parts * sizeof *m->init_cy);
    if (!m->init || !m->init_cx || !m->init_cy) return ts_error(TS_ERR_OOM, "out of memory for the ert model");
    memcpy(m->init, init_buf, n_init * sizeof *m->init);
    const size_t vals = n_init; /* floats per leaf */
    m->stride = (int)((vals + 7) & ~(size_t)7);

    /* forests */
    TS_TRY(rd_count(r, "forests", 2, 100000, &m->n_cascades));
    m->casc = calloc(m->n_cascades ? m->n_cascades : 1, sizeof *m->casc);
    if (!m->casc) return ts_error(TS_ERR_OOM, "out of memory for the ert model");
    size_t cap_trees = 0, cap_splits = 0, cap_leaves = 0;
    /* Every stored leaf costs at least 4 + 4*vals bytes of the file, which
     * bounds the leaf storage; reserving it at once avoids copying tens of
     * megabytes while growing (pages never touched cost nothing). */
    TS_TRY(grow_leaves(m, &cap_leaves, (r->len - r->off) / (4 + 4 * vals) * (size_t)m->stride + 1));
    for (size_t c = 0; c < m->n_cascades; c++) {
        ert_cascade *cs = &m->casc[c];
        /* a tree is at least two counts (2 bytes each) */
        TS_TRY(rd_count(r, "forests[cascade]", 4, SIZE_MAX, &cs->n_trees));
        if (cs->n_trees > m->max_trees) m->max_trees = cs->n_trees;
        cs->tree_off = m->n_trees;
        TS_TRY(grow((void **)&m->trees, &cap_trees, m->n_trees + cs->n_trees, sizeof *m->trees, "tree table"));
        for (size_t t = 0; t < cs->n_trees; t++) {
            ert_tree *tr = &m->trees[m->n_trees++];
            size_t ns, nl;
            /* a split is 2 ulongs + 1 float: >= 8 bytes */
            TS_TRY(rd_count(r, "tree splits", 8, ERT_MAX_SPLITS, &ns));
            tr->n_splits = (uint32_t)ns;
            tr->split_off = m->n_splits;
            TS_TRY(grow((void **)&m->splits, &cap_splits, m->n_splits + ns, sizeof *m->splits, "splits"));
            for (size_t s = 0; s < ns; s++) {
                ert_split *sp = &m->splits[m->n_splits++];
                uint64_t i1, i2;
                size_t sat = r->off;
                TS_TRY(rd_ulong(r, "split idx1", &i1));
                TS_TRY(rd_ulong(r, "split idx2", &i2));
                /* checked against the cascade's feature count once known */
                if (i1 > ERT_MAX_FEATURES || i2 > ERT_MAX_FEATURES)
                    return rd_fail(r, sat, "split idx1/idx2", "feature index too large");
                sp->idx1 = (uint16_t)i1;
                sp->idx2 = (uint16_t)i2;
                TS_TRY(rd_float(r, "split thresh", &sp->thresh));
            }
            size_t lat = r->off;
            /* a leaf is 2 longs + values*4 bytes */
            TS_TRY(rd_count(r, "tree leaf_values", 4 + 4 * vals, SIZE_MAX, &nl));
            if (nl != ns + 1)
                return rd_fail(r, lat, "tree leaf_values", "a tree needs exactly one leaf more than it has splits");
            tr->leaf_off = m->n_leaf_floats;
            TS_TRY(grow_leaves(m, &cap_leaves, m->n_leaf_floats + nl * (size_t)m->stride));
            for (size_t l = 0; l < nl; l++) {
                float *dst = m->leaves + m->n_leaf_floats;
                TS_TRY(rd_column(r, "leaf_values", vals, NULL, dst, vals));
                memset(dst + vals, 0, ((size_t)m->stride - vals) * sizeof *dst);
                m->n_leaf_floats += (size_t)m->stride;
            }
        }
    }

    /* anchor_idx */
    size_t n, nf;
    at = r->off;
    TS_TRY(rd_count(r, "anchor_idx", 2, SIZE_MAX, &n));
    if (n != m->n_cascades) return rd_fail(r, at, "anchor_idx", "count differs from the number of cascades");
    for (size_t c = 0; c < m->n_cascades; c++) {
        ert_cascade *cs = &m->casc[c];
        TS_TRY(rd_count(r, "anchor_idx[cascade]", 2, ERT_MAX_FEATURES, &nf));
        cs->n_feat = (int)nf;
        cs->anchor = malloc((nf ? nf : 1) * sizeof *cs->anchor);
        if (!cs->anchor) return ts_error(TS_ERR_OOM, "out of memory for the ert model");
        for (size_t i = 0; i < nf; i++) {
            uint64_t a;
            size_t aat = r->off;
            TS_TRY(rd_ulong(r, "anchor_idx", &a));
            if (a >= (uint64_t)m->n_parts) return rd_fail(r, aat, "anchor_idx", "landmark index out of range");
            cs->anchor[i] = (uint16_t)a;
        }
        if (cs->n_feat > m->max_feat) m->max_feat = cs->n_feat;
    }

    /* deltas */
    at = r->off;
    TS_TRY(rd_count(r, "deltas", 2, SIZE_MAX, &n));
    if (n != m->n_cascades) return rd_fail(r, at, "deltas", "count differs from the number of cascades");
    for (size_t c = 0; c < m->n_cascades; c++) {
        ert_cascade *cs = &m->casc[c];
        at = r->off;
        TS_TRY(rd_count(r, "deltas[cascade]", 8, ERT_MAX_FEATURES, &nf));
        if (nf != (size_t)cs->n_feat)
            return rd_fail(r, at, "deltas[cascade]", "count differs from anchor_idx of the same cascade");
        cs->dx = malloc((nf ? nf : 1) * sizeof *cs->dx);
        cs->dy = malloc((nf ? nf : 1) * sizeof *cs->dy);
        if (!cs->dx || !cs->dy) return ts_error(TS_ERR_OOM, "out of memory for the ert model");
        for (size_t i = 0; i < nf; i++) {
            TS_TRY(rd_float(r, "deltas x", &cs->dx[i]));
            TS_TRY(rd_float(r, "deltas y", &cs->dy[i]));
        }
        /* now the split indices can be checked */
        for (size_t t = 0; t < cs->n_trees; t++) {
            const ert_tree *tr = &m->trees[cs->tree_off + t];
            for (uint32_t s = 0; s < tr->n_splits; s++) {
                const ert_split *sp = &m->splits[tr->split_off + s];
                if (sp->idx1 >= cs->n_feat || sp->idx2 >= cs->n_feat)
                    return ts_error(TS_ERR_FORMAT,
                                    "%s: cascade %zu, tree %zu, split %u: feature index %u/%u out of range "
                                    "(the cascade has %d feature pixels)",
                                    r->name, c, t, (unsigned)s, sp->idx1, sp->idx2, cs->n_feat);
            }
        }
    }
    /* Bytes after the deltas are ignored, as dlib's reader does. */

    /* Mean-shape statistics of the similarity transform, in dlib's order. */
    double mx = 0, my = 0, sig = 0;
    for (int i = 0; i < m->n_parts; i++) {
        mx += (double)m->init[2 * i];
        my += (double)m->init[2 * i + 1];
    }
    mx /= (double)m->n_parts;
    my /= (double)m->n_parts;
    for (int i = 0; i < m->n_parts; i++) {
        double cx = (double)m->init[2 * i] - mx, cy = (double)m->init[2 * i + 1] - my;
        m->init_cx[i] = cx;
        m->init_cy[i] = cy;
        sig += cx * cx + cy * cy;
    }
    m->sigma_from = sig / (double)m->n_parts;
    return TS_OK;
}

ts_status ts_ert_load_memory(const uint8_t *buf, size_t len, const char *name, ts_ert **out)
{
    TS_ASSERT(out && (buf || !len));
    *out = NULL;
    reader r = { buf, len, 0, name ? name : "ert model" };
    ts_ert *m = calloc(1, sizeof *m);
    if (!m) return ts_error(TS_ERR_OOM, "out of memory for the ert model");
    ts_status st = parse(&r, m);
    if (st != TS_OK) {
        ts_ert_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

ts_status ts_ert_load(const char *path_or_NULL, ts_ert **out)
{
    TS_ASSERT(out);
    *out = NULL;
    char found[4096];
    const char *path = path_or_NULL;
    if (!path) {
        TS_TRY(ts_model_path_find(TS_ERT_DEFAULT_FILE, TS_ERT_INSTALL_HINT, found, sizeof found));
        path = found;
    }
    /* Map the file rather than copy it: a model is ~100 MB, read once. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ts_error(TS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return ts_error(TS_ERR_IO, "%s: %s", path, S_ISREG(sb.st_mode) ? strerror(e) : "not a regular file");
    }
    if ((uint64_t)sb.st_size > ERT_MAX_FILE) {
        close(fd);
        return ts_error(TS_ERR_FORMAT, "%s: %lld bytes, more than any shape predictor", path, (long long)sb.st_size);
    }
    size_t len = (size_t)sb.st_size;
    if (len == 0) {
        close(fd);
        return ts_ert_load_memory(NULL, 0, path, out);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { /* e.g. a file system without mmap */
        uint8_t *data;
        TS_TRY(ts_read_file(path, ERT_MAX_FILE, &data, &len));
        ts_status st = ts_ert_load_memory(data, len, path, out);
        free(data);
        return st;
    }
    madvise(map, len, MADV_SEQUENTIAL);
    ts_status st = ts_ert_load_memory(map, len, path, out);
    munmap(map, len);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Prediction                                                              */

/* dlib's pinv of the 3x3 matrix [[0,1,1],[0,0,1],[1,1,1]] (the unit-square
 * corners (0,0), (1,0), (1,1) with a row of ones), bit for bit as dlib's
 * SVD-based pinv returns it.  dlib maps the unit square onto a box with
 * Q * pinv(P), Q the box corners; using its constants and its BLAS's
 * fused multiply-add order reproduces dlib's transform exactly, which
 * matters when a feature pixel falls on a half-integer coordinate. */
static const double unit_pinv[3][3] = {
    { -0x1.0000000000002p+0, -0x1.2089bca5dbc7p-51, 0x1.0000000000002p+0 },
    { 0x1.ffffffffffffep-1, -0x1.ffffffffffffcp-1, 0x1.279874319cc46p-53 },
    { -0x1.3a0769889d3ddp-53, 0x1p+0, 0x1.2190684d76608p-53 },
};

typedef struct box_tform {
    double m00, m01, m10, m11, b0, b1;
} box_tform;

static box_tform unnormalizing_tform(double l, double t, double r, double b)
{
    const double q[2][3] = { { l, r, r }, { t, t, b } };
    double o[2][3];
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            o[i][c] = fma(q[i][2], unit_pinv[2][c], fma(q[i][1], unit_pinv[1][c], q[i][0] * unit_pinv[0][c]));
    box_tform f = { o[0][0], o[0][1], o[1][0], o[1][1], o[0][2], o[1][2] };
    return f;
}

/* Rotation+scale part of the least-squares similarity transform from the
 * mean shape to `shape` (Umeyama 1991, eqs. 34-43, as dlib's
 * find_similarity_transform; translation is not needed).  In 2-D the SVD
 * solution has a closed form: with cov = [[a,b],[c,d]] the optimal c*R is
 * [[a+d, b-c], [c-b, a+d]] / sigma_from, for det(cov) of either sign. */
static void similarity(const ts_ert *m, const float *shape, float t[4])
{
    const int n = m->n_parts;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += (double)shape[2 * i];
        my += (double)shape[2 * i + 1];
    }
    mx /= (double)n;
    my /= (double)n;
    double a = 0, b = 0, c = 0, d = 0;
    for (int i = 0; i < n; i++) {
        double tx = (double)shape[2 * i] - mx, ty = (double)shape[2 * i + 1] - my;
        a += tx * m->init_cx[i];
        b += tx * m->init_cy[i];
        c += ty * m->init_cx[i];
        d += ty * m->init_cy[i];
    }
    a /= (double)n;
    b /= (double)n;
    c /= (double)n;
    d /= (double)n;
    if (!(m->sigma_from > 0)) { /* all mean-shape points equal: dlib uses scale 1 */
        t[0] = 1, t[1] = 0, t[2] = 0, t[3] = 1;
        return;
    }
    t[0] = (float)((a + d) / m->sigma_from);
    t[1] = (float)((b - c) / m->sigma_from);
    t[2] = (float)((c - b) / m->sigma_from);
    t[3] = (float)((a + d) / m->sigma_from);
}

static inline float grey_at(const ts_image *img, double x, double y)
{
    /* dlib: point(x,y) rounds half up; outside the image reads as 0 */
    double xr = x + 0.5, yr = y + 0.5;
    if (!(xr >= 0 && xr < (double)img->width && yr >= 0 && yr < (double)img->height)) return 0.0f;
    const uint8_t *p = ts_image_pixel(img, (int)floor(xr), (int)floor(yr));
    return (float)(((unsigned)p[0] + p[1] + p[2]) / 3);
}

static ts_status check_box(const float box[4])
{
    for (int i = 0; i < 4; i++)
        if (!isfinite(box[i]) || fabsf(box[i]) > 1e6f)
            return ts_error(TS_ERR_ARG, "ert: face box (%g,%g,%g,%g) is not finite or too far out",
                            box[0], box[1], box[2], box[3]);
    if (box[2] < 1 || box[3] < 1)
        return ts_error(TS_ERR_ARG, "ert: face box width/height %gx%g must be at least 1", box[2], box[3]);
    return TS_OK;
}

/* dlib's unit-square -> box map, turned by `roll` degrees (counter-
 * clockwise on screen) about the box's centre.  roll 0 is dlib's map
 * exactly (no rotation arithmetic at all). */
static box_tform box_map(const float box[4], float roll)
{
    const double l = box[0], t = box[1], r = (double)box[0] + box[2] - 1, b = (double)box[1] + box[3] - 1;
    box_tform f = unnormalizing_tform(l, t, r, b);
    if (roll == 0.0f) return f;
    /* p' = c + R (p - c), R = [[cos, sin], [-sin, cos]] (align.h's rotation) */
    const double a = roll * M_PI / 180.0, co = cos(a), si = sin(a), cx = (l + r) / 2, cy = (t + b) / 2;
    box_tform g = {
        co * f.m00 + si * f.m10, co * f.m01 + si * f.m11,
        -si * f.m00 + co * f.m10, -si * f.m01 + co * f.m11,
        cx + co * (f.b0 - cx) + si * (f.b1 - cy), cy - si * (f.b0 - cx) + co * (f.b1 - cy),
    };
    return g;
}

ts_status ts_ert_predict(const ts_ert *m, const ts_image *img, const float box[4], ts_points *out)
{
    return ts_ert_predict_rotated(m, img, box, 0.0f, out);
}

ts_status ts_ert_predict_rotated(const ts_ert *m, const ts_image *img, const float box[4], float roll,
                                 ts_points *out)
{
    TS_ASSERT(m && img && img->data && box && out);
    TS_TRY(check_box(box));
    if (!isfinite(roll) || fabsf(roll) > 360.0f) return ts_error(TS_ERR_ARG, "ert: roll %g out of range", roll);
    const box_tform bt = box_map(box, roll);
    const int np = m->n_parts;

    /* scratch: feature pixel values, then the chosen leaf of every tree */
    float *feat = malloc((size_t)(m->max_feat ? m->max_feat : 1) * sizeof *feat);
    const float **chosen = malloc((m->max_trees ? m->max_trees : 1) * sizeof *chosen);
    if (!feat || !chosen) {
        free(feat);
        free((void *)chosen);
        return ts_error(TS_ERR_OOM, "ert: out of memory");
    }
    /* the shape, padded like the leaves, in vector registers' units */
    v8f acc[(2 * TS_POINTS_MAX + 7) / 8];
    const int nv = m->stride / 8;
    memset(acc, 0, sizeof acc);
    memcpy(acc, m->init, (size_t)(2 * np) * sizeof(float));

    for (size_t c = 0; c < m->n_cascades; c++) {
        const ert_cascade *cs = &m->casc[c];
        const float *shape = (const float *)acc;
        float tf[4];
        similarity(m, shape, tf);
        for (int i = 0; i < cs->n_feat; i++) {
            int a = cs->anchor[i];
            /* float arithmetic as dlib's matrix<float,2,2> * vector<float,2> */
            float px = (tf[0] * cs->dx[i] + tf[1] * cs->dy[i]) + shape[2 * a];
            float py = (tf[2] * cs->dx[i] + tf[3] * cs->dy[i]) + shape[2 * a + 1];
            double X = bt.m00 * (double)px + bt.m01 * (double)py + bt.b0;
            double Y = bt.m10 * (double)px + bt.m11 * (double)py + bt.b1;
            feat[i] = grey_at(img, X, Y);
        }
        /* The features are fixed for the whole cascade, so all trees can be
         * walked first; the leaves (the bulk of the memory traffic) are then
         * summed in tree order, which keeps dlib's float rounding, with the
         * next leaves prefetched. */
        const ert_tree *tr = m->trees + cs->tree_off;
        const size_t nt = cs->n_trees;
        for (size_t k = 0; k < nt; k++) {
            const ert_split *sp = m->splits + tr[k].split_off;
            const uint32_t ns = tr[k].n_splits;
            uint32_t i = 0;
            while (i < ns) i = (feat[sp[i].idx1] - feat[sp[i].idx2] > sp[i].thresh) ? 2 * i + 1 : 2 * i + 2;
            chosen[k] = m->leaves + tr[k].leaf_off + (size_t)(i - ns) * (size_t)m->stride;
        }
        for (size_t k = 0; k < nt; k++) {
            if (k + ERT_PREFETCH < nt) {
                const char *p = (const char *)chosen[k + ERT_PREFETCH];
                for (int off = 0; off < m->stride * 4; off += 64) __builtin_prefetch(p + off);
            }
            const v8f *leaf = (const v8f *)chosen[k];
            for (int j = 0; j < nv; j++) acc[j] += leaf[j];
        }
    }
    free(feat);
    free((void *)chosen);

    const float *shape = (const float *)acc;
    out->n = np;
    for (int i = 0; i < np; i++) {
        double x = shape[2 * i], y = shape[2 * i + 1];
        out->x[i] = (float)(bt.m00 * x + bt.m01 * y + bt.b0);
        out->y[i] = (float)(bt.m10 * x + bt.m11 * y + bt.b1);
    }
    return TS_OK;
}
