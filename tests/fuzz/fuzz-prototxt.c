/* fuzz-prototxt.c - fuzz target for the Caffe prototxt (protobuf text
 * format) reader (src/nn/caffe.c, ts_caffe_prototxt_to_arch).
 *
 * Invariants: no crash, leak or out-of-bounds read; a failure names the
 * input; a success gives architecture text that our own description
 * parser (arch.h) accepts or refuses cleanly.  A prototxt carries no
 * weights, so a mutated num_output could ask for gigabytes: the text is
 * only built into a graph when every number in it is at most 256.
 *
 * Seeds: tests/fuzz/seeds/caffe-small.prototxt (written by our exporter)
 * and caffe-v1.prototxt (the legacy V1 syntax).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "nn/caffe.h"

static int small_numbers(const char *s)
{
    for (const char *p = s; *p; p++)
        if (isdigit((unsigned char)*p)) {
            char *end;
            long v = strtol(p, &end, 10);
            if (v > 256) return 0;
            p = end - 1;
        }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = NULL;
    ts_status st = ts_caffe_prototxt_to_arch((const char *)data, size, "fuzz-input", &text);
    if (st != TS_OK) {
        if (text || !strstr(ts_last_error(), "fuzz-input")) abort();
        return 0;
    }
    if (!text) abort();
    if (small_numbers(text)) {
        ts_graph *g = NULL;
        if (ts_arch_parse(text, "fuzz-arch", &g) == TS_OK) ts_graph_free(g);
    }
    free(text);
    return 0;
}
