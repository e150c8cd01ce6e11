/* faceapi-dump-rgb.c - writes the pixels our decoder reads from an image as
 * a binary PPM (P6), so that tests/face/make-faceapi-ref.js can feed
 * face-api exactly the RGB values our detector and landmark net see.
 * Not a test; a helper of the fixture script (tests/face/README-faceapi.md).
 * usage: faceapi-dump-rgb IMAGE OUT.ppm
 */
#include <stdio.h>
#include <stdlib.h>

#include "face/image.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: faceapi-dump-rgb IMAGE OUT.ppm\n");
        return 2;
    }
    ts_image img = { 0 };
    if (ts_image_load(argv[1], &img) != TS_OK) {
        fprintf(stderr, "faceapi-dump-rgb: %s\n", ts_last_error());
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    int ok = f != NULL;
    if (ok) fprintf(f, "P6\n%d %d\n255\n", img.width, img.height);
    for (int y = 0; ok && y < img.height; y++)
        ok = fwrite(ts_image_pixel(&img, 0, y), 3, (size_t)img.width, f) == (size_t)img.width;
    if (f && fclose(f) != 0) ok = 0;
    ts_image_clear(&img);
    if (!ok) {
        fprintf(stderr, "faceapi-dump-rgb: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
