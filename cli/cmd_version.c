/*
 * `ktrace version`: version, build flags and every library this process
 * actually linked. The shared objects come from the dynamic loader's list
 * (dl_iterate_phdr), so a library shows only when it is loaded; each
 * version is read at run time from the library itself where it offers a
 * call or variable (curl_version_info, cJSON_Version, zlibVersion,
 * yaml_get_version_string, curses_version, libbpf_version_string,
 * nl_ver_*, MHD_get_version, looked up with dlsym so an optional library
 * needs no header here), otherwise from the loaded file's name
 * (libnftnl.so.11.6.0: versionSource "file"); libnl's parts take libnl-3's
 * version when their files are of the same release (versionSource
 * "libnl-3"). libcurl is dlopen()ed on first use (collectors/kube/
 * curl_dl.h); this command loads it first so it is listed like the rest.
 */
#include "collectors/kube/curl_dl.h" /* first: it includes <curl/curl.h> */
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <zlib.h>

#include "cli/cli.h"
#include "ktrace/bundle.h"
#include "ktrace/jsonw.h"

/* The libraries ktrace links, in the order they are listed. */
static const struct {
	const char *name;        /* JSON key */
	const char *soname;      /* file name prefix, up to ".so" */
	const char *ver_fn;      /* const char *fn(void) giving the version, or NULL */
} known[] = {
	{"libcurl", "libcurl", NULL},           /* curl_version_info() below */
	{"cjson", "libcjson", NULL},            /* cJSON_Version() */
	{"libyaml", "libyaml-0", NULL},         /* yaml_get_version_string() */
	{"zlib", "libz", NULL},                 /* zlibVersion() */
	{"libnftnl", "libnftnl", NULL},
	{"libmnl", "libmnl", NULL},
	{"libnl-3", "libnl-3", NULL},           /* nl_ver_maj/min/mic */
	{"libnl-genl-3", "libnl-genl-3", NULL},
	{"libnl-nf-3", "libnl-nf-3", NULL},
	{"libnl-idiag-3", "libnl-idiag-3", NULL},
	{"libnl-route-3", "libnl-route-3", NULL},
	{"libbpf", "libbpf", "libbpf_version_string"},
	{"ncurses", "libncursesw", "curses_version"},
	{"tinfo", "libtinfo", NULL},
	{"libmicrohttpd", "libmicrohttpd", "MHD_get_version"},
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

struct lib {
	char file[PATH_MAX];     /* the loaded object's real path; "" not loaded */
	char version[96];
	const char *source;      /* "runtime" or "file" */
};

static int on_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct lib *libs = ctx;
	(void)size;
	if (!info->dlpi_name || !info->dlpi_name[0])
		return 0;
	const char *base = strrchr(info->dlpi_name, '/');
	base = base ? base + 1 : info->dlpi_name;
	for (size_t i = 0; i < N_KNOWN; i++) {
		size_t n = strlen(known[i].soname);
		if (strncmp(base, known[i].soname, n) || strncmp(base + n, ".so", 3) || libs[i].file[0])
			continue;
		char real[PATH_MAX];
		snprintf(libs[i].file, sizeof(libs[i].file), "%s",
			 realpath(info->dlpi_name, real) ? real : info->dlpi_name);
	}
	return 0;
}

/* "libnftnl.so.11.6.0" -> "11.6.0" (the shared object's version). */
static void file_version(const char *file, char *out, size_t n)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	const char *so = strstr(base, ".so.");
	snprintf(out, n, "%s", so ? so + 4 : "");
}

static void runtime_version(size_t i, struct lib *l)
{
	const char *v = NULL;
	char buf[64];
	if (!strcmp(known[i].name, "libcurl"))
		v = kt_curl_load(NULL) ? curl_version_info(CURLVERSION_NOW)->version : NULL;
	else if (!strcmp(known[i].name, "cjson"))
		v = cJSON_Version();
	else if (!strcmp(known[i].name, "libyaml"))
		v = yaml_get_version_string();
	else if (!strcmp(known[i].name, "zlib"))
		v = zlibVersion();
	else if (!strcmp(known[i].name, "libnl-3")) {
		const int *maj = dlsym(RTLD_DEFAULT, "nl_ver_maj"), *min = dlsym(RTLD_DEFAULT, "nl_ver_min"),
			  *mic = dlsym(RTLD_DEFAULT, "nl_ver_mic");
		if (maj && min && mic) {
			snprintf(buf, sizeof(buf), "%d.%d.%d", *maj, *min, *mic);
			v = buf;
		}
	} else if (known[i].ver_fn) {
		const char *(*fn)(void);
		*(void **)&fn = dlsym(RTLD_DEFAULT, known[i].ver_fn);
		if (fn)
			v = fn();
	}
	if (v) {
		snprintf(l->version, sizeof(l->version), "%s", v);
		l->source = "runtime";
	} else if (l->file[0]) {
		file_version(l->file, l->version, sizeof(l->version));
		l->source = "file";
	}
}

/* libnl's parts (genl, nf, idiag, route) have no version call, but they
 * come from one source release with libnl-3: when a part's file has the
 * same library version as libnl-3's, it is that release. */
static void same_release_as_libnl(struct lib *libs)
{
	size_t core = N_KNOWN;
	for (size_t i = 0; i < N_KNOWN; i++)
		if (!strcmp(known[i].name, "libnl-3"))
			core = i;
	if (core == N_KNOWN || !libs[core].file[0] || strcmp(libs[core].source ? libs[core].source : "", "runtime"))
		return;
	char cv[96];
	file_version(libs[core].file, cv, sizeof(cv));
	for (size_t i = 0; i < N_KNOWN; i++) {
		char pv[96];
		if (i == core || strncmp(known[i].name, "libnl-", 6) || !libs[i].file[0])
			continue;
		file_version(libs[i].file, pv, sizeof(pv));
		if (*cv && !strcmp(pv, cv)) {
			snprintf(libs[i].version, sizeof(libs[i].version), "%s", libs[core].version);
			libs[i].source = "libnl-3";
		}
	}
}

static int run(struct kt_cli *c)
{
	/* load libcurl before reading the loader's list, so it shows */
	static const curl_version_info_data none = {.version = NULL, .ssl_version = NULL};
	const curl_version_info_data *cv = kt_curl_load(NULL) ? curl_version_info(CURLVERSION_NOW) : &none;
	struct lib *libs = calloc(N_KNOWN, sizeof(*libs));
	if (!libs)
		return kt_cli_error(c, KT_EXIT_CLUSTER, NULL, "out of memory");
	dl_iterate_phdr(on_object, libs);
	for (size_t i = 0; i < N_KNOWN; i++)
		if (libs[i].file[0] || i < 4)   /* the first four may be linked statically */
			runtime_version(i, &libs[i]);
	same_release_as_libnl(libs);
	if (kt_cli_structured(c)) {
		struct kt_jw *w = kt_cli_jw(c, stdout, true);
		kt_jw_obj(w);
		kt_jw_kstr(w, "version", KT_VERSION);
		kt_jw_kstr(w, "commit", KT_GITSHA);
		kt_jw_kint(w, "bundleVersion", KT_BUNDLE_VERSION);
		kt_jw_kstr(w, "compiler", __VERSION__);
		/* name -> version (stable since 0.1) */
		kt_jw_key(w, "libraries");
		kt_jw_obj(w);
		for (size_t i = 0; i < N_KNOWN; i++)
			if (libs[i].version[0])
				kt_jw_kstr(w, known[i].name, libs[i].version);
		kt_jw_kstr(w, "tls", cv->ssl_version);
		kt_jw_obj_end(w);
		/* each linked library: where it was loaded from, how the version was read */
		kt_jw_key(w, "linked");
		kt_jw_arr(w);
		for (size_t i = 0; i < N_KNOWN; i++) {
			if (!libs[i].version[0] && !libs[i].file[0])
				continue;
			kt_jw_obj(w);
			kt_jw_kstr(w, "name", known[i].name);
			kt_jw_kstr(w, "version", libs[i].version[0] ? libs[i].version : NULL);
			kt_jw_kstr(w, "versionSource", libs[i].source);
			kt_jw_kstr(w, "file", libs[i].file[0] ? libs[i].file : NULL);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
		free(libs);
		return kt_jw_free(w) ? KT_EXIT_INPUT : 0;
	}
	printf("ktrace %s (commit %s, bundle format %d)\n", KT_VERSION, KT_GITSHA, KT_BUNDLE_VERSION);
	printf("built with %s\n", __VERSION__);
	printf("TLS: %s\n", cv->ssl_version ? cv->ssl_version : "none");
	for (size_t i = 0; i < N_KNOWN; i++)
		if (libs[i].version[0] || libs[i].file[0])
			printf("%-14s %-22s %s\n", known[i].name, libs[i].version[0] ? libs[i].version : "?",
			       libs[i].file[0] ? libs[i].file : "(static)");
	free(libs);
	return 0;
}

static const struct kt_option opts[] = {{0}};

const struct kt_command kt_cmd_version = {
	.name = "version",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_NO_GLOBALS,
	.man = "ktrace(1)",
	.summary = "print version, build flags and library versions",
	.outputs = "text|json|yaml",
};
