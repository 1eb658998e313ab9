/* The environment table (lib/env.c) against the docs and the sources:
 * every KTRACE_* variable of the table is listed in the ENVIRONMENT
 * section of man/ktrace.1 (one section) and README's Environment table,
 * both list nothing else, and no source outside lib/env.c reads a
 * KTRACE_* variable itself. Also kt_env_long()'s parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ktrace/env.h"

/* The text between start (a line beginning with it) and the next line
 * beginning with stop; NULL when absent. */
static char *section(const char *path, const char *start, const char *stop)
{
	size_t len;
	char *b = t_slurp(path, 1 << 20, &len);
	if (!b)
		return NULL;
	char *s = strstr(b, start);
	if (!s) {
		free(b);
		return NULL;
	}
	char *e = strstr(s + strlen(start), stop);
	size_t n = e ? (size_t)(e - s) : strlen(s);
	char *out = malloc(n + 1);
	memcpy(out, s, n);
	out[n] = 0;
	free(b);
	return out;
}

static bool in_table(const char *name, size_t n)
{
	const struct kt_env_var *t = kt_env_table();
	for (int i = 0; i < KT_ENV_COUNT; i++)
		if (strlen(t[i].name) == n && !strncmp(t[i].name, name, n))
			return true;
	return false;
}

/* Every KTRACE_[A-Z_]+ word of text is in the table, and every table
 * entry is in text. */
static void check_doc(const char *what, const char *text)
{
	const struct kt_env_var *t = kt_env_table();
	char msg[160];
	for (int i = 0; i < KT_ENV_COUNT; i++) {
		snprintf(msg, sizeof(msg), "%s lists %s", what, t[i].name);
		T_CHECK(text && strstr(text, t[i].name) != NULL, msg);
	}
	bool extra = false;
	for (const char *p = text ? strstr(text, "KTRACE_") : NULL; p; p = strstr(p + 1, "KTRACE_")) {
		size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
		if (!in_table(p, n)) {
			printf("  %s: %.*s is not in lib/env.c\n", what, (int)n, p);
			extra = true;
		}
	}
	snprintf(msg, sizeof(msg), "%s lists no variable outside the table", what);
	T_CHECK(text && !extra, msg);
}

static void test_docs(void)
{
	size_t len;
	char *man = t_slurp("man/ktrace.1", 1 << 20, &len);
	T_CHECK(man != NULL, "man/ktrace.1 readable");
	if (man) {
		char *first = strstr(man, ".SH ENVIRONMENT");
		T_CHECK(first && !strstr(first + 1, ".SH ENVIRONMENT"), "man ktrace has one ENVIRONMENT section");
	}
	free(man);
	char *m = section("man/ktrace.1", ".SH ENVIRONMENT", "\n.SH ");
	check_doc("man ktrace ENVIRONMENT", m);
	free(m);
	char *r = section("README.md", "## Environment\n", "\n## ");
	check_doc("README Environment", r);
	free(r);
	const struct kt_env_var *t = kt_env_table();
	bool complete = true;
	for (int i = 0; i < KT_ENV_COUNT; i++)
		complete &= t[i].name && t[i].value && t[i].meaning && t[i].dflt && !strncmp(t[i].name, "KTRACE_", 7);
	T_CHECK(complete, "every table entry has a name, value, meaning and default");
}

static void test_sources(void)
{
	FILE *p = popen("grep -rln 'getenv(\"KTRACE' lib collectors analyzers cli 2>/dev/null", "r");
	if (!p) {
		T_SKIP("sources", "cannot run grep");
		return;
	}
	char line[512], bad[1024] = "";
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, "lib/env.c") != 0 && strlen(bad) + strlen(line) + 2 < sizeof(bad)) {
			strcat(bad, line);
			strcat(bad, " ");
		}
	}
	pclose(p);
	if (bad[0])
		printf("  getenv(\"KTRACE...\") outside lib/env.c: %s\n", bad);
	T_CHECK(!bad[0], "no KTRACE_* getenv outside lib/env.c");
}

static void test_parse(void)
{
	setenv("KTRACE_CT_LIVE_MAX", "12", 1);
	T_CHECK_INT(kt_env_long(KT_ENV_CT_LIVE_MAX, 1, 100, 5), 12, "number in range");
	setenv("KTRACE_CT_LIVE_MAX", "1000", 1);
	T_CHECK_INT(kt_env_long(KT_ENV_CT_LIVE_MAX, 1, 100, 5), 5, "out of range: default");
	setenv("KTRACE_CT_LIVE_MAX", "12x", 1);
	T_CHECK_INT(kt_env_long(KT_ENV_CT_LIVE_MAX, 1, 100, 5), 5, "not a number: default");
	setenv("KTRACE_CT_LIVE_MAX", "", 1);
	T_CHECK(kt_env_get(KT_ENV_CT_LIVE_MAX) == NULL, "empty is unset");
	unsetenv("KTRACE_CT_LIVE_MAX");
	T_CHECK_INT(kt_env_long(KT_ENV_CT_LIVE_MAX, 1, 100, 5), 5, "unset: default");
}

static void run(void)
{
	test_docs();
	test_sources();
	test_parse();
}

T_MAIN("test_env")
