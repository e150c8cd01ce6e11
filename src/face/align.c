/* align.c - affine maps, warping, face crops and augmentations (align.h).
 *
 * Invariants: every output image is produced by inverse-mapping its pixel
 * centres through the inverse of the one ts_affine that also moves the
 * points; bilinear weights use the pixel-centre convention of image.h.
 */
#include "face/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/points.h"

#define PI 3.14159265358979323846

ts_affine ts_affine_identity(void)
{
    return (ts_affine){ { 1, 0, 0, 0, 1, 0 } };
}

ts_affine ts_affine_rotation(double deg, double cx, double cy)
{
    /* Counter-clockwise on screen with y pointing down: a point right of
     * the centre moves up (y decreases). */
    double t = deg * PI / 180.0, c = cos(t), s = sin(t);
    return (ts_affine){ { c, s, cx - c * cx - s * cy, -s, c, cy + s * cx - c * cy } };
}

ts_affine ts_affine_mul(const ts_affine *a, const ts_affine *b)
{
    const double *p = a->m, *q = b->m;
    return (ts_affine){ {
        p[0] * q[0] + p[1] * q[3], p[0] * q[1] + p[1] * q[4], p[0] * q[2] + p[1] * q[5] + p[2],
        p[3] * q[0] + p[4] * q[3], p[3] * q[1] + p[4] * q[4], p[3] * q[2] + p[4] * q[5] + p[5],
    } };
}

ts_status ts_affine_invert(const ts_affine *a, ts_affine *inv)
{
    const double *m = a->m;
    double det = m[0] * m[4] - m[1] * m[3];
    if (!(fabs(det) >= 1e-12))
        return ts_error(TS_ERR_ARG, "affine map is singular (determinant %g)", det);
    double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det, i4 = m[0] / det;
    *inv = (ts_affine){ { i0, i1, -(i0 * m[2] + i1 * m[5]), i3, i4, -(i3 * m[2] + i4 * m[5]) } };
    return TS_OK;
}

void ts_affine_apply(const ts_affine *a, double x, double y, double *ox, double *oy)
{
    *ox = a->m[0] * x + a->m[1] * y + a->m[2];
    *oy = a->m[3] * x + a->m[4] * y + a->m[5];
}

void ts_points_transform(ts_points *pts, const ts_affine *a)
{
    for (int i = 0; i < pts->n; i++) {
        double x, y;
        ts_affine_apply(a, pts->x[i], pts->y[i], &x, &y);
        pts->x[i] = (float)x;
        pts->y[i] = (float)y;
    }
}

ts_status ts_affine_fit(const ts_points *src, const float *dst_x, const float *dst_y,
                        int similarity, ts_affine *out)
{
    int n = src->n;
    if (n < (similarity ? 2 : 3))
        return ts_error(TS_ERR_ARG, "alignment fit: %d points are too few", n);
    /* Centre both sets first: better conditioned normal equations. */
    double mx = 0, my = 0, nx = 0, ny = 0;
    for (int i = 0; i < n; i++) {
        mx += src->x[i];
        my += src->y[i];
        nx += dst_x[i];
        ny += dst_y[i];
    }
    mx /= n, my /= n, nx /= n, ny /= n;
    double sxx = 0, sxy = 0, syy = 0, ux = 0, uy = 0, vx = 0, vy = 0;
    for (int i = 0; i < n; i++) {
        double px = src->x[i] - mx, py = src->y[i] - my;
        double qx = dst_x[i] - nx, qy = dst_y[i] - ny;
        sxx += px * px, sxy += px * py, syy += py * py;
        ux += px * qx, uy += py * qx; /* for x' */
        vx += px * qy, vy += py * qy; /* for y' */
    }
    double a, b, c, d;
    if (similarity) {
        /* x' = a x - b y, y' = b x + a y minimises the squared error with
         * a = sum(p.q)/|p|^2, b = sum(p x q)/|p|^2 (Umeyama 1991, no
         * reflection). */
        double den = sxx + syy;
        if (!(den > 1e-12)) return ts_error(TS_ERR_ARG, "alignment fit: all points coincide");
        double sa = (ux + vy) / den, sb = (vx - uy) / den;
        a = sa, b = -sb, c = sb, d = sa;
    } else {
        double det = sxx * syy - sxy * sxy;
        if (!(det > 1e-9 * (sxx + syy) * (sxx + syy)))
            return ts_error(TS_ERR_ARG, "alignment fit: the points are collinear");
        /* [sxx sxy; sxy syy] [a; b] = [ux; uy], same for [c; d] with v. */
        a = (syy * ux - sxy * uy) / det;
        b = (sxx * uy - sxy * ux) / det;
        c = (syy * vx - sxy * vy) / det;
        d = (sxx * vy - sxy * vx) / det;
    }
    *out = (ts_affine){ { a, b, nx - a * mx - b * my, c, d, ny - c * mx - d * my } };
    return TS_OK;
}

/* ---------------------------------------------------------------- warp */

static inline void fetch(const ts_image *s, int x, int y, ts_border border, float w, float acc[3])
{
    if (x < 0 || y < 0 || x >= s->width || y >= s->height) {
        if (border == TS_BORDER_ZERO) return;
        x = x < 0 ? 0 : x >= s->width ? s->width - 1 : x;
        y = y < 0 ? 0 : y >= s->height ? s->height - 1 : y;
    }
    const uint8_t *p = ts_image_pixel(s, x, y);
    acc[0] += w * p[0], acc[1] += w * p[1], acc[2] += w * p[2];
}

/* Box-filters the source rectangle [x0,x0+f*w) x [y0,y0+f*h) by f.  Pixels
 * outside the image are skipped (a cell with none is black) for
 * TS_BORDER_ZERO, or taken from the nearest edge for TS_BORDER_REPLICATE. */
static ts_status shrink(const ts_image *src, int x0, int y0, int w, int h, int f, ts_border border,
                        ts_image *out)
{
    TS_TRY(ts_image_init(out, w, h));
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            unsigned sum[3] = { 0, 0, 0 }, cnt = 0;
            for (int y = y0 + j * f; y < y0 + (j + 1) * f; y++) {
                int yy = y < 0 ? 0 : y >= src->height ? src->height - 1 : y;
                if (yy != y && border == TS_BORDER_ZERO) continue;
                for (int x = x0 + i * f; x < x0 + (i + 1) * f; x++) {
                    int xx = x < 0 ? 0 : x >= src->width ? src->width - 1 : x;
                    if (xx != x && border == TS_BORDER_ZERO) continue;
                    const uint8_t *p = ts_image_pixel(src, xx, yy);
                    sum[0] += p[0], sum[1] += p[1], sum[2] += p[2], cnt++;
                }
            }
            uint8_t *o = ts_image_pixel(out, i, j);
            for (int c = 0; c < 3; c++) o[c] = cnt ? (uint8_t)((sum[c] + cnt / 2) / cnt) : 0;
        }
    return TS_OK;
}

static ts_status warp_direct(const ts_image *src, const ts_affine *inv, ts_border border,
                             ts_image *out)
{
    const double *m = inv->m;
    for (int v = 0; v < out->height; v++)
        for (int u = 0; u < out->width; u++) {
            double x = m[0] * u + m[1] * v + m[2], y = m[3] * u + m[4] * v + m[5];
            uint8_t *o = ts_image_pixel(out, u, v);
            /* Far outside (also guards the int conversion below). */
            if (!(x > -2 && y > -2 && x < src->width + 1 && y < src->height + 1)) {
                if (border == TS_BORDER_ZERO) {
                    o[0] = o[1] = o[2] = 0;
                    continue;
                }
                x = x < 0 ? 0 : x > src->width - 1 ? src->width - 1 : x;
                y = y < 0 ? 0 : y > src->height - 1 ? src->height - 1 : y;
                if (isnan(x) || isnan(y)) x = y = 0;
            }
            double fx0 = floor(x), fy0 = floor(y);
            int x0 = (int)fx0, y0 = (int)fy0;
            float ax = (float)(x - fx0), ay = (float)(y - fy0);
            float acc[3] = { 0, 0, 0 };
            fetch(src, x0, y0, border, (1 - ax) * (1 - ay), acc);
            fetch(src, x0 + 1, y0, border, ax * (1 - ay), acc);
            fetch(src, x0, y0 + 1, border, (1 - ax) * ay, acc);
            fetch(src, x0 + 1, y0 + 1, border, ax * ay, acc);
            for (int c = 0; c < 3; c++) {
                float val = acc[c] + 0.5f;
                o[c] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
            }
        }
    return TS_OK;
}

ts_status ts_image_warp(const ts_image *src, const ts_affine *xf, int out_w, int out_h,
                        ts_border border, ts_image *out)
{
    TS_ASSERT(src && src->data && xf && out);
    memset(out, 0, sizeof *out);
    ts_affine inv;
    TS_TRY(ts_affine_invert(xf, &inv));
    TS_TRY(ts_image_init(out, out_w, out_h));
    double scale = sqrt(fabs(xf->m[0] * xf->m[4] - xf->m[1] * xf->m[3]));
    int f = scale < 0.5 ? (int)floor(1.0 / scale) : 1;
    if (f > 64) f = 64;
    ts_status st;
    if (f == 1) {
        st = warp_direct(src, &inv, border, out);
    } else {
        /* Source rectangle the output can see, grid-aligned to f. */
        double lo_x = INFINITY, lo_y = INFINITY, hi_x = -INFINITY, hi_y = -INFINITY;
        for (int k = 0; k < 4; k++) {
            double x, y;
            ts_affine_apply(&inv, k & 1 ? out_w : -1, k & 2 ? out_h : -1, &x, &y);
            lo_x = fmin(lo_x, x), hi_x = fmax(hi_x, x), lo_y = fmin(lo_y, y), hi_y = fmax(hi_y, y);
        }
        lo_x = fmax(lo_x, -2.0 * f), lo_y = fmax(lo_y, -2.0 * f);
        hi_x = fmin(hi_x, src->width + 2.0 * f), hi_y = fmin(hi_y, src->height + 2.0 * f);
        if (!(hi_x > lo_x && hi_y > lo_y)) {
            /* The output sees nothing of the source. */
            st = warp_direct(src, &inv, border, out);
        } else {
            int x0 = (int)floor(lo_x / f) * f, y0 = (int)floor(lo_y / f) * f;
            int w = (int)ceil((hi_x - x0) / f) + 1, h = (int)ceil((hi_y - y0) / f) + 1;
            ts_image small;
            st = shrink(src, x0, y0, w, h, f, border, &small);
            if (st == TS_OK) {
                /* Shrunk pixel i has its centre at source x0 + f*i + (f-1)/2. */
                ts_affine up = { { f, 0, x0 + (f - 1) / 2.0, 0, f, y0 + (f - 1) / 2.0 } };
                ts_affine xf2 = ts_affine_mul(xf, &up), inv2;
                st = ts_affine_invert(&xf2, &inv2);
                /* The padded rectangle already follows the border rule. */
                if (st == TS_OK) st = warp_direct(&small, &inv2, border, out);
                ts_image_clear(&small);
            }
        }
    }
    if (st != TS_OK) ts_image_clear(out);
    return st;
}

/* ----------------------------------------------------------- reference */

/* Mean 68-point dlib shape, the TEMPLATE of OpenFace's align_dlib.py
 * (B. Amos et al., "OpenFace: A general-purpose face recognition library
 * with mobile applications", CMU-CS-16-118, 2016; github.com/cmusatyalab/
 * openface, openface/align_dlib.py), in its unit frame. */
static const float openface_template[TS_LANDMARKS][2] = {
    { 0.0792396913815f, 0.339223741112f }, { 0.0829219487236f, 0.456955367943f },
    { 0.0967927109165f, 0.575648016728f }, { 0.122141515615f, 0.691921601066f },
    { 0.168687863544f, 0.800341263616f },  { 0.239789390707f, 0.895732504778f },
    { 0.325662452515f, 0.977068762493f },  { 0.422318282013f, 1.04329000149f },
    { 0.531777802068f, 1.06080371126f },   { 0.641296298053f, 1.03981924107f },
    { 0.738105872266f, 0.972268833998f },  { 0.824444363295f, 0.889624082279f },
    { 0.894792677532f, 0.792494155836f },  { 0.939395486253f, 0.681546643421f },
    { 0.96111933829f, 0.562238253072f },   { 0.970579841181f, 0.441758925744f },
    { 0.971193274221f, 0.322118743967f },  { 0.163846223133f, 0.249151738053f },
    { 0.21780354657f, 0.204255863861f },   { 0.291299351124f, 0.192367318323f },
    { 0.367460241458f, 0.203582210627f },  { 0.4392945113f, 0.233135599851f },
    { 0.586445962425f, 0.228141644834f },  { 0.660152671635f, 0.195923841854f },
    { 0.737466449096f, 0.182360984545f },  { 0.813236546239f, 0.192828009114f },
    { 0.8707571886f, 0.235293377042f },    { 0.51534533827f, 0.31863546193f },
    { 0.516221448289f, 0.396200446263f },  { 0.517118861835f, 0.473797687758f },
    { 0.51816430343f, 0.553157797772f },   { 0.433701156035f, 0.604054457668f },
    { 0.475501237769f, 0.62076344024f },   { 0.520712933176f, 0.634268222208f },
    { 0.565874114041f, 0.618796581487f },  { 0.607054002672f, 0.60157671656f },
    { 0.252418718401f, 0.331052263829f },  { 0.298663015648f, 0.302646354002f },
    { 0.355749724218f, 0.303020650651f },  { 0.403718978315f, 0.33867711083f },
    { 0.352507175597f, 0.349987615384f },  { 0.296791759886f, 0.350478978225f },
    { 0.631326076346f, 0.334136672344f },  { 0.679073381078f, 0.29645404267f },
    { 0.73597236153f, 0.294721285802f },   { 0.782865376271f, 0.321305281656f },
    { 0.740312274764f, 0.341849376713f },  { 0.68499850091f, 0.343734332172f },
    { 0.353167761422f, 0.746189164237f },  { 0.414587777921f, 0.719053835073f },
    { 0.477677654595f, 0.706835892494f },  { 0.522732900812f, 0.717092275768f },
    { 0.569832064287f, 0.705414478982f },  { 0.635195811927f, 0.71565572516f },
    { 0.69951672331f, 0.739419187253f },   { 0.639447159575f, 0.805236879972f },
    { 0.576410514055f, 0.835436670169f },  { 0.525398405766f, 0.841706377792f },
    { 0.47641545769f, 0.837505914975f },   { 0.41379548902f, 0.810045601727f },
    { 0.380084785646f, 0.749979603086f },  { 0.477955996282f, 0.74513234612f },
    { 0.523389793327f, 0.748924302636f },  { 0.571057789237f, 0.74332894691f },
    { 0.672409137852f, 0.744177032192f },  { 0.572539621444f, 0.776609286626f },
    { 0.5240106503f, 0.783370783245f },    { 0.477561227414f, 0.778476346951f },
};

void ts_align_reference68(int size, float x[TS_LANDMARKS], float y[TS_LANDMARKS])
{
    float lo[2] = { INFINITY, INFINITY }, hi[2] = { -INFINITY, -INFINITY };
    for (int i = 0; i < TS_LANDMARKS; i++)
        for (int c = 0; c < 2; c++) {
            lo[c] = fminf(lo[c], openface_template[i][c]);
            hi[c] = fmaxf(hi[c], openface_template[i][c]);
        }
    /* Min-max normalise into [0,1], place in [pad, 1-pad] of the crop's
     * extent [-0.5, size-0.5]. */
    for (int i = 0; i < TS_LANDMARKS; i++) {
        double t[2];
        for (int c = 0; c < 2; c++)
            t[c] = TS_ALIGN_REF_PAD + (1 - 2 * TS_ALIGN_REF_PAD) * (openface_template[i][c] - lo[c]) / (hi[c] - lo[c]);
        x[i] = (float)(t[0] * size - 0.5);
        y[i] = (float)(t[1] * size - 0.5);
    }
}

/* The canonical frame (TS_ALIGN_SIMILARITY; align.h says how it was
 * measured), in unit coordinates of the frame: (0,0) is the top-left corner
 * of the crop, (1,1) the bottom-right. */
static const float canonical68[TS_LANDMARKS][2] = {
    { 0.1312f, 0.3384f }, { 0.1339f, 0.4371f }, { 0.1451f, 0.5359f },
    { 0.1645f, 0.6341f }, { 0.2003f, 0.7259f }, { 0.2577f, 0.8069f },
    { 0.3283f, 0.8773f }, { 0.4085f, 0.9367f }, { 0.5000f, 0.9547f },
    { 0.5932f, 0.9389f }, { 0.6791f, 0.8831f }, { 0.7558f, 0.8154f },
    { 0.8187f, 0.7353f }, { 0.8577f, 0.6427f }, { 0.8781f, 0.5417f },
    { 0.8906f, 0.4397f }, { 0.8952f, 0.3373f }, { 0.1926f, 0.2589f },
    { 0.2420f, 0.2252f }, { 0.3049f, 0.2202f }, { 0.3684f, 0.2327f },
    { 0.4292f, 0.2599f }, { 0.5675f, 0.2581f }, { 0.6313f, 0.2303f },
    { 0.6977f, 0.2184f }, { 0.7637f, 0.2252f }, { 0.8166f, 0.2597f },
    { 0.4980f, 0.3337f }, { 0.4968f, 0.4013f }, { 0.4955f, 0.4691f },
    { 0.4942f, 0.5374f }, { 0.4260f, 0.5753f }, { 0.4597f, 0.5897f },
    { 0.4966f, 0.6026f }, { 0.5343f, 0.5898f }, { 0.5693f, 0.5763f },
    { 0.2664f, 0.3382f }, { 0.3080f, 0.3131f }, { 0.3595f, 0.3154f },
    { 0.4015f, 0.3508f }, { 0.3541f, 0.3588f }, { 0.3042f, 0.3576f },
    { 0.6020f, 0.3511f }, { 0.6448f, 0.3157f }, { 0.6966f, 0.3137f },
    { 0.7391f, 0.3392f }, { 0.7004f, 0.3581f }, { 0.6501f, 0.3593f },
    { 0.3455f, 0.6831f }, { 0.4020f, 0.6651f }, { 0.4576f, 0.6568f },
    { 0.4977f, 0.6663f }, { 0.5393f, 0.6573f }, { 0.5981f, 0.6664f },
    { 0.6596f, 0.6842f }, { 0.6016f, 0.7487f }, { 0.5429f, 0.7762f },
    { 0.4979f, 0.7807f }, { 0.4540f, 0.7756f }, { 0.3986f, 0.7475f },
    { 0.3701f, 0.6895f }, { 0.4571f, 0.6906f }, { 0.4978f, 0.6948f },
    { 0.5398f, 0.6910f }, { 0.6348f, 0.6903f }, { 0.5406f, 0.7232f },
    { 0.4979f, 0.7279f }, { 0.4563f, 0.7224f },
};

void ts_align_canonical68(int size, float x[TS_LANDMARKS], float y[TS_LANDMARKS])
{
    for (int i = 0; i < TS_LANDMARKS; i++) {
        x[i] = canonical68[i][0] * (float)size - 0.5f;
        y[i] = canonical68[i][1] * (float)size - 0.5f;
    }
}

#define INNER_FIRST 17 /* brows, nose, eyes, mouth: points 17-67 */

ts_status ts_align_similarity_map(const ts_points *pts, int size, double margin, ts_affine *xf)
{
    if (!pts || pts->n != TS_LANDMARKS)
        return ts_error(TS_ERR_ARG, "similarity alignment needs the 68 landmarks (got %d points)", pts ? pts->n : 0);
    if (!(margin >= 1 && margin <= 16) || size < 1)
        return ts_error(TS_ERR_ARG, "similarity alignment: margin %g or size %d out of range", margin, size);
    /* Reference points of a crop of `size` that shows `margin` windows:
     * unit coordinates u map to ((u - 0.5) / margin + 0.5) * size. */
    ts_points src = { .n = TS_LANDMARKS - INNER_FIRST };
    float rx[TS_LANDMARKS], ry[TS_LANDMARKS];
    for (int i = INNER_FIRST; i < TS_LANDMARKS; i++) {
        int k = i - INNER_FIRST;
        if (!isfinite(pts->x[i]) || !isfinite(pts->y[i]))
            return ts_error(TS_ERR_ARG, "similarity alignment: landmark %d is not finite", i);
        src.x[k] = pts->x[i];
        src.y[k] = pts->y[i];
        rx[k] = (float)(((canonical68[i][0] - 0.5) / margin + 0.5) * size - 0.5);
        ry[k] = (float)(((canonical68[i][1] - 0.5) / margin + 0.5) * size - 0.5);
    }
    ts_status st = ts_affine_fit(&src, rx, ry, 1, xf);
    if (st != TS_OK) return ts_error_prefix(st, "similarity alignment: ");
    double det = xf->m[0] * xf->m[4] - xf->m[1] * xf->m[3];
    if (!(fabs(det) > 1e-12) || !isfinite(det))
        return ts_error(TS_ERR_ARG, "similarity alignment: the landmarks collapse to a point");
    return TS_OK;
}

/* ---------------------------------------------------------------- crop */

ts_status ts_face_crop_map(const ts_image *img, const float *box, const ts_points *pts,
                           const ts_crop_options *opt, ts_affine *xf_out)
{
    TS_ASSERT(img && img->data && xf_out);
    (void)img;
    ts_crop_options o = opt ? *opt : (ts_crop_options){ 0 };
    int size = o.size ? o.size : TS_CROP_SIZE_DEFAULT;
    float enlarge = o.enlarge > 0 ? o.enlarge : TS_CROP_ENLARGE_DEFAULT;
    if (size < 1 || size > 4096 || !isfinite(enlarge) || enlarge > 100)
        return ts_error(TS_ERR_ARG, "face crop: size %d or enlarge %g out of range", size, (double)enlarge);
    int have_pts = pts && pts->n > 0;
    if (o.alignment != TS_ALIGN_NONE && (!pts || pts->n != TS_LANDMARKS))
        return ts_error(TS_ERR_ARG, "face crop: %s alignment needs the 68 landmarks (got %d points)",
                        ts_alignment_name(o.alignment), pts ? pts->n : 0);

    ts_affine xf;
    if (o.alignment == TS_ALIGN_SIMILARITY) {
        TS_TRY(ts_align_similarity_map(pts, size, opt && opt->enlarge > 0 ? opt->enlarge : 1.0, &xf));
    } else if (o.alignment == TS_ALIGN_AFFINE) {
        float rx[TS_LANDMARKS], ry[TS_LANDMARKS];
        ts_align_reference68(size, rx, ry);
        ts_status st = ts_affine_fit(pts, rx, ry, 0, &xf);
        if (st != TS_OK) return ts_error_prefix(st, "face crop: ");
    } else {
        double bx, by, bw, bh;
        if (box) {
            bx = box[0], by = box[1], bw = box[2], bh = box[3];
            if (!(bw > 0 && bh > 0 && isfinite(bx) && isfinite(by) && bw < 1e7 && bh < 1e7))
                return ts_error(TS_ERR_ARG, "face crop: bad box [%g,%g,%g,%g]", bx, by, bw, bh);
        } else if (have_pts) {
            double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
            for (int i = 0; i < pts->n; i++) {
                x0 = fmin(x0, pts->x[i]), x1 = fmax(x1, pts->x[i]);
                y0 = fmin(y0, pts->y[i]), y1 = fmax(y1, pts->y[i]);
            }
            bx = x0, by = y0, bw = x1 - x0 + 1, bh = y1 - y0 + 1;
        } else {
            return ts_error(TS_ERR_ARG, "face crop: neither a box nor landmarks given");
        }
        /* dlib rectangle: pixels X..X+W-1, centre at X + (W-1)/2. */
        double cx = bx + (bw - 1) / 2, cy = by + (bh - 1) / 2;
        double s = size / (enlarge * fmax(bw, bh)), off = (size - 1) / 2.0;
        ts_affine rot = ts_affine_identity();
        if (o.alignment == TS_ALIGN_ROTATION) {
            float re[2], le[2];
            ts_points_eye_centres(pts, re, le);
            /* The subject's right eye is on the picture's left: the vector
             * right->left eye points along +x when the eyes are level. */
            double ang = atan2(le[1] - re[1], le[0] - re[0]) * 180.0 / PI;
            rot = ts_affine_rotation(ang, (re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0);
            double ncx, ncy;
            ts_affine_apply(&rot, cx, cy, &ncx, &ncy);
            cx = ncx, cy = ncy;
        }
        ts_affine crop = { { s, 0, off - s * cx, 0, s, off - s * cy } };
        xf = ts_affine_mul(&crop, &rot);
    }
    *xf_out = xf;
    return TS_OK;
}

ts_status ts_face_crop(const ts_image *img, const float *box, const ts_points *pts,
                       const ts_crop_options *opt, ts_image *out, ts_points *out_pts,
                       ts_affine *xf_out)
{
    TS_ASSERT(img && img->data && out);
    memset(out, 0, sizeof *out);
    ts_affine xf;
    TS_TRY(ts_face_crop_map(img, box, pts, opt, &xf));
    int size = opt && opt->size ? opt->size : TS_CROP_SIZE_DEFAULT;
    ts_border border = opt ? opt->border : TS_BORDER_ZERO;
    int have_pts = pts && pts->n > 0;
    TS_TRY(ts_image_warp(img, &xf, size, size, border, out));
    if (out_pts) {
        if (have_pts) {
            *out_pts = *pts;
            ts_points_transform(out_pts, &xf);
        } else {
            out_pts->n = 0;
        }
    }
    if (xf_out) *xf_out = xf;
    return TS_OK;
}

ts_status ts_face_rotate(const ts_image *img, ts_points *pts, double deg, ts_border border,
                         ts_image *out)
{
    TS_ASSERT(img && img->data && out);
    ts_affine r = ts_affine_rotation(deg, (img->width - 1) / 2.0, (img->height - 1) / 2.0);
    TS_TRY(ts_image_warp(img, &r, img->width, img->height, border, out));
    if (pts) ts_points_transform(pts, &r);
    return TS_OK;
}

ts_status ts_face_mirror(ts_image *img, ts_points *pts)
{
    TS_ASSERT(img && img->data);
    if (pts) TS_TRY(ts_points_mirror68(pts, img->width));
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->data + (size_t)y * img->stride;
        for (int a = 0, b = img->width - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
    return TS_OK;
}
