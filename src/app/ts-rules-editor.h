/* ts-rules-editor.h - the LRP rules of one model, edited per layer (issue 7,
 * panel 4: "rule preset and per-layer overrides, target class").
 *
 * Shows a preset drop-down (the presets of explain/lrp.h), one row per
 * linear layer (conv*, fc*) with a rule drop-down (epsilon, LRP-0,
 * alpha-beta, flat, w-square, z-box) and a parameter entry in the rule
 * grammar's own words ("0.01" for epsilon, "2,1" or "2,1,bias" for
 * alpha-beta), and a target drop-down ("predicted" and the model's
 * classes, or the targets the session offers: a multi-label model's traits
 * and their classes, "TRAIT" and "TRAIT=CLASS").  It produces the rule string and the target that
 * ts_session_request takes (TsRequest.rules / .target).
 *
 * Rule string produced: "preset=NAME" followed by "LAYER=RULE" for every
 * layer whose rule differs from what the preset gives it, e.g.
 * "preset=adience;conv1=epsilon:0.25".  Which rule a preset gives a layer
 * is decided from its name without a graph: a name starting with "fc" is
 * an fc layer, any other a conv layer, and the first row is the layer fed
 * by the input (z-box of the "composite" preset; z-box is refused on the
 * other rows).  That holds for the AlexNet-style models Traitscope builds;
 * the session's own parse (ts_lrp_rules_parse on the graph) stays the
 * judge, and its rules as applied come back through set_layers.
 *
 * Validation: every edit is checked with the rule grammar
 * (ts_lrp_rule_parse, ts_lrp_rules_check); an error is shown under the rows
 * and on the offending entry, and "changed" is not emitted until the rules
 * are valid again.
 *
 * Signals:
 *   "changed" (const char *rules, const char *target): the user changed a
 *     rule, a parameter, the preset or the target and the result is valid
 *     and differs from what was last emitted or set.  target is "" for the
 *     predicted class, else a class name or "TRAIT" / "TRAIT=CLASS"
 *     (explain/lrp.h's ts_lrp_target_for_model reads them all).
 *     Not emitted by ts_rules_editor_set_layers / _set_target.
 */
#ifndef TS_RULES_EDITOR_H
#define TS_RULES_EDITOR_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TS_TYPE_RULES_EDITOR (ts_rules_editor_get_type())
G_DECLARE_FINAL_TYPE(TsRulesEditor, ts_rules_editor, TS, RULES_EDITOR, GtkWidget)

/* An editor with no layers yet (preset adience, target predicted). */
GtkWidget *ts_rules_editor_new(void);

/* Fills the rows from the rules as applied to a model (ts_inspect_model's
 * `rules`: "conv1=alphabeta:2,1;...;fc8=epsilon:0.01") and the target
 * drop-down from its class names (NULL-terminated; NULL: the target list
 * stays as it is).  Rows and
 * a target that did not change keep what the user is typing.  The preset
 * choice is kept, so the rows that differ from it become overrides.
 * Emits nothing.  Both arguments are copied. */
void ts_rules_editor_set_layers(TsRulesEditor *e, const char *applied_rules, const char *const *class_names);

/* The target list from the session's (ts_session_get_target_labels /
 * _values: item 0 is the predicted class, ""; NULL-terminated, the same
 * length; labels NULL shows the values).  The selected target stays when
 * it is still offered.  Emits nothing.  Copied. */
void ts_rules_editor_set_targets(TsRulesEditor *e, const char *const *labels, const char *const *values);

/* Selects a preset by name ("adience", ...) and resets every row to it;
 * FALSE for an unknown name.  Emits nothing. */
gboolean ts_rules_editor_set_preset(TsRulesEditor *e, const char *preset);
/* Selects the target ("" / NULL / "predicted", or a listed value); FALSE
 * when it is not listed.  Emits nothing. */
gboolean ts_rules_editor_set_target(TsRulesEditor *e, const char *target);

/* The rule string of the current rows, or NULL while an edit is invalid.
 * transfer: none (valid until the next edit or set call). */
const char *ts_rules_editor_get_rules(TsRulesEditor *e);
/* "" for the predicted class, else the class name.  transfer: none. */
const char *ts_rules_editor_get_target(TsRulesEditor *e);
/* The error shown, or NULL when the rules are valid.  transfer: none. */
const char *ts_rules_editor_get_error(TsRulesEditor *e);

/* The controls of layer `layer` (NULL when there is no such row), so tests
 * and accessibility tools can drive them.  Rule drop-down items, in order:
 * epsilon, lrp0, alphabeta, flat, wsquare, zbox.  transfer: none. */
GtkDropDown *ts_rules_editor_get_rule_dropdown(TsRulesEditor *e, const char *layer);
GtkEditable *ts_rules_editor_get_param_entry(TsRulesEditor *e, const char *layer);
GtkDropDown *ts_rules_editor_get_preset_dropdown(TsRulesEditor *e);
GtkDropDown *ts_rules_editor_get_target_dropdown(TsRulesEditor *e);

G_END_DECLS

#endif
