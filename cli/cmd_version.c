/* `ktrace version`: version, build flags and library versions. */
#include "collectors/kube/curl_dl.h" /* libcurl is loaded on first use */
#include <cjson/cJSON.h>
#include <yaml.h>
#include <zlib.h>

#include "cli/cli.h"
#include "ktrace/bundle.h"
#include "ktrace/jsonw.h"

static int run(struct kt_cli *c)
{
	static const curl_version_info_data none = {.version = "not loadable", .ssl_version = NULL};
	const curl_version_info_data *cv = kt_curl_load(NULL) ? curl_version_info(CURLVERSION_NOW) : &none;
	if (c->out == KT_OUT_JSON) {
		struct kt_jw *w = kt_jw_new(stdout, true);
		kt_jw_obj(w);
		kt_jw_kstr(w, "version", KT_VERSION);
		kt_jw_kstr(w, "commit", KT_GITSHA);
		kt_jw_kint(w, "bundleVersion", KT_BUNDLE_VERSION);
		kt_jw_kstr(w, "compiler", __VERSION__);
		kt_jw_key(w, "libraries");
		kt_jw_obj(w);
		kt_jw_kstr(w, "libcurl", cv->version);
		kt_jw_kstr(w, "tls", cv->ssl_version);
		kt_jw_kstr(w, "cjson", cJSON_Version());
		kt_jw_kstr(w, "libyaml", yaml_get_version_string());
		kt_jw_kstr(w, "zlib", zlibVersion());
		kt_jw_obj_end(w);
		kt_jw_obj_end(w);
		return kt_jw_free(w) ? KT_EXIT_INPUT : 0;
	}
	printf("ktrace %s (commit %s, bundle format %d)\n", KT_VERSION, KT_GITSHA, KT_BUNDLE_VERSION);
	printf("built with %s\n", __VERSION__);
	printf("libcurl %s (%s), cJSON %s, libyaml %s, zlib %s\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS",
	       cJSON_Version(), yaml_get_version_string(), zlibVersion());
	return 0;
}

static const struct kt_option opts[] = {{0}};

const struct kt_command kt_cmd_version = {
	.name = "version",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_NO_GLOBALS,
	.summary = "print version, build flags and library versions",
};
