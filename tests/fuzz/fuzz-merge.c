/* fuzz-merge.c - fuzz target for `traitscope-cli merge` (src/cli/cmd-merge.c
 * and the merges of cmd-eval.c, cmd-flip.c and cmd-explain.c): shard files
 * are read from wherever a job array left them, so anything may be in them.
 *
 * The input is up to four shard files separated by NUL bytes; they are
 * written to a temporary folder and merged.  Any input must end in exit 0
 * (a merge) or 1 (a message naming the problem), never a crash, a hang or
 * a usage error.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/status.h"

int cmd_merge(int argc, char **argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        /* the merges print; the fuzzer only wants the exit status */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) abort();
        quiet = true;
    }
    char dir[] = "/tmp/ts-fuzz-merge-XXXXXX";
    if (!mkdtemp(dir)) return 0;
    char paths[4][64], out[64];
    char *argv[8] = { "merge", "--out", out };
    int argc = 3, n = 0;
    snprintf(out, sizeof out, "%s/merged.json", dir);
    size_t at = 0;
    while (n < 4 && at <= size) {
        const uint8_t *end = memchr(data + at, 0, size - at);
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        snprintf(paths[n], sizeof paths[n], "%s/shard-%d.json", dir, n);
        FILE *f = fopen(paths[n], "wb");
        if (!f) break;
        fwrite(data + at, 1, len, f);
        fclose(f);
        argv[argc++] = paths[n++];
        at += len + 1;
        if (!end) break;
    }
    int rc = n ? cmd_merge(argc, argv) : 1;
    TS_ASSERT(rc == 0 || rc == 1);
    for (int i = 0; i < n; i++) unlink(paths[i]);
    unlink(out);
    rmdir(dir);
    return 0;
}
