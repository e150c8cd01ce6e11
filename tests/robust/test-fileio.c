/* test-fileio.c - the library side of issue 19 (nn/fileio.h, nn/safetext.h):
 *   - a set of files committed together: a member that cannot be written
 *     (TS_TEST_DISK_FREE_BYTES, fileio's hook, set in this process) leaves
 *     every old file byte-identical and no temporary behind, and the
 *     message gives the system's reason;
 *   - output locks: a second taker fails at once naming the first (pid),
 *     in this process and in a child; a killed holder's lock is taken over;
 *   - stale temporaries of an output are removed, others are not;
 *   - ts_same_file sees links and other spellings;
 *   - UTF-8 repair, terminal escaping and JSON with *_bytes twins.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/fileio.h"
#include "nn/safetext.h"

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

static char dir[256];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static char *slurp(const char *path, size_t *n)
{
    uint8_t *d = NULL;
    *n = 0;
    if (ts_read_file(path, 1 << 26, &d, n) != TS_OK) return NULL;
    return (char *)d;
}

static bool same_bytes(const char *path, const char *want)
{
    size_t n;
    char *d = slurp(path, &n);
    bool ok = d && n == strlen(want) && !memcmp(d, want, n);
    free(d);
    return ok;
}

static int count_temporaries(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp-' > '%s/.count'", dir, dir);
    if (system(cmd) == -1) return -1;
    FILE *f = fopen(at(".count"), "r");
    int n = -1;
    if (f && fscanf(f, "%d", &n) != 1) n = -1;
    if (f) fclose(f);
    unlink(at(".count"));
    return n;
}

static void test_sets(void)
{
    /* old files */
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", at("set.a"));
    snprintf(b, sizeof b, "%s", at("set.b"));
    /* (plain writes: the hook is read at the first atomic write) */
    FILE *f = fopen(a, "w");
    if (f) fputs("old A", f), fclose(f);
    f = fopen(b, "w");
    if (f) fputs("old B", f), fclose(f);
    /* a new set whose second member does not fit: 3000 + 3000 bytes on a
     * disk with 4000 free */
    char *big = malloc(3000);
    memset(big, 'x', 3000);
    ts_file_part nw[2] = { { a, big, 3000 }, { b, big, 3000 } };
    setenv("TS_TEST_DISK_FREE_BYTES", "4000", 1);
    ts_status st = ts_write_files_atomic(nw, 2);
    CHECK(st == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "No space left on device") != NULL);
    printf("full disk -> %s\n", ts_last_error());
    fflush(stdout);
    CHECK(same_bytes(a, "old A") && same_bytes(b, "old B"));
    CHECK(count_temporaries() == 0);
    free(big);
}

static void test_locks(void)
{
    char out[512];
    snprintf(out, sizeof out, "%s", at("model.safetensors"));
    ts_output_lock l1, l2;
    CHECK(ts_output_lock_take(&l1, out, "test one") == TS_OK);
    /* a second lock on the same output, even in this process, fails */
    CHECK(ts_output_lock_take(&l2, out, "test two") == TS_ERR_IO);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK(strstr(ts_last_error(), pid) && strstr(ts_last_error(), "test one"));
    printf("second writer -> %s\n", ts_last_error());
    /* a child process too */
    pid_t c = fork();
    if (c == 0) {
        ts_output_lock l3;
        _exit(ts_output_lock_take(&l3, out, "child") == TS_ERR_IO ? 0 : 1);
    }
    int ws;
    waitpid(c, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ts_output_lock_release(&l1);
    CHECK(access(at("model.safetensors.lock"), F_OK) != 0);
    CHECK(ts_output_lock_take(&l2, out, "test two") == TS_OK);
    ts_output_lock_release(&l2);
    /* a holder killed with SIGKILL: its lock goes with it */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    c = fork();
    if (c == 0) {
        ts_output_lock l4;
        char ok = ts_output_lock_take(&l4, out, "victim") == TS_OK ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char got = 0;
    CHECK(read(pfd[0], &got, 1) == 1 && got == 'y');
    CHECK(ts_output_lock_take(&l2, out, "test") == TS_ERR_IO); /* held */
    kill(c, SIGKILL);
    waitpid(c, &ws, 0);
    CHECK(access(at("model.safetensors.lock"), F_OK) == 0); /* left behind, unlocked */
    CHECK(ts_output_lock_take(&l2, out, "test") == TS_OK);
    ts_output_lock_release(&l2);
    close(pfd[0]);
    close(pfd[1]);
}

static void touch(const char *p)
{
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static void test_stale(void)
{
    char out[512];
    snprintf(out, sizeof out, "%s", at("m.safetensors.state"));
    touch(at("m.safetensors.state.tmp-Ab12Cd"));
    touch(at("m.safetensors.state.tmp-XXXXXX"));
    touch(at("m.safetensors.tmp-Ab12Cd"));         /* another output's */
    touch(at("m.safetensors.state.tmp-Ab12Cd.bak")); /* not a temporary's name */
    touch(at("m.safetensors.state.tmp-Ab1"));
    int n = -1;
    CHECK(ts_atomic_clean_stale(out, &n) == TS_OK);
    CHECK(n == 2);
    CHECK(access(at("m.safetensors.state.tmp-Ab12Cd"), F_OK) != 0);
    CHECK(access(at("m.safetensors.tmp-Ab12Cd"), F_OK) == 0);
    CHECK(access(at("m.safetensors.state.tmp-Ab12Cd.bak"), F_OK) == 0);
    CHECK(access(at("m.safetensors.state.tmp-Ab1"), F_OK) == 0);
    unlink(at("m.safetensors.tmp-Ab12Cd"));
    unlink(at("m.safetensors.state.tmp-Ab12Cd.bak"));
    unlink(at("m.safetensors.state.tmp-Ab1"));
}

static void test_same_file(void)
{
    touch(at("photo.png"));
    CHECK(link(at("photo.png"), at("alias.png")) == 0);
    CHECK(ts_same_file(at("photo.png"), at("photo.png")));
    CHECK(ts_same_file(at("alias.png"), at("photo.png")));
    char dotted[600];
    snprintf(dotted, sizeof dotted, "%s/./photo.png", dir);
    CHECK(ts_same_file(dotted, at("photo.png")));
    CHECK(!ts_same_file(at("nothing.png"), at("photo.png")));
    touch(at("other.png"));
    CHECK(!ts_same_file(at("other.png"), at("photo.png")));
}

static void test_text(void)
{
    CHECK(ts_utf8_valid("plain é ✓ 😀"));
    CHECK(!ts_utf8_valid("bad\xff"));
    CHECK(!ts_utf8_valid("\xc0\xaf"));         /* overlong */
    CHECK(!ts_utf8_valid("\xed\xa0\x80"));     /* surrogate */
    CHECK(!ts_utf8_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
    char *r = ts_utf8_repair("a\xff\xfe" "b");
    CHECK(r && !strcmp(r, "a\xef\xbf\xbd\xef\xbf\xbd" "b"));
    free(r);
    char *e = ts_text_escape("x\x1b[31m\ny\x07\xff" "\xc2\x9b" "é");
    CHECK(e && !strcmp(e, "x\\x1b[31m\\ny\\x07\\xff\\xc2\\x9bé"));
    free(e);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", "bad\xff.jpg");
    cJSON_AddStringToObject(o, "ok", "fine");
    const char *arr[] = { "good", "b\xfe" };
    cJSON_AddItemToObject(o, "files", cJSON_CreateStringArray(arr, 2));
    char *s = ts_json_print(o, false);
    CHECK(s && ts_utf8_valid(s));
    CHECK(s && !strcmp(s, "{\"image\":\"bad\xef\xbf\xbd.jpg\",\"image_bytes\":\"626164ff2e6a7067\",\"ok\":\"fine\","
                          "\"files\":[\"good\",\"b\xef\xbf\xbd\"],\"files_bytes\":[null,\"62fe\"]}"));
    if (s) printf("json -> %s\n", s);
    free(s);
    cJSON_Delete(o);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test-fileio-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_locks();
    test_stale();
    test_same_file();
    test_text();
    test_sets(); /* last: it sets the full-disk hook for this process */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) failures++;
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all fileio checks passed\n");
    return 0;
}
