/* safetext.h - strings from the outside (file names, dataset headers,
 * imported model metadata) made safe for where they are shown: JSON,
 * terminals and GUI text.  The one place every JSON writer and every
 * stderr message goes through.
 *
 * File names on Linux are bytes: they need not be UTF-8 (RFC 3629).  JSON
 * (RFC 8259, section 8.1) must be UTF-8, terminals act on control bytes
 * (ESC, CSI) and Pango refuses invalid UTF-8.  So:
 *   - JSON: ts_json_print() repairs a cJSON tree before printing it.  Every
 *     string with invalid UTF-8 is replaced by its U+FFFD form (each byte
 *     of an invalid sequence becomes one U+FFFD), and, when the string is
 *     the value of member KEY, a member "KEY_bytes" is added beside it with
 *     the original bytes in lowercase hex, so nothing is lost (Python:
 *     bytes.fromhex(o["image_bytes"])).  An array member KEY whose elements
 *     need it gets "KEY_bytes": an array of the same length, hex for the
 *     repaired elements and null for the others.  Object keys are repaired
 *     without a _bytes twin.  Control characters are escaped by cJSON
 *     itself.
 *   - terminals: ts_text_escape() writes control characters (C0, DEL, the
 *     C1 range) and invalid bytes as \xNN (\n, \t, \r as themselves
 *     escaped), so a hostile name cannot move the cursor or end the line.
 *   - GUI text: ts_utf8_repair() (U+FFFD for invalid bytes).
 */
#ifndef TS_SAFETEXT_H
#define TS_SAFETEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cJSON;

/* Length of the longest valid UTF-8 prefix of s[0..n) (n when all valid).
 * Overlong forms, surrogates and code points above U+10FFFF are invalid. */
size_t ts_utf8_valid_prefix(const char *s, size_t n);
bool ts_utf8_valid(const char *s);

/* s with every invalid byte replaced by U+FFFD.  transfer: full (free());
 * NULL only when out of memory. */
char *ts_utf8_repair(const char *s);

/* s for a terminal (see above).  transfer: full; NULL when out of memory. */
char *ts_text_escape(const char *s);

/* fprintf to `f` with the formatted text passed through ts_text_escape,
 * then a newline.  For one-line messages on stderr. */
void ts_text_print_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Repairs `root` in place as described above. */
void ts_json_repair(struct cJSON *root, bool bytes_twins);

/* ts_json_repair(root, true), then cJSON_Print (formatted) or
 * cJSON_PrintUnformatted.  transfer: full (free()); NULL when out of
 * memory. */
char *ts_json_print(struct cJSON *root, bool formatted);

#endif
