/* driver.c - runs a libFuzzer target without libFuzzer.
 *
 * Every fuzz target (fuzz-NAME.c) defines LLVMFuzzerTestOneInput.  With
 * -Dfuzz=true and clang, the targets link -fsanitize=fuzzer for real
 * coverage-guided runs.  In the ordinary build this driver links each target
 * into a meson test that feeds it the seed files given on the command line,
 * then a fixed number of seeded random mutations of them (bit flips,
 * truncations, byte insertions, splices), so every CI run exercises the
 * parser's error paths under the sanitizers.
 *
 * usage: fuzz-NAME [--iterations N] [--seed S] SEED_FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (!got) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    long iterations = 2000;
    rng_state = 0x9e3779b97f4a7c15ull;
    int first = 1;
    while (first < argc && argv[first][0] == '-' && argv[first][1] == '-') {
        if (!strcmp(argv[first], "--iterations") && first + 1 < argc) iterations = atol(argv[++first]);
        else if (!strcmp(argv[first], "--seed") && first + 1 < argc) rng_state = strtoull(argv[++first], NULL, 0) | 1;
        first++;
    }
    int n_seeds = argc - first;
    uint8_t **seeds = calloc((size_t)n_seeds + 1, sizeof *seeds);
    size_t *lens = calloc((size_t)n_seeds + 1, sizeof *lens);
    for (int i = 0; i < n_seeds; i++) {
        seeds[i] = read_all(argv[first + i], &lens[i]);
        if (!seeds[i]) {
            fprintf(stderr, "fuzz driver: cannot read seed %s\n", argv[first + i]);
            return 1;
        }
        LLVMFuzzerTestOneInput(seeds[i], lens[i]);
    }
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    if (n_seeds == 0) {
        printf("fuzz driver: no seeds, ran the empty input only\n");
        return 0;
    }
    for (long it = 0; it < iterations; it++) {
        int s = (int)(rnd() % (uint64_t)n_seeds);
        size_t len = lens[s];
        uint8_t *buf = malloc(len + 64);
        memcpy(buf, seeds[s], len);
        int edits = 1 + (int)(rnd() % 8);
        for (int e = 0; e < edits; e++) {
            switch (rnd() % 5) {
            case 0: /* flip a bit */
                if (len) buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1: /* random byte */
                if (len) buf[rnd() % len] = (uint8_t)rnd();
                break;
            case 2: /* truncate */
                if (len) len = rnd() % len;
                break;
            case 3: /* interesting values */
                if (len >= 4) {
                    static const uint32_t v[] = { 0, 0xffffffffu, 0x7fffffffu, 0x80000000u, 1, 0xffffu };
                    uint32_t x = v[rnd() % 6];
                    memcpy(buf + rnd() % (len - 3), &x, 4);
                }
                break;
            case 4: /* splice in a chunk of another seed */
                if (len) {
                    int o = (int)(rnd() % (uint64_t)n_seeds);
                    if (lens[o]) {
                        size_t from = rnd() % lens[o], at = rnd() % len;
                        size_t k = lens[o] - from;
                        if (k > len - at) k = len - at;
                        memcpy(buf + at, seeds[o] + from, k);
                    }
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
    }
    printf("fuzz driver: %d seeds, %ld mutated inputs, no crash\n", n_seeds, iterations);
    for (int i = 0; i < n_seeds; i++) free(seeds[i]);
    free(seeds);
    free(lens);
    return 0;
}
