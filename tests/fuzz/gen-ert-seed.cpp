// gen-ert-seed.cpp - writes small but valid dlib shape predictor files with
// dlib itself (Debian libdlib-dev), as seeds for fuzz-ert and as the small
// model of test-ert's exactness check.  Trees, thresholds and leaves are
// random (fixed seed), so the files are reproducible and tiny.
//
// Build and run (from the source root; not part of the meson build because
// the outputs are committed):
//   g++ -O2 -o /tmp/gen-ert-seed tests/fuzz/gen-ert-seed.cpp $(pkg-config --cflags --libs dlib-1)
//   /tmp/gen-ert-seed tests/fuzz/seeds/ert-small.dat 5 3 4 3 30
//   /tmp/gen-ert-seed tests/fuzz/seeds/ert-68.dat 68 2 3 2 40
// Arguments: OUT PARTS CASCADES TREES_PER_CASCADE DEPTH FEATURES.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include <dlib/image_processing.h>

int main(int argc, char **argv)
{
    if (argc != 7) {
        std::fprintf(stderr, "usage: gen-ert-seed OUT PARTS CASCADES TREES DEPTH FEATURES\n");
        return 2;
    }
    const long parts = std::atol(argv[2]), cascades = std::atol(argv[3]), trees = std::atol(argv[4]);
    const long depth = std::atol(argv[5]), features = std::atol(argv[6]);
    std::mt19937 rng(12345);
    std::uniform_real_distribution<float> unit(0.1f, 0.9f), off(-0.03f, 0.03f), thr(-60.f, 60.f);
    std::uniform_int_distribution<unsigned long> feat(0, features - 1);

    dlib::matrix<float, 0, 1> init(parts * 2);
    for (long i = 0; i < parts * 2; i++) init(i) = unit(rng);

    std::vector<std::vector<dlib::impl::regression_tree>> forests(cascades);
    std::vector<std::vector<dlib::vector<float, 2>>> pixels(cascades);
    const unsigned long n_splits = (1ul << depth) - 1;
    for (long c = 0; c < cascades; c++) {
        for (long f = 0; f < features; f++)
            pixels[c].push_back(dlib::vector<float, 2>(unit(rng) * 1.2f - 0.1f, unit(rng) * 1.2f - 0.1f));
        forests[c].resize(trees);
        for (auto &t : forests[c]) {
            for (unsigned long s = 0; s < n_splits; s++) {
                dlib::impl::split_feature sp;
                sp.idx1 = feat(rng);
                sp.idx2 = feat(rng);
                sp.thresh = thr(rng);
                t.splits.push_back(sp);
            }
            for (unsigned long l = 0; l <= n_splits; l++) {
                dlib::matrix<float, 0, 1> leaf(parts * 2);
                for (long i = 0; i < parts * 2; i++) leaf(i) = off(rng);
                t.leaf_values.push_back(leaf);
            }
        }
    }
    dlib::shape_predictor sp(init, forests, pixels);
    dlib::serialize(argv[1]) << sp;
    return 0;
}
