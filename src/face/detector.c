/* detector.c - the public face detector: loading either network, one pass
 * (face-api's own), and Traitscope's search over several passes (see
 * detector.h).
 *
 * Invariant: exactly one of d->ssd and d->tiny is set, as d->kind says.
 */
#include "face/detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/align.h"
#include "face/detector-nets.h"
#include "face/faceapi-net.h"
#include "face/model-path.h"

struct ts_detector {
    ts_detector_kind kind;
    ts_ssd *ssd;
    ts_tiny *tiny;
};

static const char *const kind_names[TS_DETECTOR_KINDS] = { "ssd", "tiny" };

const char *ts_detector_kind_name(ts_detector_kind kind)
{
    return kind >= 0 && kind < TS_DETECTOR_KINDS ? kind_names[kind] : "unknown";
}

ts_status ts_detector_kind_parse(const char *text, ts_detector_kind *out)
{
    for (int k = 0; k < TS_DETECTOR_KINDS; k++)
        if (text && !strcmp(text, kind_names[k])) {
            *out = (ts_detector_kind)k;
            return TS_OK;
        }
    return ts_error(TS_ERR_ARG, "unknown detector '%.40s' (ssd or tiny)", text ? text : "");
}

ts_status ts_detector_load(ts_detector_kind kind, const char *path_or_NULL, ts_detector **out)
{
    TS_ASSERT(out && kind >= 0 && kind < TS_DETECTOR_KINDS);
    *out = NULL;
    char found[4096];
    const char *path = path_or_NULL;
    if (!path) {
        TS_TRY(ts_model_path_find(kind == TS_DETECTOR_SSD ? TS_DETECTOR_SSD_MODEL : TS_DETECTOR_TINY_MODEL,
                                  TS_FACEAPI_INSTALL_HINT, found, sizeof found));
        path = found;
    }
    ts_detector *d = calloc(1, sizeof *d);
    if (!d) return ts_error(TS_ERR_OOM, "detector: out of memory");
    d->kind = kind;
    ts_status st = kind == TS_DETECTOR_SSD ? ts_ssd_load(path, &d->ssd) : ts_tiny_load(path, &d->tiny);
    if (st != TS_OK) {
        free(d);
        return st;
    }
    *out = d;
    return TS_OK;
}

ts_detector_kind ts_detector_get_kind(const ts_detector *d) { return d->kind; }

ts_status ts_detector_set_input_size(ts_detector *d, int size)
{
    if (d->kind == TS_DETECTOR_TINY) return ts_tiny_set_input_size(d->tiny, size);
    if (size != TS_SSD_INPUT)
        return ts_error(TS_ERR_ARG, "the ssd detector's input size is fixed at %d (got %d)", TS_SSD_INPUT, size);
    return TS_OK;
}

int ts_detector_input_size(const ts_detector *d)
{
    return d->kind == TS_DETECTOR_TINY ? ts_tiny_input_size(d->tiny) : TS_SSD_INPUT;
}

ts_status ts_detector_set_backend(ts_detector *d, const struct ts_backend *be, void *ctx)
{
    return d->kind == TS_DETECTOR_SSD ? ts_ssd_set_backend(d->ssd, be, ctx) : ts_tiny_set_backend(d->tiny, be, ctx);
}

ts_status ts_detector_detect(ts_detector *d, const ts_image *img, float min_score, ts_face_box *boxes,
                             int max_boxes, int *n_found)
{
    TS_ASSERT(d && img && n_found && (boxes || max_boxes <= 0));
    return d->kind == TS_DETECTOR_SSD ? ts_ssd_detect(d->ssd, img, min_score, boxes, max_boxes, n_found)
                                      : ts_tiny_detect(d->tiny, img, min_score, boxes, max_boxes, n_found);
}

/* One pass on the image seen through `xf` (image -> canvas, pixel-centre
 * coordinates) on a canvas of the network's input size: the boxes found are
 * mapped back to the image, their roll the canvas's turn undone. */
static ts_status pass_on_canvas(ts_detector *d, const ts_image *img, const ts_affine *xf, double deg,
                                float min_score, ts_face_box *boxes, int max_boxes, int *n_found)
{
    const int S = ts_detector_input_size(d);
    ts_image canvas;
    TS_TRY(ts_image_warp(img, xf, S, S, TS_BORDER_ZERO, &canvas));
    ts_status st = ts_detector_detect(d, &canvas, min_score, boxes, max_boxes, n_found);
    ts_image_clear(&canvas);
    if (st != TS_OK) return st;
    ts_affine inv;
    TS_TRY(ts_affine_invert(xf, &inv));
    const double scale = sqrt(fabs(xf->m[0] * xf->m[4] - xf->m[1] * xf->m[3]));
    const int n = *n_found < max_boxes ? *n_found : max_boxes;
    for (int i = 0; i < n; i++) {
        ts_face_box *b = &boxes[i];
        double cx, cy; /* the box centre, corner -> pixel-centre coordinates and back */
        ts_affine_apply(&inv, b->x + b->w / 2.0 - 0.5, b->y + b->h / 2.0 - 0.5, &cx, &cy);
        double w = b->w / scale, h = b->h / scale;
        *b = (ts_face_box){ (float)(cx + 0.5 - w / 2), (float)(cy + 0.5 - h / 2), (float)w, (float)h, b->score,
                            (float)-deg };
    }
    return TS_OK;
}

/* The image turned by `deg` about its centre and shrunk so that its longer
 * side fills `fill` of the canvas, centred. */
static ts_affine canvas_map(const ts_image *img, int S, double fill, double deg)
{
    int L = img->width > img->height ? img->width : img->height;
    double s = fill * S / L;
    ts_affine to_origin = { { 1, 0, -(img->width - 1) / 2.0, 0, 1, -(img->height - 1) / 2.0 } };
    ts_affine rot = ts_affine_rotation(deg, 0, 0);
    ts_affine scale_to_canvas = { { s, 0, (S - 1) / 2.0, 0, s, (S - 1) / 2.0 } };
    ts_affine a = ts_affine_mul(&rot, &to_origin);
    return ts_affine_mul(&scale_to_canvas, &a);
}

static double bounds_iou(const ts_face_box *a, const ts_face_box *b)
{
    float p[4], q[4];
    ts_face_box_bounds(a, p);
    ts_face_box_bounds(b, q);
    double iw = fmin(p[0] + p[2], q[0] + q[2]) - fmax(p[0], q[0]);
    double ih = fmin(p[1] + p[3], q[1] + q[3]) - fmax(p[1], q[1]);
    if (iw <= 0 || ih <= 0) return 0;
    return iw * ih / ((double)p[2] * p[3] + (double)q[2] * q[3] - iw * ih);
}

/* The passes of ts_detector_find after the plain one, in order; each runs
 * only while nothing has been found.  fill: share of the canvas the
 * image's longer side takes (a close-up's face then has the size the
 * detector knows best); deg: the turn. */
typedef struct find_pass {
    double fill, deg;
} find_pass;
static const find_pass extra_passes[] = {
    { 0.6, 0 },
    { 0.6, 30 }, { 0.6, -30 },
    { 0.6, 60 }, { 0.6, -60 },
};
#define FIND_MAX 256

ts_status ts_detector_find(ts_detector *d, const ts_image *img, float min_score, ts_face_box *boxes,
                           int max_boxes, int *n_found)
{
    TS_ASSERT(d && img && n_found && (boxes || max_boxes <= 0));
    *n_found = 0;
    ts_face_box *all = malloc(sizeof *all * FIND_MAX);
    if (!all) return ts_error(TS_ERR_OOM, "detector: out of memory");
    int n = 0;
    ts_status st = ts_detector_detect(d, img, min_score, all, FIND_MAX, &n);
    if (n > FIND_MAX) n = FIND_MAX;
    const int S = ts_detector_input_size(d);
    for (size_t p = 0; st == TS_OK && n == 0 && p < sizeof extra_passes / sizeof *extra_passes; p++) {
        const find_pass *fp = &extra_passes[p];
        /* two turns of the same size run together; the better box wins */
        ts_affine xf = canvas_map(img, S, fp->fill, fp->deg);
        int k = 0;
        st = pass_on_canvas(d, img, &xf, fp->deg, min_score, all + n, FIND_MAX - n, &k);
        n += k < FIND_MAX - n ? k : FIND_MAX - n;
        if (fp->deg > 0 && p + 1 < sizeof extra_passes / sizeof *extra_passes &&
            extra_passes[p + 1].deg == -fp->deg && st == TS_OK) {
            p++;
            xf = canvas_map(img, S, extra_passes[p].fill, extra_passes[p].deg);
            st = pass_on_canvas(d, img, &xf, extra_passes[p].deg, min_score, all + n, FIND_MAX - n, &k);
            n += k < FIND_MAX - n ? k : FIND_MAX - n;
        }
    }
    if (st != TS_OK) {
        free(all);
        return st;
    }
    /* Merge: best first; a box overlapping a better one by IoU > 0.5 (of
     * their bounding boxes) is the same face. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && all[j].score > all[j - 1].score; j--) {
            ts_face_box t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < kept && !dup; j++) dup = bounds_iou(&all[i], &all[j]) > 0.5;
        if (!dup) all[kept++] = all[i];
    }
    for (int i = 0; i < kept && i < max_boxes; i++) boxes[i] = all[i];
    *n_found = kept;
    free(all);
    return TS_OK;
}

void ts_face_box_bounds(const ts_face_box *b, float out[4])
{
    double t = b->roll * M_PI / 180.0, c = fabs(cos(t)), s = fabs(sin(t));
    double w = b->w * c + b->h * s, h = b->w * s + b->h * c;
    double cx = b->x + b->w / 2.0, cy = b->y + b->h / 2.0;
    out[0] = (float)(cx - w / 2);
    out[1] = (float)(cy - h / 2);
    out[2] = (float)w;
    out[3] = (float)h;
}

void ts_detector_free(ts_detector *d)
{
    if (!d) return;
    ts_ssd_free(d->ssd);
    ts_tiny_free(d->tiny);
    free(d);
}
