/* traits.c - trait tables and label rules; see traits.h for the mapping
 * (LACNN Table 1 via ../shared/data/README.md; Adience age groups). */
#include "data/traits.h"

#include <math.h>
#include <string.h>

const char *const ts_age_group_names[TS_AGE_GROUPS] = {
    "0-2", "4-6", "8-13", "15-20", "25-32", "38-43", "48-53", "60+",
};

/* Inclusive bounds of each group; the last is open above. */
static const double age_lo[TS_AGE_GROUPS] = { 0, 4, 8, 15, 25, 38, 48, 60 };
static const double age_hi[TS_AGE_GROUPS] = { 2, 6, 13, 20, 32, 43, 53, INFINITY };

int ts_age_group(double age)
{
    if (!(age >= 0)) return -1; /* negative or NaN */
    for (int i = 0; i < TS_AGE_GROUPS; i++) {
        if (age > age_hi[i]) continue;
        if (age >= age_lo[i] || i == 0) return i;
        /* In the gap between group i-1 and group i: nearer wins, a tie
         * goes to the older group i. */
        double below = age - age_hi[i - 1], above = age_lo[i] - age;
        return above <= below ? i : i - 1;
    }
    return TS_AGE_GROUPS - 1; /* unreachable: the last group is open */
}

int ts_age_group_of_range(double lo, double hi)
{
    if (!(lo >= 0) || !(hi >= lo)) return -1;
    return ts_age_group(0.5 * (lo + hi));
}

/* ---- CelebA ------------------------------------------------------------ */

static const char *const cls_gender[] = { "female", "male" };
static const char *const cls_age[] = { "young", "elder" };
static const char *const cls_no_yes[] = { "no", "yes" };
static const char *const cls_emotion[] = { "joy", "other" };
static const char *const cls_hair[] = { "dark", "bright" };
static const char *const cls_ethnicity[] = { "white", "other" };

const ts_trait_def ts_celeba_traits[TS_CELEBA_TRAITS] = {
    [TS_CELEBA_GENDER] = { "gender", 2, cls_gender, "CelebA Male" },
    [TS_CELEBA_AGE] = { "age", 2, cls_age, "CelebA Young (young) vs not (elder)" },
    [TS_CELEBA_MAKEUP] = { "makeup", 2, cls_no_yes, "CelebA Heavy_Makeup" },
    [TS_CELEBA_EMOTION] = { "emotion", 2, cls_emotion, "CelebA Smiling (joy) vs not (other)" },
    [TS_CELEBA_ATTRACTIVE] = { "attractive", 2, cls_no_yes, "CelebA Attractive" },
    [TS_CELEBA_CHUBBY] = { "chubby", 2, cls_no_yes, "CelebA Chubby" },
    [TS_CELEBA_HAIR] = { "hair", 2, cls_hair,
                         "CelebA Black_Hair|Brown_Hair (dark) vs Blond_Hair|Gray_Hair (bright); "
                         "neither or both excluded" },
};

static int column_of(const char *const *names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], want) == 0) return i;
    return -1;
}

void ts_celeba_columns_find(ts_celeba_columns *c, const char *const *names, int n)
{
    c->male = column_of(names, n, "Male");
    c->young = column_of(names, n, "Young");
    c->heavy_makeup = column_of(names, n, "Heavy_Makeup");
    c->smiling = column_of(names, n, "Smiling");
    c->attractive = column_of(names, n, "Attractive");
    c->chubby = column_of(names, n, "Chubby");
    c->black_hair = column_of(names, n, "Black_Hair");
    c->brown_hair = column_of(names, n, "Brown_Hair");
    c->blond_hair = column_of(names, n, "Blond_Hair");
    c->gray_hair = column_of(names, n, "Gray_Hair");
}

bool ts_celeba_trait_available(const ts_celeba_columns *c, int t)
{
    switch (t) {
    case TS_CELEBA_GENDER: return c->male >= 0;
    case TS_CELEBA_AGE: return c->young >= 0;
    case TS_CELEBA_MAKEUP: return c->heavy_makeup >= 0;
    case TS_CELEBA_EMOTION: return c->smiling >= 0;
    case TS_CELEBA_ATTRACTIVE: return c->attractive >= 0;
    case TS_CELEBA_CHUBBY: return c->chubby >= 0;
    case TS_CELEBA_HAIR:
        return c->black_hair >= 0 && c->brown_hair >= 0 && c->blond_hair >= 0 && c->gray_hair >= 0;
    }
    return false;
}

int ts_celeba_trait_label(const ts_celeba_columns *c, int t, const signed char *v)
{
    if (!ts_celeba_trait_available(c, t)) return -1;
    switch (t) {
    case TS_CELEBA_GENDER: return v[c->male] > 0;
    case TS_CELEBA_AGE: return v[c->young] > 0 ? 0 : 1;
    case TS_CELEBA_MAKEUP: return v[c->heavy_makeup] > 0;
    case TS_CELEBA_EMOTION: return v[c->smiling] > 0 ? 0 : 1;
    case TS_CELEBA_ATTRACTIVE: return v[c->attractive] > 0;
    case TS_CELEBA_CHUBBY: return v[c->chubby] > 0;
    case TS_CELEBA_HAIR: {
        bool dark = v[c->black_hair] > 0 || v[c->brown_hair] > 0;
        bool bright = v[c->blond_hair] > 0 || v[c->gray_hair] > 0;
        if (dark == bright) return -1; /* neither, or contradictory */
        return dark ? 0 : 1;
    }
    }
    return -1;
}

/* ---- UTKFace, Adience --------------------------------------------------- */

const ts_trait_def ts_utk_traits[TS_UTK_TRAITS] = {
    [TS_UTK_ETHNICITY] = { "ethnicity", 2, cls_ethnicity, "UTKFace race 0 (white) vs 1..4 (other)" },
    [TS_UTK_GENDER] = { "gender", 2, cls_gender, "UTKFace gender (0 male, 1 female)" },
    [TS_UTK_AGE_GROUP] = { "age-group", TS_AGE_GROUPS, ts_age_group_names,
                           "UTKFace age in Adience's eight groups" },
};

const ts_trait_def ts_adience_traits[TS_ADIENCE_TRAITS] = {
    [TS_ADIENCE_GENDER] = { "gender", 2, cls_gender, "Adience gender f/m (u excluded)" },
    [TS_ADIENCE_AGE_GROUP] = { "age-group", TS_AGE_GROUPS, ts_age_group_names,
                               "Adience age label in its eight groups" },
};

int ts_utk_ethnicity(int race)
{
    if (race < 0 || race > 4) return -1;
    return race == 0 ? 0 : 1;
}

int ts_utk_gender(int gender)
{
    if (gender == 0) return 1; /* UTKFace 0 = male -> class "male" */
    if (gender == 1) return 0;
    return -1;
}
