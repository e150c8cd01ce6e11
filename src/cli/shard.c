/* shard.c - `--shard K/N` and its block of items; see shard.h. */
#include "cli/shard.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARDS 100000

static bool parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end) return false;
    *out = v;
    return true;
}

bool cli_shard_parse(const char *text, cli_shard *out, char *why, size_t why_len)
{
    *out = (cli_shard){ .on = false, .index = 0, .count = 1 };
    long k, n;
    if (!strcmp(text, "slurm")) {
        static const char *const names[4] = { "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                                               "SLURM_ARRAY_TASK_STEP" };
        long v[4] = { 0, 0, 0, 1 };
        for (int i = 0; i < 4; i++) {
            const char *e = getenv(names[i]);
            if (i >= 2 && !e) continue; /* older Slurm: MIN 0, STEP 1 */
            if (!parse_int(e, &v[i])) {
                snprintf(why, why_len, "--shard slurm: %s is %s%s%s (run it in a job array: sbatch --array=0-N)",
                         names[i], e ? "'" : "not set", e ? e : "", e ? "'" : "");
                return false;
            }
        }
        if (v[3] < 1 || v[0] < v[2] || (v[0] - v[2]) % v[3]) {
            snprintf(why, why_len, "--shard slurm: task id %ld does not fit min %ld and step %ld", v[0], v[2], v[3]);
            return false;
        }
        k = (v[0] - v[2]) / v[3];
        n = v[1];
    } else {
        const char *slash = strchr(text, '/');
        char a[32];
        if (!slash || (size_t)(slash - text) >= sizeof a) {
            snprintf(why, why_len, "--shard wants K/N (e.g. 0/4) or slurm, not '%s'", text);
            return false;
        }
        memcpy(a, text, (size_t)(slash - text));
        a[slash - text] = '\0';
        if (!parse_int(a, &k) || !parse_int(slash + 1, &n)) {
            snprintf(why, why_len, "--shard wants K/N (e.g. 0/4) or slurm, not '%s'", text);
            return false;
        }
    }
    if (n < 1 || n > MAX_SHARDS || k < 0 || k >= n) {
        snprintf(why, why_len, "--shard %ld/%ld: K must be 0..N-1 and N 1..%d", k, n, MAX_SHARDS);
        return false;
    }
    *out = (cli_shard){ .on = true, .index = (int)k, .count = (int)n };
    return true;
}

void cli_shard_range(const cli_shard *s, int n, int *lo, int *hi)
{
    if (!s || !s->on) {
        *lo = 0;
        *hi = n;
        return;
    }
    int q = n / s->count, r = n % s->count;
    *lo = s->index * q + (s->index < r ? s->index : r);
    *hi = *lo + q + (s->index < r);
}

void cli_shard_json(cJSON *o, const cli_shard *s, const char *command, int items, int lo, int hi)
{
    cJSON *j = cJSON_AddObjectToObject(o, "shard");
    cJSON_AddStringToObject(j, "command", command);
    cJSON_AddNumberToObject(j, "index", s->index);
    cJSON_AddNumberToObject(j, "count", s->count);
    cJSON_AddNumberToObject(j, "items", items);
    cJSON_AddNumberToObject(j, "first", lo);
    cJSON_AddNumberToObject(j, "end", hi);
}

cJSON *cli_json_exact(double v)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

double cli_json_value(const cJSON *item)
{
    if (cJSON_IsNumber(item)) return item->valuedouble;
    if (cJSON_IsRaw(item) && item->valuestring) return strtod(item->valuestring, NULL);
    return 0;
}
