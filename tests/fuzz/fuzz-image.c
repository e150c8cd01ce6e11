/* fuzz-image.c - fuzz target for the PNG/JPEG decoders (src/face/image.c).
 *
 * Invariants checked on every input: decoding never crashes or leaks; a
 * success gives an RGB8 image within the size cap whose every byte can be
 * read; a failure leaves an empty image and a message naming the input.
 * The pixel cap is lowered to 1 Mpixel so mutated headers cannot make one
 * iteration allocate hundreds of megabytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_image img;
    ts_status st = ts_image_decode_limited(data, size, "fuzz-input", 1L << 20, &img);
    if (st == TS_OK) {
        if (!img.data || img.width < 1 || img.height < 1 || img.stride != 3 * img.width ||
            (long)img.width * img.height > (1L << 20))
            abort();
        unsigned sum = 0;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < 3 * img.width; x++) sum += img.data[(size_t)y * img.stride + x];
        if (sum == 0xdeadbeefu) fputc(' ', stderr); /* keep the reads */
    } else {
        if (img.data || !strstr(ts_last_error(), "fuzz-input")) abort();
    }
    ts_image_clear(&img);
    return 0;
}
