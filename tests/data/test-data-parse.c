/* test-data-parse.c - the dataset parsers, trait rules and split on small
 * generated inputs (no shared data needed).
 *
 * Checks: Adience age groups at every boundary (nearest group, ties to the
 * older one) and Adience range labels; CelebA attribute files with broken
 * rows (reported with the right line numbers, skipped, the load goes on);
 * hair trait exclusions; UTKFace CSV and file names; Adience fold files and
 * their image paths; plain CSV with quoting and class ordering; folders;
 * --limit; spec errors; the stratified split (proportions within one image
 * per class, disjoint, complete, reproducible, saved and reloaded).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/split.h"
#include "data/traits.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

#define CHECK_OK(expr)                                                                    \
    do {                                                                                  \
        ts_status st_ = (expr);                                                           \
        if (st_ != TS_OK) {                                                               \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, ts_last_error()); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static char tmpdir[256];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static bool has_warning(const ts_dataset *ds, const char *needle)
{
    for (int i = 0; i < ds->n_warnings; i++)
        if (strstr(ds->warnings[i], needle)) return true;
    return false;
}

static int label(const ts_dataset *ds, const char *trait, int row)
{
    const ts_trait *t = ts_dataset_trait(ds, trait);
    return t && row < ds->n_rows ? t->labels[row] : -99;
}

static void test_age_groups(void)
{
    /* age -> group, covering every gap between the eight groups. */
    static const int table[][2] = {
        { 0, 0 },  { 1, 0 },  { 2, 0 },  { 3, 1 },  { 4, 1 },  { 6, 1 },  { 7, 2 },  { 8, 2 },
        { 13, 2 }, { 14, 3 }, { 15, 3 }, { 20, 3 }, { 21, 3 }, { 22, 3 }, { 23, 4 }, { 24, 4 },
        { 25, 4 }, { 32, 4 }, { 33, 4 }, { 34, 4 }, { 35, 5 }, { 36, 5 }, { 37, 5 }, { 38, 5 },
        { 43, 5 }, { 44, 5 }, { 45, 5 }, { 46, 6 }, { 47, 6 }, { 48, 6 }, { 53, 6 }, { 54, 6 },
        { 55, 6 }, { 56, 6 }, { 57, 7 }, { 58, 7 }, { 59, 7 }, { 60, 7 }, { 116, 7 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int g = ts_age_group(table[i][0]);
        if (g != table[i][1])
            fprintf(stderr, "age %d -> group %d, expected %d\n", table[i][0], g, table[i][1]);
        CHECK(g == table[i][1]);
    }
    CHECK(ts_age_group(-1) == -1);
    CHECK(ts_age_group(NAN) == -1);
    /* Every age lands in one group and groups never go backwards. */
    for (int a = 1; a <= 120; a++) CHECK(ts_age_group(a) >= ts_age_group(a - 1));
    CHECK(!strcmp(ts_age_group_names[0], "0-2") && !strcmp(ts_age_group_names[7], "60+"));
    /* Adience range labels, official and stray. */
    CHECK(ts_age_group_of_range(0, 2) == 0);
    CHECK(ts_age_group_of_range(4, 6) == 1);
    CHECK(ts_age_group_of_range(8, 12) == 2);
    CHECK(ts_age_group_of_range(8, 13) == 2);
    CHECK(ts_age_group_of_range(15, 20) == 3);
    CHECK(ts_age_group_of_range(25, 32) == 4);
    CHECK(ts_age_group_of_range(38, 42) == 5);
    CHECK(ts_age_group_of_range(38, 43) == 5);
    CHECK(ts_age_group_of_range(48, 53) == 6);
    CHECK(ts_age_group_of_range(60, 100) == 7);
    CHECK(ts_age_group_of_range(38, 48) == 5);
    CHECK(ts_age_group_of_range(8, 23) == 3);
    CHECK(ts_age_group_of_range(27, 32) == 4);
    CHECK(ts_age_group_of_range(5, 3) == -1);
}

/* Header with the attributes the traits need plus two others. */
#define CELEBA_HEAD \
    "Bald Male Young Heavy_Makeup Smiling Attractive Chubby Black_Hair Brown_Hair Blond_Hair Gray_Hair Eyeglasses\n"

static void test_celeba(void)
{
    const char *text =
        "6\n" CELEBA_HEAD
        /* line 3 */ "1.jpg -1 1 1 -1 1 -1 -1 1 -1 -1 -1 -1\n"
        /* line 4 */ "2.jpg  -1 -1 -1  1 -1 1 1 -1 -1 1 -1 1\r\n"
        /* line 5: too few values */ "3.jpg -1 1 1\n"
        /* line 6: not 1/-1 */ "4.jpg -1 1 1 -1 1 -1 -1 1 -1 -1 -1 yes\n"
        /* line 7: dark and bright */ "5.jpg -1 1 -1 -1 -1 -1 -1 1 -1 1 -1 -1\n"
        "\n"
        /* line 9: neither */ "6.jpg -1 1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1\n";
    ts_dataset ds;
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_celeba(&ds, text, strlen(text), "attr.txt", "imgs", 0));
    CHECK(ds.n_rows == 4);
    CHECK(ds.n_traits == TS_CELEBA_TRAITS);
    CHECK(has_warning(&ds, "attr.txt:5:"));
    CHECK(has_warning(&ds, "attr.txt:6:"));
    CHECK(has_warning(&ds, "attr.txt:1: the header counts 6 images, 4 rows"));
    CHECK(ds.n_warnings == 3 && ds.n_warnings_total == 3);
    CHECK(ds.n_rows > 0 && !strcmp(ds.paths[0], "imgs/1.jpg"));
    CHECK(ds.n_rows > 2 && !strcmp(ds.paths[2], "imgs/5.jpg"));
    /* row 0: male, young, joy, dark hair */
    CHECK(label(&ds, "gender", 0) == 1);
    CHECK(label(&ds, "age", 0) == 0);
    CHECK(label(&ds, "emotion", 0) == 0);
    CHECK(label(&ds, "makeup", 0) == 0);
    CHECK(label(&ds, "hair", 0) == 0);
    /* row 1: female, elder, heavy makeup, not smiling, attractive, chubby, blond */
    CHECK(label(&ds, "gender", 1) == 0);
    CHECK(label(&ds, "age", 1) == 1);
    CHECK(label(&ds, "makeup", 1) == 1);
    CHECK(label(&ds, "emotion", 1) == 1);
    CHECK(label(&ds, "attractive", 1) == 1);
    CHECK(label(&ds, "chubby", 1) == 1);
    CHECK(label(&ds, "hair", 1) == 1);
    CHECK(label(&ds, "hair", 2) == -1); /* both */
    CHECK(label(&ds, "hair", 3) == -1); /* neither */
    const ts_trait *g = ts_dataset_trait(&ds, "gender");
    CHECK(g && g->n_classes == 2 && !strcmp(g->classes[0], "female") && !strcmp(g->classes[1], "male"));
    ts_dataset_clear(&ds);

    /* Limit: the first two good rows. */
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_celeba(&ds, text, strlen(text), "attr.txt", "imgs", 2));
    CHECK(ds.n_rows == 2 && ds.n_warnings == 0);
    ts_dataset_clear(&ds);

    /* A header without the hair columns: no hair trait. */
    const char *small = "1\nMale Young\n1.jpg 1 -1\n";
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_celeba(&ds, small, strlen(small), "s.txt", "", 0));
    CHECK(ds.n_traits == 2 && !ts_dataset_trait(&ds, "hair") && label(&ds, "age", 0) == 1);
    ts_dataset_clear(&ds);

    /* Broken headers fail with the line. */
    const char *bad = "lots\nMale\n";
    ts_dataset_init(&ds);
    CHECK(ts_dataset_parse_celeba(&ds, bad, strlen(bad), "b.txt", "", 0) == TS_ERR_FORMAT);
    CHECK(strstr(ts_last_error(), "b.txt:1:") != NULL);
    ts_dataset_clear(&ds);
    ts_dataset_init(&ds);
    CHECK(ts_dataset_parse_celeba(&ds, "", 0, "e.txt", "", 0) == TS_ERR_FORMAT);
    ts_dataset_clear(&ds);

    /* Through a spec, from a folder on disk. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/celeba", tmpdir);
    mkdir(dir, 0755);
    char img[600];
    snprintf(img, sizeof img, "%s/images", dir);
    mkdir(img, 0755);
    write_file(dir, "attributes.txt", text);
    char spec[600];
    snprintf(spec, sizeof spec, "celeba:%s", dir);
    CHECK_OK(ts_dataset_load(&ds, spec, 0));
    CHECK(ds.n_rows == 4 && !strcmp(ds.kind, "celeba"));
    char want[700];
    snprintf(want, sizeof want, "%s/attributes.txt:5:", dir);
    CHECK(has_warning(&ds, want));
    snprintf(want, sizeof want, "%s/1.jpg", img);
    CHECK(ds.n_rows && !strcmp(ds.paths[0], want));
    ts_dataset_clear(&ds);
}

static void test_utkface(void)
{
    const char *csv =
        "file,age,gender(0=male;1=female),race(0=White;1=Black;2=Asian;3=Indian;4=Others;blank=missing)\n"
        "25_0_0_1.jpg.chip.jpg,25,0,0\n"
        "3_1_2_1.jpg.chip.jpg,3,1,2\n"
        "40_1__1.jpg.chip.jpg,40,1,\n"
        "bad.jpg,40,2,1\n"           /* line 5: gender 2 */
        "bad2.jpg,forty,1,1\n"       /* line 6 */
        "short.jpg,40,1\n"           /* line 7 */
        "\"q,uoted.jpg\",60,0,4\n";  /* line 8: a quoted name with a comma */
    ts_dataset ds;
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_utkface(&ds, csv, strlen(csv), "labels.csv", "im", 0));
    CHECK(ds.n_rows == 4);
    CHECK(has_warning(&ds, "labels.csv:5:") && has_warning(&ds, "labels.csv:6:") &&
          has_warning(&ds, "labels.csv:7:"));
    CHECK(ds.n_warnings == 3);
    CHECK(label(&ds, "gender", 0) == 1 && label(&ds, "gender", 1) == 0);
    CHECK(label(&ds, "ethnicity", 0) == 0 && label(&ds, "ethnicity", 1) == 1);
    CHECK(label(&ds, "ethnicity", 2) == -1);
    CHECK(label(&ds, "age-group", 0) == 4 && label(&ds, "age-group", 1) == 1 &&
          label(&ds, "age-group", 2) == 5 && label(&ds, "age-group", 3) == 7);
    CHECK(ds.n_rows == 4 && !strcmp(ds.paths[3], "im/q,uoted.jpg"));
    ts_dataset_clear(&ds);

    int age, gender, race;
    CHECK_OK(ts_utk_parse_name("x/26_1_3_20170117154105398.jpg.chip.jpg", &age, &gender, &race));
    CHECK(age == 26 && gender == 1 && race == 3);
    CHECK_OK(ts_utk_parse_name("39_1_20170116174525125.jpg.chip.jpg", &age, &gender, &race));
    CHECK(age == 39 && gender == 1 && race == -1);
    CHECK(ts_utk_parse_name("1.jpg", &age, &gender, &race) == TS_ERR_FORMAT);
    CHECK(ts_utk_parse_name("20_3_0_2017.jpg", &age, &gender, &race) == TS_ERR_FORMAT);

    /* Folder of UTKFace names, no labels.csv. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/utk", tmpdir);
    mkdir(dir, 0755);
    write_file(dir, "10_0_0_20170110.jpg.chip.jpg", "");
    write_file(dir, "70_1_1_20170110.jpg.chip.jpg", "");
    write_file(dir, "oops.jpg", "");
    write_file(dir, "notes.txt", "");
    char spec[600];
    snprintf(spec, sizeof spec, "utkface:%s", dir);
    CHECK_OK(ts_dataset_load(&ds, spec, 0));
    CHECK(ds.n_rows == 2 && ds.n_warnings == 1 && has_warning(&ds, "oops.jpg"));
    CHECK(label(&ds, "age-group", 0) == 2 && label(&ds, "age-group", 1) == 7);
    CHECK(label(&ds, "gender", 1) == 0 && label(&ds, "ethnicity", 1) == 1);
    ts_dataset_clear(&ds);
}

static void test_adience(void)
{
    const char *fold =
        "user_id\toriginal_image\tface_id\tage\tgender\tx\ty\tdx\tdy\ttilt_ang\tfiducial_yaw_angle\tfiducial_score\n"
        "30601258@N03\t10399646885_67c7d20df9_o.jpg\t1\t(25, 32)\tf\t0\t414\t1086\t1383\t-115\t30\t17\n"
        "30601258@N03\t10424815813_e94629b1ec_o.jpg\t2\t(25, 32)\tm\t301\t105\t640\t641\t0\t0\t94\n"
        "7153718@N04\t11326186465_5b1b0e1bb2_o.jpg\t3\t35\tu\t0\t0\t10\t10\t0\t0\t0\n"
        "7153718@N04\t11326186465_5b1b0e1bb2_o.jpg\t4\tNone\t\t0\t0\t10\t10\t0\t0\t0\n"
        "7153718@N04\tx.jpg\t5\t(38, 48)\tf\t0\t0\t1\t1\t0\t0\t0\n"
        "7153718@N04\tx.jpg\t6\t(25, 32\tf\t0\t0\t1\t1\t0\t0\t0\n"  /* line 7 */
        "../etc\tx.jpg\t7\t(0, 2)\tf\t0\t0\t1\t1\t0\t0\t0\n"          /* line 8 */
        "7153718@N04\tx.jpg\tseven\t(0, 2)\tf\n"                       /* line 9 */
        "7153718@N04\tx.jpg\t8\t(0, 2)\n";                             /* line 10 */
    ts_dataset ds;
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_adience(&ds, fold, strlen(fold), "fold_0_data.txt", "A/faces",
                                      "coarse_tilt_aligned_face", 0));
    CHECK(ds.n_rows == 5);
    CHECK(ds.n_warnings == 4);
    CHECK(has_warning(&ds, "fold_0_data.txt:7:") && has_warning(&ds, "fold_0_data.txt:8:") &&
          has_warning(&ds, "fold_0_data.txt:9:") && has_warning(&ds, "fold_0_data.txt:10:"));
    CHECK(ds.n_rows && !strcmp(ds.paths[0], "A/faces/30601258@N03/coarse_tilt_aligned_face.1."
                                            "10399646885_67c7d20df9_o.jpg"));
    CHECK(label(&ds, "gender", 0) == 0 && label(&ds, "gender", 1) == 1 && label(&ds, "gender", 2) == -1 &&
          label(&ds, "gender", 3) == -1);
    CHECK(label(&ds, "age-group", 0) == 4 && label(&ds, "age-group", 2) == 5 &&
          label(&ds, "age-group", 3) == -1 && label(&ds, "age-group", 4) == 5);
    ts_dataset_clear(&ds);

    /* Folder: fold_0 and fold_1 read in order, fold_frontal ignored. */
    char dir[512], faces[600];
    snprintf(dir, sizeof dir, "%s/adience", tmpdir);
    mkdir(dir, 0755);
    snprintf(faces, sizeof faces, "%s/faces", dir);
    mkdir(faces, 0755);
    write_file(dir, "fold_1_data.txt", "user_id\toriginal_image\tface_id\tage\tgender\nu2\tb.jpg\t2\t(0, 2)\tm\n");
    write_file(dir, "fold_0_data.txt", "user_id\toriginal_image\tface_id\tage\tgender\nu1\ta.jpg\t1\t(60, 100)\tf\n");
    write_file(dir, "fold_frontal_0_data.txt", "u3\tc.jpg\t3\t(0, 2)\tm\n");
    char spec[700], want[800];
    snprintf(spec, sizeof spec, "adience:%s", dir);
    CHECK_OK(ts_dataset_load(&ds, spec, 0));
    CHECK(ds.n_rows == 2);
    snprintf(want, sizeof want, "%s/u1/coarse_tilt_aligned_face.1.a.jpg", faces);
    CHECK(ds.n_rows == 2 && !strcmp(ds.paths[0], want));
    CHECK(label(&ds, "age-group", 0) == 7 && label(&ds, "age-group", 1) == 0);
    ts_dataset_clear(&ds);
    CHECK_OK(ts_dataset_load(&ds, spec, 1));
    CHECK(ds.n_rows == 1);
    ts_dataset_clear(&ds);
}

static void test_csv(void)
{
    const char *csv =
        "path,label,mood\n"
        "a.jpg,10,happy\n"
        "/abs/b.jpg,2,\n"
        "\"sub/c d.jpg\",2,\"sad\"\n"
        "d.jpg,,sad\n"
        "e.jpg,2\n"              /* line 6: one field short */
        "\"f.jpg,10,sad\n"       /* line 7: open quote */
        ",2,sad\n";              /* line 8: no path */
    ts_dataset ds;
    ts_dataset_init(&ds);
    CHECK_OK(ts_dataset_parse_csv(&ds, csv, strlen(csv), "x.csv", "base", 0));
    CHECK(ds.n_rows == 4);
    CHECK(ds.n_warnings == 3 && has_warning(&ds, "x.csv:6:") && has_warning(&ds, "x.csv:7:") &&
          has_warning(&ds, "x.csv:8:"));
    const ts_trait *l = ts_dataset_trait(&ds, "label");
    /* Integer classes sort numerically: 2 before 10. */
    CHECK(l && l->n_classes == 2 && !strcmp(l->classes[0], "2") && !strcmp(l->classes[1], "10"));
    CHECK(label(&ds, "label", 0) == 1 && label(&ds, "label", 1) == 0 && label(&ds, "label", 3) == -1);
    const ts_trait *m = ts_dataset_trait(&ds, "mood");
    CHECK(m && m->n_classes == 2 && !strcmp(m->classes[0], "happy") && !strcmp(m->classes[1], "sad"));
    CHECK(label(&ds, "mood", 1) == -1 && label(&ds, "mood", 2) == 1);
    CHECK(ds.n_rows == 4 && !strcmp(ds.paths[0], "base/a.jpg") && !strcmp(ds.paths[1], "/abs/b.jpg") &&
          !strcmp(ds.paths[2], "base/sub/c d.jpg"));
    ts_dataset_clear(&ds);

    /* Header errors. */
    const char *bad1 = "image_name,label\na.jpg,1\n", *bad2 = "path,label,label\n";
    ts_dataset_init(&ds);
    CHECK(ts_dataset_parse_csv(&ds, bad1, strlen(bad1), "h.csv", "", 0) == TS_ERR_FORMAT);
    CHECK(strstr(ts_last_error(), "h.csv:1:") != NULL);
    ts_dataset_clear(&ds);
    ts_dataset_init(&ds);
    CHECK(ts_dataset_parse_csv(&ds, bad2, strlen(bad2), "h.csv", "", 0) == TS_ERR_FORMAT);
    ts_dataset_clear(&ds);

    /* From a file: relative paths are relative to the CSV's folder. */
    char dir[512], spec[700], want[800];
    snprintf(dir, sizeof dir, "%s/csvdir", tmpdir);
    mkdir(dir, 0755);
    write_file(dir, "faces.csv", "path,label\nx.png,yes\ny.png,no\n");
    snprintf(spec, sizeof spec, "csv:%s/faces.csv", dir);
    CHECK_OK(ts_dataset_load(&ds, spec, 0));
    snprintf(want, sizeof want, "%s/x.png", dir);
    CHECK(ds.n_rows == 2 && !strcmp(ds.paths[0], want));
    CHECK(label(&ds, "label", 0) == 1 && label(&ds, "label", 1) == 0);
    ts_dataset_clear(&ds);
}

static void test_folder_and_specs(void)
{
    char dir[512], spec[700];
    snprintf(dir, sizeof dir, "%s/plain", tmpdir);
    mkdir(dir, 0755);
    write_file(dir, "b.PNG", "");
    write_file(dir, "a.jpg", "");
    write_file(dir, "c.txt", "");
    ts_dataset ds;
    CHECK_OK(ts_dataset_load(&ds, dir, 0));
    CHECK(ds.n_rows == 2 && ds.n_traits == 0 && !strcmp(ds.kind, "folder"));
    CHECK(ds.n_rows == 2 && strstr(ds.paths[0], "/a.jpg") && strstr(ds.paths[1], "/b.PNG"));
    ts_dataset_clear(&ds);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    CHECK_OK(ts_dataset_load(&ds, spec, 1));
    CHECK(ds.n_rows == 1);
    ts_dataset_clear(&ds);

    CHECK(ts_dataset_load(&ds, "celeba:/nonexistent/celeba", 0) == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "/nonexistent/celeba") != NULL);
    CHECK(ts_dataset_load(&ds, "csv:/nonexistent/x.csv", 0) == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "/nonexistent/x.csv") != NULL);
    CHECK(ts_dataset_load(&ds, "adience:/nonexistent", 0) == TS_ERR_IO);
    CHECK(ts_dataset_load(&ds, "nosuchkind:/x", 0) == TS_ERR_ARG);
    CHECK(ts_dataset_load(&ds, "celeba:", 0) == TS_ERR_ARG);
    /* A folder without the label file. */
    snprintf(spec, sizeof spec, "celeba:%s", dir);
    CHECK(ts_dataset_load(&ds, spec, 0) == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "attributes.txt") != NULL);
    snprintf(spec, sizeof spec, "adience:%s", dir);
    CHECK(ts_dataset_load(&ds, spec, 0) == TS_ERR_IO);
    CHECK(ds.n_rows == 0 && ds.paths == NULL);
}

/* A CSV dataset with three unequal classes and 13 unlabelled rows. */
static void make_split_dataset(ts_dataset *ds)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    n += (size_t)snprintf(buf + n, cap - n, "path,kind\n");
    for (int i = 0; i < 813; i++) {
        const char *k = i % 16 == 15 && i < 16 * 13 ? ""
                        : i % 7 == 0 || i % 7 == 3 || i % 7 == 5 ? "a"
                        : i % 11 == 0 ? "c" : "b";
        n += (size_t)snprintf(buf + n, cap - n, "img%04d.jpg,%s\n", i, k);
    }
    ts_dataset_init(ds);
    CHECK_OK(ts_dataset_parse_csv(ds, buf, n, "split.csv", "", 0));
    free(buf);
}

static void test_split(void)
{
    ts_dataset ds;
    make_split_dataset(&ds);
    const ts_trait *t = ts_dataset_trait(&ds, "kind");
    CHECK(t && t->n_classes == 3);
    if (!t) return;
    int counts[3];
    int excluded = ts_trait_class_counts(t, ds.n_rows, counts);
    printf("split fixture: a=%d b=%d c=%d excluded=%d\n", counts[0], counts[1], counts[2], excluded);
    CHECK(excluded == 13);

    ts_split s, s2, s3;
    CHECK_OK(ts_split_make(&s, &ds, "kind", 0.2, 42));
    CHECK_OK(ts_split_make(&s2, &ds, "kind", 0.2, 42));
    CHECK_OK(ts_split_make(&s3, &ds, "kind", 0.2, 43));
    /* Proportions: each class's test share within one image of exact. */
    int te[3] = { 0 }, tr[3] = { 0 };
    for (int i = 0; i < s.n_test; i++) te[t->labels[s.test[i]]]++;
    for (int i = 0; i < s.n_train; i++) tr[t->labels[s.train[i]]]++;
    for (int c = 0; c < 3; c++) {
        printf("class %s: train %d test %d (exact test %.1f)\n", t->classes[c], tr[c], te[c], 0.2 * counts[c]);
        CHECK(fabs(te[c] - 0.2 * counts[c]) <= 1.0);
        CHECK(tr[c] + te[c] == counts[c]);
    }
    /* Disjoint and complete over the labelled rows; ascending. */
    int *seen = calloc((size_t)ds.n_rows, sizeof *seen);
    for (int i = 0; i < s.n_train; i++) seen[s.train[i]] += 1;
    for (int i = 0; i < s.n_test; i++) seen[s.test[i]] += 2;
    for (int r = 0; r < ds.n_rows; r++) {
        if (t->labels[r] >= 0) CHECK(seen[r] == 1 || seen[r] == 2); /* in exactly one set */
        else CHECK(seen[r] == 0);
    }
    free(seen);
    for (int i = 1; i < s.n_test; i++) CHECK(s.test[i] > s.test[i - 1]);
    CHECK(s.n_train + s.n_test == ds.n_rows - 13);
    /* Same seed, same split; another seed, another split. */
    CHECK(s.n_test == s2.n_test && !memcmp(s.test, s2.test, (size_t)s.n_test * sizeof(int)));
    CHECK(s.n_test == s3.n_test && memcmp(s.test, s3.test, (size_t)s.n_test * sizeof(int)) != 0);
    /* Pinned: the split must not change between machines or versions. */
    printf("first test rows: %d %d %d %d\n", s.test[0], s.test[1], s.test[2], s.test[3]);
    CHECK(s.test[0] == 4 && s.test[1] == 6 && s.test[2] == 8 && s.test[3] == 12);

    /* Save, load, compare, check against the dataset. */
    char path[512];
    snprintf(path, sizeof path, "%s/split.json", tmpdir);
    CHECK_OK(ts_split_save(&s, path));
    ts_split l;
    CHECK_OK(ts_split_load(&l, path));
    CHECK(l.seed == 42 && l.n_rows == s.n_rows && l.fingerprint == s.fingerprint && l.trait &&
          !strcmp(l.trait, "kind") && fabs(l.test_fraction - 0.2) < 1e-12);
    CHECK(l.n_test == s.n_test && l.n_train == s.n_train &&
          !memcmp(l.test, s.test, (size_t)s.n_test * sizeof(int)) &&
          !memcmp(l.train, s.train, (size_t)s.n_train * sizeof(int)));
    CHECK_OK(ts_split_check(&l, &ds));
    /* A different dataset (one row fewer) is refused. */
    ts_dataset other;
    const char *tiny = "path,kind\nimg0000.jpg,a\n";
    ts_dataset_init(&other);
    CHECK_OK(ts_dataset_parse_csv(&other, tiny, strlen(tiny), "t.csv", "", 0));
    CHECK(ts_split_check(&l, &other) == TS_ERR_FORMAT);
    ts_dataset_clear(&other);
    ts_split_clear(&l);

    /* Broken split files. */
    static const char *const bad[] = {
        "", "{}", "[1]",
        "{\"format\":\"traitscope-split\",\"version\":1,\"trait\":null,\"seed\":\"1\",\"test_fraction\":0.2,"
        "\"rows\":3,\"fingerprint\":\"0000000000000000\",\"train\":[0,1],\"test\":[1]}",
        "{\"format\":\"traitscope-split\",\"version\":1,\"trait\":null,\"seed\":\"1\",\"test_fraction\":0.2,"
        "\"rows\":3,\"fingerprint\":\"0000000000000000\",\"train\":[0,5],\"test\":[]}",
        "{\"format\":\"traitscope-split\",\"version\":2,\"trait\":null,\"seed\":\"1\",\"test_fraction\":0.2,"
        "\"rows\":3,\"fingerprint\":\"0000000000000000\",\"train\":[],\"test\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(ts_split_parse(&l, bad[i], strlen(bad[i]), "bad.json") != TS_OK);
        CHECK(l.train == NULL && l.test == NULL);
    }
    const char *good =
        "{\"format\":\"traitscope-split\",\"version\":1,\"trait\":null,\"seed\":\"18446744073709551615\","
        "\"test_fraction\":0.25,\"rows\":3,\"fingerprint\":\"00000000000000ff\",\"train\":[0,2],\"test\":[1]}";
    CHECK_OK(ts_split_parse(&l, good, strlen(good), "good.json"));
    CHECK(l.seed == UINT64_MAX && l.fingerprint == 255 && l.n_train == 2 && l.n_test == 1 && !l.trait);
    ts_split_clear(&l);

    /* Unstratified and bad arguments. */
    ts_split u;
    CHECK_OK(ts_split_make(&u, &ds, NULL, 0.2, 1));
    CHECK(u.n_train + u.n_test == ds.n_rows && abs(u.n_test - (int)floor(0.2 * ds.n_rows + 0.5)) == 0);
    ts_split_clear(&u);
    CHECK(ts_split_make(&u, &ds, "nope", 0.2, 1) == TS_ERR_ARG);
    CHECK(ts_split_make(&u, &ds, "kind", 1.0, 1) == TS_ERR_ARG);

    ts_split_clear(&s);
    ts_split_clear(&s2);
    ts_split_clear(&s3);
    ts_dataset_clear(&ds);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ts-test-data-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_age_groups();
    test_celeba();
    test_utkface();
    test_adience();
    test_csv();
    test_folder_and_specs();
    test_split();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("data parse: all checks passed\n");
    return 0;
}
