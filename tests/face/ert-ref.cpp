// ert-ref.cpp - the reference for test-ert: dlib itself (Debian libdlib-dev).
//
// Runs dlib's frontal face detector (HOG + linear SVM, no upsampling) and
// dlib's shape_predictor with shape_predictor_68_face_landmarks.dat on each
// image given, and prints one line per detected face:
//
//   face IMAGE_INDEX X Y W H x0 y0 x1 y1 ... x67 y67
//
// where X,Y,W,H is the detector's rectangle as left, top, width, height
// (dlib's right = X+W-1, bottom = Y+H-1) and xi,yi are dlib's landmark
// positions (dlib rounds them to whole pixels).  An image with no face
// prints "none IMAGE_INDEX"; one dlib cannot read prints "error IMAGE_INDEX".
//
// usage: ert-ref MODEL.dat [--box X,Y,W,H]... IMAGE...
//
// With --box (repeatable), the detector is not run: every image gets those
// boxes, in the order given.
//
// This program is only a test oracle: it is built when libdlib-dev is
// present and is never linked into libtraitscope.
#include <cstdio>
#include <exception>
#include <string>

#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: ert-ref MODEL.dat IMAGE...\n");
        return 2;
    }
    dlib::shape_predictor sp;
    try {
        dlib::deserialize(argv[1]) >> sp;
    } catch (std::exception &e) {
        std::fprintf(stderr, "ert-ref: %s: %s\n", argv[1], e.what());
        return 1;
    }
    int first = 2;
    std::vector<dlib::rectangle> fixed;
    while (first + 1 < argc && std::string(argv[first]) == "--box") {
        long bx, by, bw, bh;
        if (std::sscanf(argv[first + 1], "%ld,%ld,%ld,%ld", &bx, &by, &bw, &bh) != 4) {
            std::fprintf(stderr, "ert-ref: bad --box %s\n", argv[first + 1]);
            return 2;
        }
        fixed.push_back(dlib::rectangle(bx, by, bx + bw - 1, by + bh - 1));
        first += 2;
    }
    dlib::frontal_face_detector detector;
    if (fixed.empty()) detector = dlib::get_frontal_face_detector();
    for (int i = first; i < argc; i++) {
        dlib::array2d<dlib::rgb_pixel> img;
        try {
            dlib::load_image(img, argv[i]);
        } catch (std::exception &e) {
            std::printf("error %d\n", i - first);
            continue;
        }
        std::vector<dlib::rectangle> dets = fixed.empty() ? detector(img) : fixed;
        if (dets.empty()) std::printf("none %d\n", i - first);
        for (const dlib::rectangle &r : dets) {
            dlib::full_object_detection shape = sp(img, r);
            std::printf("face %d %ld %ld %ld %ld", i - first, r.left(), r.top(), r.width(), r.height());
            for (unsigned long k = 0; k < shape.num_parts(); k++)
                std::printf(" %ld %ld", shape.part(k).x(), shape.part(k).y());
            std::printf("\n");
        }
    }
    return 0;
}
