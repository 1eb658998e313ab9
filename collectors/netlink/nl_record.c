/*
 * Record and replay of the netlink layer (as `ss -D` / TCPDIAG_FILE do):
 * with KTRACE_NL_RECORD=DIR every request's reply messages (the final,
 * uninterrupted attempt, NLMSG_DONE and NLMSG_ERROR included, sequence
 * numbers and port ids zeroed) are written to DIR/nl-<protocol>-<hash>.bin
 * by nl.c; with KTRACE_NL_REPLAY=DIR no socket is opened and nl.c feeds
 * those files through the same libnl receive processing. This file owns
 * the directories, the file names and the side inputs a replay needs
 * besides netlink replies (node name, iptables-legacy-save text, sysctls,
 * genl family ids). Must not: print, or read anything but DIR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "collectors/netlink/nl.h"
#include "ktrace/env.h"
#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

const char *kt_nl_replay_dir(void)
{
	return kt_env_get(KT_ENV_NL_REPLAY);
}

const char *kt_nl_record_dir(void)
{
	if (kt_nl_replay_dir())
		return NULL;
	return kt_env_get(KT_ENV_NL_RECORD);
}

int kt_nl_rec_path(char *out, size_t n, const char *dir, const char *name)
{
	int w = snprintf(out, n, "%s/%s", dir, name);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

void kt_nl_rec_name(char *out, size_t n, const char *dir, int protocol, const void *req, size_t len)
{
	const uint8_t *p = req;
	uint8_t pre[8];
	uint32_t pr = (uint32_t)protocol;
	memcpy(pre, &pr, 4);
	memcpy(pre + 4, p + 4, 4); /* nlmsg_type, nlmsg_flags */
	/* the seed of the first recordings (not FNV's offset basis): file
	 * names, and so every recording made so far, stay valid */
	uint64_t h = kt_hash64(1469598103934665603ULL, pre, sizeof(pre));
	if (len > NLMSG_HDRLEN)
		h = kt_hash64(h, p + NLMSG_HDRLEN, len - NLMSG_HDRLEN);
	snprintf(out, n, "%s/nl-%d-%016llx.bin", dir, protocol, (unsigned long long)h);
}

int kt_nl_rec_put(const char *name, const void *buf, size_t len)
{
	const char *dir = kt_nl_record_dir();
	char path[4096];
	if (!dir)
		return 0;
	if (kt_nl_rec_path(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	mkdir(dir, 0755);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	int rc = fwrite(buf, 1, len, f) == len ? 0 : -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -EIO;
	return rc;
}

char *kt_nl_rec_get(const char *name, size_t max, size_t *len)
{
	const char *dir = kt_nl_replay_dir();
	char path[4096];
	if (!dir || kt_nl_rec_path(path, sizeof(path), dir, name) < 0)
		return NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf;
	size_t n;
	kt_read_stream(f, 4096, max, &buf, &n); /* a larger file is truncated */
	fclose(f);
	buf = kt_xrealloc(buf, n + 1);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

const char *kt_nl_host_name(char *buf, size_t n)
{
	size_t l;
	char *t = kt_nl_rec_get("node.txt", 4096, &l);
	if (t) {
		t[strcspn(t, "\n")] = 0;
		bool ok = t[0] != 0;
		if (ok)
			snprintf(buf, n, "%s", t);
		free(t);
		if (ok)
			return buf;
	}
	if (gethostname(buf, n) != 0 || !buf[0])
		snprintf(buf, n, "localhost");
	buf[n - 1] = 0;
	if (kt_nl_record_dir()) {
		char line[512];
		int w = snprintf(line, sizeof(line), "%s\n", buf);
		if (w > 0 && (size_t)w < sizeof(line))
			kt_nl_rec_put("node.txt", line, (size_t)w);
	}
	return buf;
}
