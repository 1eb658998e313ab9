/*
 * `-o yaml`: the JSON document of a command, emitted as YAML by libyaml's
 * emitter. Every renderer writes its document through the one JSON writer
 * (ktrace/jsonw.h); kt_cli_jw() hands it a writer in event mode whose
 * events become libyaml events here, so the YAML has exactly the JSON's
 * keys, order and values and nothing is held in memory beyond the
 * emitter's few events of look-ahead. Strings that YAML would read as
 * another type (true, null, 80, 1e3, 10.0.0.1, ...) are quoted; numbers,
 * booleans and null stay plain. Owns nothing but the emitter; writes only
 * to the FILE it is given.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cli/cli.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"

struct yout {
	yaml_emitter_t em;
	FILE *out;
	bool started;
	bool explicit_start;     /* one document of several: starts with --- */
	bool failed;
};

static int write_out(void *ctx, unsigned char *buf, size_t n)
{
	struct yout *y = ctx;
	return fwrite(buf, 1, n, y->out) == n;
}

static int emit(struct yout *y, yaml_event_t *ev)
{
	if (y->failed) {
		yaml_event_delete(ev);
		return -1;
	}
	if (!yaml_emitter_emit(&y->em, ev)) {
		y->failed = true;
		return -1;
	}
	return 0;
}

static int start(struct yout *y)
{
	yaml_event_t ev;
	if (y->started)
		return 0;
	y->started = true;
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (emit(y, &ev))
		return -1;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !y->explicit_start);
	return emit(y, &ev);
}

/* Would a plain scalar s be read back as something other than a string
 * (YAML 1.1 and 1.2 core schemas: null, booleans, numbers, timestamps)? */
static bool needs_quotes(const char *s, size_t n)
{
	static const char *const words[] = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
					    ".inf", "-.inf", "+.inf", ".nan", NULL};
	if (!n)
		return true;
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == n && !strncasecmp(s, words[i], n))
			return true;
	/* anything number-like (ints, floats, 0x/0o, 1_000, 12:30, dates,
	 * dotted addresses) is quoted: cheaper than a full resolver and
	 * never wrong */
	if (!strchr("0123456789+-.", s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEFxXoO_.:+- ", s[i]))
			return false;
	return true;
}

static int scalar(struct yout *y, const char *s, size_t n, bool is_string)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
	if (is_string) {
		style = needs_quotes(s, n) ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
		/* line breaks and control characters read best as "\n" escapes */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	}
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)n, 1, 1, style)) {
		y->failed = true;
		return -1;
	}
	return emit(y, &ev);
}

static void finish(struct yout *y)
{
	yaml_event_t ev;
	if (y->started) {
		yaml_document_end_event_initialize(&ev, 1);
		emit(y, &ev);
		yaml_stream_end_event_initialize(&ev);
		emit(y, &ev);
	}
	if (!yaml_emitter_flush(&y->em))
		y->failed = true;
	yaml_emitter_delete(&y->em);
}

static int on_event(void *ctx, enum kt_jw_event e, const char *s, size_t n)
{
	struct yout *y = ctx;
	yaml_event_t ev;
	if (e == KT_JW_EV_END) {
		finish(y);
		int rc = y->failed || fflush(y->out) ? -1 : 0;
		free(y);
		return rc;
	}
	if (start(y))
		return -1;
	switch (e) {
	case KT_JW_EV_OBJ:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		return emit(y, &ev);
	case KT_JW_EV_OBJ_END:
		yaml_mapping_end_event_initialize(&ev);
		return emit(y, &ev);
	case KT_JW_EV_ARR:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		return emit(y, &ev);
	case KT_JW_EV_ARR_END:
		yaml_sequence_end_event_initialize(&ev);
		return emit(y, &ev);
	case KT_JW_EV_KEY:
	case KT_JW_EV_STR:
		return scalar(y, s, n, true);
	case KT_JW_EV_NUM:
	case KT_JW_EV_BOOL:
		return scalar(y, s, n, false);
	case KT_JW_EV_NULL:
		return scalar(y, "null", 4, false);
	case KT_JW_EV_END:
		break;
	}
	return 0;
}

struct kt_jw *kt_cli_jw(struct kt_cli *c, FILE *out, bool pretty)
{
	if (c->out != KT_OUT_YAML)
		return kt_jw_new(out, pretty);
	struct yout *y = kt_xcalloc(1, sizeof(*y));
	y->out = out;
	y->explicit_start = !pretty;
	if (!yaml_emitter_initialize(&y->em))
		kt_oom();
	yaml_emitter_set_output(&y->em, write_out, y);
	yaml_emitter_set_unicode(&y->em, 1);
	yaml_emitter_set_indent(&y->em, 2);
	yaml_emitter_set_width(&y->em, -1);
	return kt_jw_new_events(on_event, y);
}
