/* shard.h - `--shard K/N` for the commands that walk a dataset or a list
 * of images (eval, explain --data, flip, figure), and what `merge` needs
 * to put the shards' outputs back together (issue 17).
 *
 * A shard is a contiguous block of the items the unsharded command would
 * visit, in the same order: shard K of N takes items [lo, hi) with
 * lo = K*(n/N) + min(K, n%N) (the first n % N shards take one more).  So
 * the shards' per-item records, concatenated by K, are the unsharded run's
 * records, and `merge` recomputes every summary from them (or from exact
 * integer counts) with the code the unsharded command uses: the merged
 * output is the unsharded output, number for number.
 *
 * `--shard slurm` takes K and N from a Slurm job array: N =
 * SLURM_ARRAY_TASK_COUNT and K = (SLURM_ARRAY_TASK_ID -
 * SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP (K = the task id when the
 * array starts at 0 with step 1; --array=1-8 and --array=0-30:10 work
 * too).  It is explicit on purpose: a job array of different experiments
 * must not shard them silently.
 *
 * A shard prints the command's JSON with two additions: "shard":{"command",
 * "index","count","items","first","end"} and whatever the command needs to
 * merge exactly (per-class counts, per-image curves), described in each
 * command's file.
 */
#ifndef TS_CLI_SHARD_H
#define TS_CLI_SHARD_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

typedef struct cli_shard {
    bool on;
    int index, count; /* K, N; 0 and 1 when off */
} cli_shard;

/* "K/N" (0 <= K < N <= 100000) or "slurm".  false with a message in why
 * naming what is wrong (the environment variable for slurm). */
bool cli_shard_parse(const char *text, cli_shard *out, char *why, size_t why_len);

/* The items [*lo, *hi) of n that shard s takes ([0, n) when off). */
void cli_shard_range(const cli_shard *s, int n, int *lo, int *hi);

/* Adds "shard":{"command","index","count","items","first","end"} to o. */
void cli_shard_json(struct cJSON *o, const cli_shard *s, const char *command, int items, int lo, int hi);

/* A number that survives printing and parsing bit for bit ("%.17g"; cJSON's
 * own printer stops at 15 digits when they come within an epsilon), for
 * the per-item values a merge sums; null when not finite.  transfer: full.
 * cli_json_value reads it back (or a plain number; 0 for anything else). */
struct cJSON *cli_json_exact(double v);
double cli_json_value(const struct cJSON *item);

/* Merging (cmd-merge.c): each takes the shards' JSON objects ordered by
 * index (all of the one command, checked complete), and returns the
 * unsharded command's JSON (transfer: full) or NULL with a ts_error
 * message naming the field that does not fit. */
struct cJSON *cli_eval_merge(struct cJSON *const *shards, int n);
struct cJSON *cli_flip_merge(struct cJSON *const *shards, int n);
struct cJSON *cli_explain_merge(struct cJSON *const *shards, int n);

#endif
