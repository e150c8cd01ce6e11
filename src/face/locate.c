/* locate.c - detector + roll-following landmarks; see locate.h.
 *
 * Invariant: l->det, l->ert, l->net are NULL until first needed, then
 * loaded for the rest of the locator's life.
 */
#include "face/locate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "face/align.h"
#include "face/ert.h"
#include "face/lmnet.h"
#include "face/points.h"

#define MAX_FACES 256
/* ert refits of its box per frame (ert.h: dlib's boxes are tighter than the
 * detectors'). */
#define ERT_REFITS 2

struct ts_locator {
    ts_locator_opts o;
    ts_detector *det;
    ts_ert *ert;
    ts_lmnet *net;
    const struct ts_backend *be; /* where the networks run (NULL: the CPU) */
    void *ctx;
};

ts_status ts_locator_new(const ts_locator_opts *opts, ts_locator **out)
{
    *out = NULL;
    ts_locator *l = calloc(1, sizeof *l);
    if (!l) return ts_error(TS_ERR_OOM, "locator: out of memory");
    if (opts) l->o = *opts;
    if (l->o.method == TS_LANDMARKS_NONE) l->o.method = TS_LANDMARKS_ERT;
    if (!(l->o.min_score > 0)) l->o.min_score = TS_DETECTOR_MIN_SCORE;
    if (l->o.min_score >= 1.0f) {
        free(l);
        return ts_error(TS_ERR_ARG, "locator: minimum score %g outside (0,1)", (double)opts->min_score);
    }
    *out = l;
    return TS_OK;
}

void ts_locator_free(ts_locator *l)
{
    if (!l) return;
    ts_detector_free(l->det);
    ts_ert_free(l->ert);
    ts_lmnet_free(l->net);
    free(l);
}

ts_status ts_locator_detector(ts_locator *l, ts_detector **out)
{
    if (!l->det) {
        TS_TRY(ts_detector_load(l->o.detector, l->o.detector_model, &l->det));
        if (l->be) {
            ts_status st = ts_detector_set_backend(l->det, l->be, l->ctx);
            if (st != TS_OK) {
                ts_detector_free(l->det);
                l->det = NULL;
                return st;
            }
        }
    }
    *out = l->det;
    return TS_OK;
}

static ts_status load_net(ts_locator *l)
{
    if (l->net) return TS_OK;
    TS_TRY(ts_lmnet_load(l->o.cnn_model, &l->net));
    ts_status st = l->be ? ts_lmnet_set_backend(l->net, l->be, l->ctx) : TS_OK;
    if (st != TS_OK) {
        ts_lmnet_free(l->net);
        l->net = NULL;
    }
    return st;
}

ts_status ts_locator_load_landmarks(ts_locator *l)
{
    if (l->o.method == TS_LANDMARKS_ERT && !l->ert) TS_TRY(ts_ert_load(l->o.ert_model, &l->ert));
    if (l->o.method == TS_LANDMARKS_CNN || !l->o.no_roll) TS_TRY(load_net(l));
    return TS_OK;
}

ts_status ts_locator_set_backend(ts_locator *l, const struct ts_backend *be, void *ctx)
{
    if (be && be->device == TS_DEVICE_CPU) be = NULL, ctx = NULL;
    if (l->det) TS_TRY(ts_detector_set_backend(l->det, be, ctx));
    if (l->net) TS_TRY(ts_lmnet_set_backend(l->net, be, ctx));
    l->be = be;
    l->ctx = ctx;
    return TS_OK;
}

void ts_locator_set_method(ts_locator *l, ts_landmark_method method)
{
    l->o.method = method == TS_LANDMARKS_NONE ? TS_LANDMARKS_ERT : method;
}

void ts_locator_set_detector(ts_locator *l, ts_detector_kind kind)
{
    TS_ASSERT(kind >= 0 && kind < TS_DETECTOR_KINDS);
    if (kind == l->o.detector) return;
    ts_detector_free(l->det);
    l->det = NULL;
    l->o.detector = kind;
    l->o.detector_model = NULL; /* a manifest given for the other kind */
}

const ts_locator_opts *ts_locator_options(const ts_locator *l) { return &l->o; }

float ts_points_roll68(const ts_points *pts)
{
    float r[2], e[2];
    ts_points_eye_centres(pts, r, e);
    /* the subject's right eye is on the image's left: upright, e - r points
     * along +x; turned counter-clockwise on screen, it points up (-y) */
    return (float)(atan2(-(double)(e[1] - r[1]), (double)(e[0] - r[0])) * 180.0 / M_PI);
}

/* cnn in a turned frame: the square crop of side `side` on (cx, cy) turned
 * upright (and scaled to at most CNN_CROP pixels: the net sees 112), the
 * net run on the whole crop, the points turned back. */
#define CNN_CROP 160
static ts_status cnn_turned(ts_lmnet *net, const ts_image *img, double cx, double cy, double side, float roll,
                            ts_points *pts)
{
    int S = (int)ceil(side);
    if (S > CNN_CROP) S = CNN_CROP;
    if (S < 8) S = 8;
    const double k = S / fmax(side, 1.0);
    /* image -> crop: turn by -roll about the centre, scale by k, centre ->
     * crop centre (pixel-centre coordinates) */
    ts_affine rot = ts_affine_rotation(-roll, cx, cy);
    ts_affine place = { { k, 0, (S - 1) / 2.0 - k * cx, 0, k, (S - 1) / 2.0 - k * cy } };
    ts_affine xf = ts_affine_mul(&place, &rot), inv;
    TS_TRY(ts_affine_invert(&xf, &inv));
    ts_image crop;
    TS_TRY(ts_image_warp(img, &xf, S, S, TS_BORDER_REPLICATE, &crop));
    const float whole[4] = { 0, 0, (float)S, (float)S };
    ts_status st = ts_lmnet_predict(net, &crop, whole, pts);
    ts_image_clear(&crop);
    /* lmnet's points are relative position times crop size: pixel corners;
     * the warp's map is in pixel centres */
    for (int i = 0; st == TS_OK && i < pts->n; i++) {
        double x, y;
        ts_affine_apply(&inv, pts->x[i] - 0.5, pts->y[i] - 0.5, &x, &y);
        pts->x[i] = (float)x;
        pts->y[i] = (float)y;
    }
    return st;
}

/* Where the face is and how it is turned, read by face-api's net: the crop
 * (centre, side) and its roll, improved from the net's own points until
 * they settle.  On CelebA-HQ the SSD box is 1.09 times as wide and 1.25
 * times as tall as the 68 points' box and its centre 0.13 of the points'
 * height above theirs (measured, mean of 19 faces); the next crop is the
 * square the detector would have given for these points, in their frame. */
typedef struct seed {
    double cx, cy, side; /* crop, image pixel centres */
    float roll;
    double pw, ph;       /* the points' box in their frame */
    ts_points pts;       /* the net's points from the last crop ... */
    float pts_roll;      /* ... which was turned by this */
} seed;

#define SEED_ROUNDS 3
static ts_status cnn_seed(ts_lmnet *net, const ts_image *img, seed *s)
{
    for (int round = 0; round < SEED_ROUNDS; round++) {
        ts_points p;
        TS_TRY(cnn_turned(net, img, s->cx, s->cy, s->side, s->roll, &p));
        s->pts = p;
        s->pts_roll = s->roll;
        float est = ts_points_roll68(&p);
        if (!isfinite(est)) break;
        const double a = est * M_PI / 180.0, co = cos(a), si = sin(a);
        double mx = 0, my = 0;
        for (int i = 0; i < p.n; i++) mx += p.x[i], my += p.y[i];
        mx /= p.n, my /= p.n;
        double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
        for (int i = 0; i < p.n; i++) { /* turned back by -est: R^T */
            double dx = p.x[i] - mx, dy = p.y[i] - my, fx = co * dx - si * dy, fy = si * dx + co * dy;
            x0 = fmin(x0, fx), x1 = fmax(x1, fx), y0 = fmin(y0, fy), y1 = fmax(y1, fy);
        }
        double pw = x1 - x0, ph = y1 - y0, ex = (x0 + x1) / 2, ey = (y0 + y1) / 2 - 0.13 * ph;
        double side = fmax(1.09 * pw, 1.25 * ph);
        if (!(side >= 8) || !isfinite(side)) break;
        double cx = mx + co * ex + si * ey, cy = my - si * ex + co * ey;
        int settled = fabsf(est - s->roll) < TS_LOCATE_ROLL_TOL && fabs(side - s->side) < 0.05 * s->side &&
                      hypot(cx - s->cx, cy - s->cy) < 0.05 * s->side;
        s->cx = cx, s->cy = cy, s->side = side, s->roll = est, s->pw = pw, s->ph = ph;
        if (settled) break;
    }
    return TS_OK;
}

/* Landmarks from a starting crop (centre, side, roll0), following the roll:
 * face-api's net settles the crop and the roll (cnn_seed); cnn returns its
 * points, ert starts from the square of the detector's width on that
 * crop's centre, turned by that roll, and re-reads the roll from its own
 * points until it settles.  no_roll: the old way, upright, ert from the
 * square `frame` as given. */
static ts_status follow(ts_locator *l, const ts_image *img, const float frame[4], float roll0, float seed_side,
                        ts_located_face *out)
{
    float box[4] = { frame[0], frame[1], frame[2], frame[3] }, roll = roll0;
    TS_TRY(ts_locator_load_landmarks(l));
    if (!l->o.no_roll) {
        seed s = { box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, seed_side, roll0, 0, 0, { 0 }, 0 };
        TS_TRY(cnn_seed(l->net, img, &s));
        if (l->o.method == TS_LANDMARKS_CNN) {
            out->pts = s.pts;
            out->roll = s.pts_roll;
            out->frame[0] = (float)(s.cx - s.side / 2), out->frame[1] = (float)(s.cy - s.side / 2);
            out->frame[2] = out->frame[3] = (float)s.side;
            return TS_OK;
        }
        if (s.pw > 0) {
            float side = (float)fmin(1.09 * s.pw, 1.25 * s.ph);
            box[0] = (float)(s.cx - side / 2), box[1] = (float)(s.cy - side / 2), box[2] = box[3] = side;
            roll = s.roll;
        }
    }
    const int rounds = l->o.no_roll ? 1 : TS_LOCATE_ROLL_ROUNDS;
    for (int it = 0; it < rounds; it++) {
        float fitted[4];
        if (l->o.method == TS_LANDMARKS_CNN) {
            TS_TRY(cnn_turned(l->net, img, box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, seed_side, roll, &out->pts));
            memcpy(fitted, box, sizeof fitted);
        } else {
            TS_TRY(ts_ert_predict_refit_rotated(l->ert, img, box, roll, ERT_REFITS, &out->pts, fitted));
        }
        out->roll = roll;
        memcpy(out->frame, fitted, sizeof out->frame);
        if (l->o.no_roll || l->o.method == TS_LANDMARKS_CNN) break;
        float est = ts_points_roll68(&out->pts);
        if (!isfinite(est) || fabsf(est - roll) < TS_LOCATE_ROLL_TOL) break;
        roll = est;
        /* a turn about the box centre keeps the centre: the fitted box
         * serves the next frame as it is */
        memcpy(box, fitted, sizeof box);
    }
    return TS_OK;
}

ts_status ts_locate_landmarks(ts_locator *l, const ts_image *img, const ts_face_box *b, ts_located_face *out)
{
    TS_ASSERT(l && img && b && out);
    memset(out, 0, sizeof *out);
    out->detected = true;
    out->box = *b;
    for (int i = 0; i < 4; i++)
        if (!isfinite((&b->x)[i]) || fabsf((&b->x)[i]) > 1e6f)
            return ts_error(TS_ERR_ARG, "locator: face box is not finite or too far out");
    if (!(b->w > 0 && b->h > 0)) return ts_error(TS_ERR_ARG, "locator: face box %gx%g is empty", b->w, b->h);
    /* the square on the box's centre, side min(w, h) (dlib coordinates:
     * the box spans x .. x+side-1) */
    float side = fminf(b->w, b->h);
    if (side < 1) side = 1;
    float cx = b->x + b->w / 2, cy = b->y + b->h / 2;
    float frame[4] = { cx - side / 2, cy - side / 2, side, side };
    return follow(l, img, frame, b->roll, fmaxf(b->w, b->h), out);
}

ts_status ts_locate_landmarks_fixed(ts_locator *l, const ts_image *img, const float box[4], ts_located_face *out)
{
    TS_ASSERT(l && img && box && out);
    memset(out, 0, sizeof *out);
    out->detected = true;
    out->box = (ts_face_box){ box[0], box[1], box[2], box[3], 0.0f, 0.0f };
    memcpy(out->frame, box, sizeof out->frame);
    if (l->o.method == TS_LANDMARKS_CNN) {
        TS_TRY(load_net(l));
        return ts_lmnet_predict(l->net, img, box, &out->pts);
    }
    if (!l->ert) TS_TRY(ts_ert_load(l->o.ert_model, &l->ert));
    return ts_ert_predict(l->ert, img, box, &out->pts);
}

bool ts_image_is_face_crop(int W, int H, const ts_face_box *largest)
{
    if (!largest) return true;
    const float side = fminf(largest->w, largest->h);
    return (float)(W > H ? W : H) <= TS_FACE_CROP_RATIO * side;
}

void ts_face_crop_box(int W, int H, float box[4])
{
    box[0] = 0.20f * (float)W;
    box[1] = 0.30f * (float)H;
    box[2] = 0.60f * (float)W;
    box[3] = 0.60f * (float)H;
}

static float box_area(const ts_face_box *b) { return b->w * b->h; }

/* The detector's boxes (at most MAX_FACES; *boxes: the caller frees,
 * also on an error). */
static ts_status find_boxes(ts_locator *l, const ts_image *img, ts_face_box **boxes, int *n)
{
    *boxes = NULL;
    *n = 0;
    ts_detector *det;
    TS_TRY(ts_locator_detector(l, &det));
    *boxes = malloc(sizeof **boxes * MAX_FACES);
    if (!*boxes) return ts_error(TS_ERR_OOM, "locator: out of memory");
    ts_status st = ts_detector_find(det, img, l->o.min_score, *boxes, MAX_FACES, n);
    if (*n > MAX_FACES) *n = MAX_FACES;
    return st;
}

ts_status ts_locate_faces(ts_locator *l, const ts_image *img, ts_located_face *faces, int max_faces,
                          int *n_found)
{
    TS_ASSERT(l && img && n_found && (faces || max_faces <= 0));
    *n_found = 0;
    ts_face_box *boxes;
    int n;
    ts_status st = find_boxes(l, img, &boxes, &n);
    for (int i = 0; st == TS_OK && i < n && i < max_faces; i++) st = ts_locate_landmarks(l, img, &boxes[i], &faces[i]);
    free(boxes);
    if (st == TS_OK) *n_found = n;
    return st;
}

/* The detector's largest face (*found false: none). */
static ts_status largest_face(ts_locator *l, const ts_image *img, ts_face_box *b, bool *found)
{
    *found = false;
    if (!img->data || img->width < 1 || img->height < 1) return ts_error(TS_ERR_ARG, "locator: empty image");
    ts_face_box *boxes;
    int n;
    ts_status st = find_boxes(l, img, &boxes, &n);
    int best = -1;
    for (int i = 0; st == TS_OK && i < n; i++)
        if (best < 0 || box_area(&boxes[i]) > box_area(&boxes[best])) best = i;
    if (best >= 0) *b = boxes[best], *found = true;
    free(boxes);
    return st;
}

ts_status ts_locate_face(ts_locator *l, const ts_image *img, ts_located_face *out)
{
    TS_ASSERT(l && img && out);
    memset(out, 0, sizeof *out);
    ts_face_box b;
    bool found;
    TS_TRY(largest_face(l, img, &b, &found));
    if (found) return ts_locate_landmarks(l, img, &b, out);

    /* No face: the image as a CelebA-HQ-framed face crop. */
    float side = 0.6f * (float)(img->width < img->height ? img->width : img->height);
    float frame[4] = { img->width / 2.0f - side / 2, 0.6f * img->height - side / 2, side, side };
    out->detected = false;
    out->box = (ts_face_box){ frame[0], frame[1], side, side, 0.0f, 0.0f };
    return follow(l, img, frame, 0.0f, side, out);
}

ts_status ts_locate_face_or_crop(ts_locator *l, const ts_image *img, ts_located_face *out)
{
    TS_ASSERT(l && img && out);
    memset(out, 0, sizeof *out);
    ts_face_box b;
    bool found;
    TS_TRY(largest_face(l, img, &b, &found));
    if (!ts_image_is_face_crop(img->width, img->height, found ? &b : NULL)) return ts_locate_landmarks(l, img, &b, out);
    float box[4];
    ts_face_crop_box(img->width, img->height, box);
    TS_TRY(ts_locate_landmarks_fixed(l, img, box, out));
    out->detected = found;
    return TS_OK;
}
