/* bench-dist.c - data-parallel training throughput (issue 17): images per
 * second of `traitscope-cli train` as one process and as N ranks under
 * mpirun, on the same data, network, global batch and epochs.
 *
 * The peer of the N-rank run is the one process with every core (its BLAS
 * and loops on all of them); each rank gets cores / N (train/dist.h).  The
 * figure is train's own "images_per_s": training views per second over the
 * steps, without the face preparation and the evaluations.  Prints both
 * and the ratio N ranks / one process (> 1: the ranks are faster).  On a
 * machine shared with other work the numbers move from run to run; the
 * median of --repeat runs is reported.
 *
 * usage: bench-dist [--ranks N] [--arch NAME|FILE] [--size S] [--batch B]
 *                   [--limit ROWS] [--epochs E] [--repeat R]
 * (defaults: 2 ranks, docs/arch/traitnet.arch at 64 x 64, batch 32, 400
 * CelebA-HQ rows, 1 epoch, 3 repeats).  Exit 77 without mpirun or data.
 * Not a test: nothing here asserts a speed.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *find_in_path(const char *name)
{
    static char buf[512];
    const char *p = getenv("PATH");
    while (p && *p) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (n && access(buf, X_OK) == 0) return buf;
        p += n + (p[n] == ':');
    }
    return NULL;
}

/* images/s of one train run; < 0 on failure. */
static double run_once(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[1 << 16];
    double ips = -1;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = line[0] == '{' ? cJSON_Parse(line) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "images_per_s");
        if (cJSON_IsNumber(v)) ips = v->valuedouble;
        cJSON_Delete(j);
    }
    return pclose(f) == 0 ? ips : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int ranks = 2, size = 64, batch = 32, limit = 400, epochs = 1, repeat = 3;
    const char *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT"), *data = getenv("TS_SHARED_DATA");
    char arch[4200];
    snprintf(arch, sizeof arch, "%s/docs/arch/traitnet.arch", src ? src : ".");
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (!strcmp(argv[i], "--ranks")) ranks = atoi(v);
        else if (!strcmp(argv[i], "--arch")) snprintf(arch, sizeof arch, "%s", v);
        else if (!strcmp(argv[i], "--size")) size = atoi(v);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(v);
        else if (!strcmp(argv[i], "--limit")) limit = atoi(v);
        else if (!strcmp(argv[i], "--epochs")) epochs = atoi(v);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(v);
        else continue;
        i++;
    }
    if (ranks < 2 || repeat < 1 || repeat > 20) {
        fprintf(stderr, "bench-dist: --ranks >= 2 and --repeat 1..20\n");
        return 2;
    }
    const char *mpirun = find_in_path("mpirun");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/celebahq/attributes.txt", data ? data : "/nonexistent");
    if (!mpirun || access(probe, R_OK) != 0) {
        printf("SKIP: %s\n", mpirun ? "no CelebA-HQ data under TS_SHARED_DATA" : "no mpirun on PATH");
        return 77;
    }
    char dir[] = "/tmp/ts-bench-dist-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char common[12000];
    snprintf(common, sizeof common,
             "'%s/src/cli/traitscope-cli' train --data 'celeba:%s/celebahq' --trait gender --variant baseline "
             "--arch '%s' --size %d --batch %d --limit %d --epochs %d --no-augment --val-fraction 0 --device cpu "
             "--cache '%s/cache' --out '%s/m.safetensors'",
             build ? build : ".", data, arch, size, batch, limit, epochs, dir, dir);
    char one[13000], many[14000];
    snprintf(one, sizeof one, "%s --compute-threads %ld 2>/dev/null", common, cores > 0 ? cores : 1);
    snprintf(many, sizeof many, "OMPI_MCA_btl_vader_single_copy_mechanism=none '%s' -np %d --oversubscribe%s %s 2>/dev/null",
             mpirun, ranks, geteuid() == 0 ? " --allow-run-as-root" : "", common);
    double a[20], b[20];
    printf("bench-dist: %s at %d px, global batch %d, %d rows, %d epoch(s), %ld cores\n", arch, size, batch, limit,
           epochs, cores);
    for (int r = 0; r < repeat; r++) {
        /* alternate, so that a change in the machine's load hits both */
        a[r] = run_once(one);
        b[r] = run_once(many);
        printf("  run %d: 1 process %.1f images/s, %d ranks %.1f images/s\n", r + 1, a[r], ranks, b[r]);
        fflush(stdout);
        if (a[r] < 0 || b[r] < 0) {
            fprintf(stderr, "bench-dist: a training run failed\n");
            return 1;
        }
    }
    qsort(a, (size_t)repeat, sizeof *a, cmp);
    qsort(b, (size_t)repeat, sizeof *b, cmp);
    double ma = a[repeat / 2], mb = b[repeat / 2];
    printf("median: 1 process %.1f images/s, %d ranks %.1f images/s, ratio %.3f\n", ma, ranks, mb, mb / ma);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return 0;
}
