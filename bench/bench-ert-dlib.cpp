// bench-ert-dlib.cpp - the peer of bench-ert: dlib's own shape_predictor
// (Debian libdlib-dev), behind a small C interface so that bench-ert times
// both in the same process, on the same core, on the same pixels and boxes.
//
// The images are handed over as RGB8 rows (the very pixels our decoder
// produced) and copied into dlib::array2d<rgb_pixel>, the image type of
// dlib's own examples; boxes are dlib rectangles (right = x+w-1).
#include <chrono>
#include <cstdint>
#include <exception>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

struct peer {
    dlib::shape_predictor sp;
    std::vector<dlib::array2d<dlib::rgb_pixel>> images;
};

extern "C" {

// NULL when dlib cannot read the model.
void *peer_ert_load(const char *model)
{
    peer *p = new peer;
    try {
        dlib::deserialize(model) >> p->sp;
    } catch (std::exception &) {
        delete p;
        return nullptr;
    }
    return p;
}

void peer_ert_free(void *p) { delete static_cast<peer *>(p); }

// Adds an image; returns its index.
int peer_ert_add_image(void *vp, const uint8_t *rgb, int w, int h, int stride)
{
    peer *p = static_cast<peer *>(vp);
    p->images.emplace_back();
    dlib::array2d<dlib::rgb_pixel> &img = p->images.back();
    img.set_size(h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *s = rgb + (size_t)y * stride + 3 * x;
            img[y][x] = dlib::rgb_pixel(s[0], s[1], s[2]);
        }
    return (int)p->images.size() - 1;
}

// dlib's frontal face detector on image idx: up to max boxes (x,y,w,h).
int peer_ert_detect(void *vp, int idx, long *boxes, int max)
{
    peer *p = static_cast<peer *>(vp);
    static dlib::frontal_face_detector det = dlib::get_frontal_face_detector();
    std::vector<dlib::rectangle> r = det(p->images[idx]);
    int n = 0;
    for (; n < (int)r.size() && n < max; n++) {
        boxes[4 * n] = r[n].left();
        boxes[4 * n + 1] = r[n].top();
        boxes[4 * n + 2] = r[n].width();
        boxes[4 * n + 3] = r[n].height();
    }
    return n;
}

// Predicts every face `reps` times; returns the seconds taken.  The points
// of the last repetition go to pts (68*2 longs per face) when not NULL.
double peer_ert_run(void *vp, int n, const int *image, const long *boxes, int reps, long *pts)
{
    peer *p = static_cast<peer *>(vp);
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++) {
            const long *b = boxes + 4 * i;
            dlib::rectangle rect(b[0], b[1], b[0] + b[2] - 1, b[1] + b[3] - 1);
            dlib::full_object_detection d = p->sp(p->images[image[i]], rect);
            if (pts && r == reps - 1)
                for (unsigned long k = 0; k < d.num_parts() && k < 68; k++) {
                    pts[(size_t)i * 136 + 2 * k] = d.part(k).x();
                    pts[(size_t)i * 136 + 2 * k + 1] = d.part(k).y();
                }
        }
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    return dt.count();
}

}
