/* traits.h - the facial traits Traitscope trains on, and how each dataset's
 * raw annotations become a class label per image.
 *
 * A trait is a classification problem: a name, 2..N class names, and per
 * image a class index or -1 (the image is left out of that trait).  Class
 * index order is fixed here and shared by every dataset that provides the
 * trait, so a gender model trained on CelebA-HQ reads UTKFace labels the
 * same way (gender is always 0 = female, 1 = male).
 *
 * Spec followed: the LACNN paper's Table 1 (FAD traits: gender, ethnicity,
 * hair colour, makeup, age, emotion, attractive, chubby; "humorous" has no
 * public stand-in), mapped to public data as ../shared/data/README.md says:
 *
 *   trait       classes            CelebA attribute(s)
 *   gender      female, male       Male
 *   age         young, elder       Young (1 = young)
 *   makeup      no, yes            Heavy_Makeup
 *   emotion     joy, other         Smiling (1 = joy)
 *   attractive  no, yes            Attractive
 *   chubby      no, yes            Chubby
 *   hair        dark, bright       dark = Black_Hair or Brown_Hair,
 *                                  bright = Blond_Hair or Gray_Hair;
 *                                  none of the four, or dark AND bright
 *                                  (51 of the 10,000 CelebA-HQ images: the
 *                                  annotators disagree with themselves),
 *                                  -> excluded
 *
 *   UTKFace (race 0 White .. 4 Others, gender 0 male / 1 female):
 *   ethnicity   white, other       race 0 vs 1..4; missing race excluded
 *   gender      female, male
 *   age-group   Adience's eight groups (below)
 *
 *   Adience fold files: gender (f/m; u excluded) and age-group.
 *
 * Age groups (Adience, Levi & Hassner / Lapuschkin et al.): 0-2, 4-6, 8-13,
 * 15-20, 25-32, 38-43, 48-53, 60+.  An age between two groups goes to the
 * nearer group; a tie goes to the older group.  So 3 -> 4-6, 7 -> 8-13,
 * 14 -> 15-20, 21..22 -> 15-20, 23..24 -> 25-32, 33..34 -> 25-32,
 * 35..37 -> 38-43, 44..45 -> 38-43, 46..47 -> 48-53, 54..56 -> 48-53,
 * 57..59 -> 60+.  Adience range labels "(a, b)" use their midpoint with
 * the same rule, which sends every official label to its own group and the
 * stray ones ("(38, 48)", "(8, 23)", "(27, 32)") to the nearest.
 */
#ifndef TS_TRAITS_H
#define TS_TRAITS_H

#include <stdbool.h>

#define TS_AGE_GROUPS 8

/* Class names "0-2" .. "60+".  transfer: none (static). */
extern const char *const ts_age_group_names[TS_AGE_GROUPS];

/* Group index 0..7 of an age in years; -1 for a negative or NaN age. */
int ts_age_group(double age);
/* Group of an Adience range label (lo, hi), by its midpoint; -1 if lo > hi
 * or lo < 0. */
int ts_age_group_of_range(double lo, double hi);

/* A trait's fixed name and classes.  transfer: none (static tables). */
typedef struct ts_trait_def {
    const char *name;
    int n_classes;
    const char *const *classes;
    const char *about; /* one line: where the label comes from */
} ts_trait_def;

/* ---- CelebA attribute files -------------------------------------------- */

enum {
    TS_CELEBA_GENDER,
    TS_CELEBA_AGE,
    TS_CELEBA_MAKEUP,
    TS_CELEBA_EMOTION,
    TS_CELEBA_ATTRACTIVE,
    TS_CELEBA_CHUBBY,
    TS_CELEBA_HAIR,
    TS_CELEBA_TRAITS
};

extern const ts_trait_def ts_celeba_traits[TS_CELEBA_TRAITS];

/* Column of each attribute a trait needs, found by name in the file's
 * header line; -1 where the header lacks it. */
typedef struct ts_celeba_columns {
    int male, young, heavy_makeup, smiling, attractive, chubby;
    int black_hair, brown_hair, blond_hair, gray_hair;
} ts_celeba_columns;

/* Resolves the columns from the header's attribute names. */
void ts_celeba_columns_find(ts_celeba_columns *cols, const char *const *names, int n_names);
/* True when every attribute trait `t` needs is present. */
bool ts_celeba_trait_available(const ts_celeba_columns *cols, int t);
/* Label of trait `t` from one row's values (values[i] > 0 means attribute i
 * is set); -1 when the row is excluded from the trait. */
int ts_celeba_trait_label(const ts_celeba_columns *cols, int t, const signed char *values);

/* ---- UTKFace and Adience ----------------------------------------------- */

enum { TS_UTK_ETHNICITY, TS_UTK_GENDER, TS_UTK_AGE_GROUP, TS_UTK_TRAITS };
extern const ts_trait_def ts_utk_traits[TS_UTK_TRAITS];

/* Labels from UTKFace values; any argument < 0 means missing and gives -1.
 * race: 0 White .. 4 Others; gender: 0 male, 1 female. */
int ts_utk_ethnicity(int race);
int ts_utk_gender(int gender);

enum { TS_ADIENCE_GENDER, TS_ADIENCE_AGE_GROUP, TS_ADIENCE_TRAITS };
extern const ts_trait_def ts_adience_traits[TS_ADIENCE_TRAITS];

#endif
