/* input.c - image + landmarks -> model input tensor; see input.h.
 *
 * Invariant: the only code that turns pixels into network inputs, so the
 * normalisation recorded in a checkpoint is applied the same way everywhere.
 */
#include "face/input.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "face/align.h"
#include "face/amap-device.h"
#include "face/amap.h"

/* Source coordinate and weights for one destination index along an axis. */
typedef struct tap {
    int i0, i1;
    float w1; /* weight of i1; i0 gets 1 - w1 */
} tap;

static void make_taps(int src, int dst, tap *t)
{
    float scale = (float)src / (float)dst;
    for (int d = 0; d < dst; d++) {
        float s = ((float)d + 0.5f) * scale - 0.5f;
        if (s < 0) s = 0;
        int i0 = (int)s;
        if (i0 > src - 1) i0 = src - 1;
        int i1 = i0 + 1 < src ? i0 + 1 : src - 1;
        t[d] = (tap){ i0, i1, s - (float)i0 };
        if (t[d].w1 > 1) t[d].w1 = 1;
    }
}

void ts_image_resize_planes(const ts_image *img, int dw, int dh, float *planes)
{
    TS_ASSERT(img && img->data && img->width > 0 && img->height > 0 && dw > 0 && dh > 0);
    tap *tx = malloc((size_t)dw * sizeof *tx), *ty = malloc((size_t)dh * sizeof *ty);
    TS_ASSERT(tx && ty);
    make_taps(img->width, dw, tx);
    make_taps(img->height, dh, ty);
    size_t plane = (size_t)dw * dh;
    for (int y = 0; y < dh; y++) {
        const uint8_t *r0 = img->data + (size_t)ty[y].i0 * img->stride;
        const uint8_t *r1 = img->data + (size_t)ty[y].i1 * img->stride;
        float wy = ty[y].w1;
        for (int x = 0; x < dw; x++) {
            int a = tx[x].i0 * 3, b = tx[x].i1 * 3;
            float wx = tx[x].w1;
            for (int c = 0; c < 3; c++) {
                float top = (float)r0[a + c] + wx * (float)(r0[b + c] - r0[a + c]);
                float bot = (float)r1[a + c] + wx * (float)(r1[b + c] - r1[a + c]);
                planes[c * plane + (size_t)y * dw + x] = (top + wy * (bot - top)) * (1.0f / 255.0f);
            }
        }
    }
    free(tx);
    free(ty);
}

/* A(x,y) of the landmarks of a w x h image in the model's s x s input
 * (step 3's pixel-centre rule), made where the model runs (the GPU's kernel
 * when it is on one; the same bytes either way, amap-device.h).  The one
 * scaling of landmarks into the input: channel 3 and ts_model_amap. */
void ts_points_to_input(const ts_points *pts, int w, int h, int size, ts_points *out)
{
    out->n = pts->n;
    float sx = (float)size / (float)w, sy = (float)size / (float)h;
    for (int j = 0; j < pts->n; j++) {
        out->x[j] = (pts->x[j] + 0.5f) * sx - 0.5f;
        out->y[j] = (pts->y[j] + 0.5f) * sy - 0.5f;
    }
}

static ts_status model_frame_amap(const ts_model *m, int w, int h, const ts_points *pts, uint8_t *map)
{
    int s = m->meta.in_size;
    ts_points *scaled = malloc(sizeof *scaled);
    if (!scaled) return ts_error(TS_ERR_OOM, "out of memory for the A(x,y) map");
    ts_points_to_input(pts, w, h, s, scaled);
    void *ctx = NULL;
    const ts_backend *be = m->graph ? ts_graph_backend(m->graph, &ctx) : NULL;
    ts_status st = ts_amap_compute_on(be, ctx, scaled, s, s, map);
    free(scaled);
    return st;
}

/* Channel 3: A(x,y) of the landmarks in the resized frame, encoded. */
static ts_status amap_channel(const ts_model *m, const ts_image *img, const ts_points *pts, float *dst)
{
    int divisor = 0;
    TS_TRY(ts_amap_encoding_parse(m->meta.amap_encoding, &divisor));
    if (pts->n != divisor + 1)
        return ts_error(TS_ERR_ARG, "the model's A(x,y) encoding '%s' needs %d landmarks, got %d",
                        m->meta.amap_encoding, divisor + 1, pts->n);
    int s = m->meta.in_size;
    uint8_t *map = malloc((size_t)s * s);
    if (!map) return ts_error(TS_ERR_OOM, "out of memory for the A(x,y) map");
    ts_status st = model_frame_amap(m, img->width, img->height, pts, map);
    if (st == TS_OK) st = ts_amap_encode(map, s, s, pts->n, dst);
    free(map);
    return st;
}

bool ts_model_needs_landmarks(const ts_model *m)
{
    return m->meta.in_channels == 4 || m->meta.alignment != TS_ALIGN_NONE;
}

ts_landmark_method ts_model_landmark_method(const ts_model *m)
{
    if (!ts_model_needs_landmarks(m)) return TS_LANDMARKS_NONE;
    return m->meta.landmarks == TS_LANDMARKS_NONE ? TS_LANDMARKS_ERT : m->meta.landmarks;
}

void ts_model_input_range(const ts_model *m, int c, float *low, float *high)
{
    float mean = m->meta.mean[c], sd = m->meta.std[c] > 0 ? m->meta.std[c] : 1.0f;
    *low = (0.0f - mean) / sd;
    *high = (1.0f - mean) / sd;
}

/* The image -> frame map of step 0 (input.h). */
static ts_status frame_map(const ts_image *img, const ts_points *pts, ts_alignment align, int size, int extra,
                           ts_affine *xf)
{
    int side = size + 2 * extra;
    if (align == TS_ALIGN_NONE) {
        if (extra != 0) return ts_error(TS_ERR_ARG, "face frame: alignment 'none' has no margin");
        /* Step 1's pixel-centre rule: x' = (x + 0.5) * S / W - 0.5. */
        double sx = (double)size / img->width, sy = (double)size / img->height;
        *xf = (ts_affine){ { sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5 } };
        return TS_OK;
    }
    if (!pts || pts->n != TS_LANDMARKS)
        return ts_error(TS_ERR_ARG, "face frame: alignment '%s' needs the 68 landmarks (got %d points)",
                        ts_alignment_name(align), pts ? pts->n : 0);
    if (align == TS_ALIGN_SIMILARITY) return ts_align_similarity_map(pts, side, (double)side / size, xf);
    /* rotation, affine: align.h's crop with the whole image as the box. */
    if (extra != 0) return ts_error(TS_ERR_ARG, "face frame: alignment '%s' has no margin", ts_alignment_name(align));
    float box[4] = { 0, 0, (float)img->width, (float)img->height };
    ts_crop_options o = { .alignment = align, .size = size, .enlarge = 1.0f, .border = TS_BORDER_REPLICATE };
    return ts_face_crop_map(img, box, pts, &o, xf);
}

ts_status ts_face_to_frame(const ts_image *img, const ts_points *pts, ts_alignment align, int size, int extra,
                           ts_image *out, ts_points *out_pts)
{
    TS_ASSERT(img && img->data && out && size >= 1 && extra >= 0);
    ts_affine xf;
    TS_TRY(frame_map(img, pts, align, size, extra, &xf));
    int side = size + 2 * extra;
    /* "none" and the old alignments replicate the edge (a whole face crop
     * has no outside); the canonical frame may reach past a tight crop:
     * black, as the rotations of training. */
    ts_border border = align == TS_ALIGN_SIMILARITY ? TS_BORDER_ZERO : TS_BORDER_REPLICATE;
    TS_TRY(ts_image_warp(img, &xf, side, side, border, out));
    if (out_pts) {
        if (pts) {
            *out_pts = *pts;
            ts_points_transform(out_pts, &xf);
        } else {
            out_pts->n = 0;
        }
    }
    return TS_OK;
}

ts_status ts_model_frame_points(const ts_model *m, const ts_image *img, const ts_points *pts, ts_points *out)
{
    ts_affine xf;
    TS_TRY(frame_map(img, pts, m->meta.alignment, m->meta.in_size, 0, &xf));
    *out = *pts;
    ts_points_transform(out, &xf);
    return TS_OK;
}

ts_status ts_model_amap(const ts_model *m, const ts_image *img, const ts_points *pts, uint8_t *map)
{
    if (m->meta.alignment == TS_ALIGN_NONE) return model_frame_amap(m, img->width, img->height, pts, map);
    /* the points as ts_face_to_frame carries them into the S x S frame,
     * then channel 3's scaling (of S to S) as for the framed image */
    ts_points *fp = malloc(sizeof *fp);
    if (!fp) return ts_error(TS_ERR_OOM, "out of memory for the face frame");
    ts_status st = ts_model_frame_points(m, img, pts, fp);
    if (st == TS_OK) st = model_frame_amap(m, m->meta.in_size, m->meta.in_size, fp, map);
    free(fp);
    return st;
}

/* Whether the model was trained here (train/job.h), on faces cut from
 * their frame by ts_face_to_frame: with alignment "none" the whole image
 * scaled, with the box prefilter of a large reduction (ts_image_warp).  Its
 * input is cut the same way, so that an image gives the input training and
 * eval gave it.  A model made elsewhere (ONNX, Caffe) gets step 1's plain
 * bilinear resize of the whole image, as PyTorch's interpolate does. */
static bool trained_on_frames(const ts_model *m)
{
    cJSON *t = cJSON_Parse(m->meta.training ? m->meta.training : "{}");
    bool here = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "alignment")) &&
                cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "data"));
    cJSON_Delete(t);
    return here;
}

ts_status ts_model_input_from_image(const ts_model *m, const ts_image *img, const ts_points *pts,
                                    ts_tensor *out)
{
    const ts_model_meta *md = &m->meta;
    if (md->alignment == TS_ALIGN_NONE && !trained_on_frames(m)) return ts_model_input_from_frame(m, img, pts, out);
    if (!pts && md->alignment != TS_ALIGN_NONE)
        return ts_error(TS_ERR_UNSUPPORTED,
                        "model '%s' was trained on faces aligned by their landmarks (alignment '%s'): it needs"
                        " the face's landmarks (method '%s') and none were given", md->arch,
                        ts_alignment_name(md->alignment), ts_landmark_method_name(md->landmarks));
    ts_image framed = { 0 };
    ts_points *fp = malloc(sizeof *fp);
    if (!fp) return ts_error(TS_ERR_OOM, "out of memory for the face frame");
    ts_status st = ts_face_to_frame(img, pts, md->alignment, md->in_size, 0, &framed, fp);
    if (st == TS_OK) st = ts_model_input_from_frame(m, &framed, pts ? fp : NULL, out);
    ts_image_clear(&framed);
    free(fp);
    return st;
}

ts_status ts_model_input_from_frame(const ts_model *m, const ts_image *img, const ts_points *pts,
                                    ts_tensor *out)
{
    const ts_model_meta *md = &m->meta;
    int s = md->in_size, ch = md->in_channels;
    TS_ASSERT(out && out->data && out->n >= 1 && out->c == ch && out->h == s && out->w == s);
    TS_ASSERT(img && img->data);
    if (ch == 4 && !pts)
        return ts_error(TS_ERR_UNSUPPORTED,
                        "model '%s' is a 4-channel (RGB + A(x,y)) model: it needs the face's"
                        " landmarks (method '%s') and none were given", md->arch,
                        ts_landmark_method_name(md->landmarks));
    if (ch != 3 && ch != 4)
        return ts_error(TS_ERR_UNSUPPORTED, "models with %d input channels are not supported", ch);
    ts_image_resize_planes(img, s, s, out->data);
    size_t plane = (size_t)s * s;
    if (ch == 4) TS_TRY(amap_channel(m, img, pts, out->data + 3 * plane));
    for (int c = 0; c < ch; c++) {
        float *p = out->data + c * plane, mean = md->mean[c], inv = 1.0f / md->std[c];
        for (size_t i = 0; i < plane; i++) p[i] = (p[i] - mean) * inv;
    }
    return TS_OK;
}
