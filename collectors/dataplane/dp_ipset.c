/*
 * kube-proxy IPVS mode's node objects besides the virtual services: the
 * addresses bound to the dummy link kube-ipvs0 (rtnetlink RTM_GETLINK /
 * RTM_GETADDR dumps) and kube-proxy's ipsets (nfnetlink subsystem
 * NFNL_SUBSYS_IPSET, one IPSET_CMD_LIST dump), both read-only through the
 * shared dump loop (so they record and replay like every netlink reader).
 * Set members are rendered as kube-proxy's Entry.String() ("10.96.0.10,
 * tcp:53", "31443", "10.244.1.11,tcp:8080,10.244.1.11", "203.0.113.10,
 * tcp:443,198.51.100.0/24") and folded into the IPVS services already built:
 * bound VIPs, Local policy (the *-LOCAL sets), masquerade (NodePort / LB /
 * externalIP sets without a LOCAL entry, KUBE-LOOP-BACK hairpin), LB
 * source-range firewall (KUBE-LOAD-BALANCER-FW + -SOURCE-CIDR) and
 * health-check ports; every fact gets the set or link as evidence.
 * kt_ipset_decode() / kt_rtaddr_decode() take raw message buffers and are
 * shared with the unit tests and the fuzzer.
 * Must not: send anything but dump requests, print, judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/object.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

#define MAX_MEMBERS 1000000u
#define MAX_ADDRS   200000u
#define KT_IPSET_PROTOCOL 6 /* IPSET_PROTOCOL_MIN: every kernel answers it */

struct member {
	uint32_t set;            /* index into sets */
	uint32_t off;            /* key in the string pool */
	uint64_t hash;
};

struct kt_ipset_db {
	char (*sets)[32];
	char (*types)[32];
	uint32_t n_sets, cap_sets;
	struct member *m;
	uint32_t n_m, cap_m;
	uint32_t *tab;           /* open addressing, member index + 1 */
	uint32_t tab_cap;
	char *pool;
	size_t pool_len, pool_cap;
	char (*addrs)[64];       /* kube-ipvs0 addresses "ip/len" */
	uint32_t n_addrs, cap_addrs;
	int link_index;          /* 0: no kube-ipvs0 */
	bool capped;
	bool have_sets;          /* the ipset dump answered */
};

struct kt_ipset_db *kt_ipset_db_new(void)
{
	return kt_xcalloc(1, sizeof(struct kt_ipset_db));
}

void kt_ipset_db_free(struct kt_ipset_db *db)
{
	if (!db)
		return;
	free(db->sets);
	free(db->types);
	free(db->m);
	free(db->tab);
	free(db->pool);
	free(db->addrs);
	free(db);
}

static void *xgrow(void *p, uint32_t *cap, size_t elem)
{
	uint32_t nc = *cap ? *cap * 2 : 16;
	void *q = kt_xreallocarray(p, nc, elem);
	*cap = nc;
	return q;
}

static uint64_t fnv(uint32_t set, const char *s)
{
	return kt_hash_str(KT_HASH_SEED ^ set, s);
}

static uint32_t set_index(struct kt_ipset_db *db, const char *name, bool create)
{
	for (uint32_t i = 0; i < db->n_sets; i++)
		if (strcmp(db->sets[i], name) == 0)
			return i;
	if (!create)
		return KT_NONE;
	if (db->n_sets == db->cap_sets) {
		uint32_t c = db->cap_sets;
		db->sets = xgrow(db->sets, &c, sizeof(*db->sets));
		db->types = xgrow(db->types, &db->cap_sets, sizeof(*db->types));
	}
	snprintf(db->sets[db->n_sets], sizeof(db->sets[0]), "%s", name);
	db->types[db->n_sets][0] = 0;
	return db->n_sets++;
}

static void rehash(struct kt_ipset_db *db)
{
	uint32_t nc = db->tab_cap ? db->tab_cap * 2 : 1024;
	free(db->tab);
	db->tab = kt_xcalloc(nc, sizeof(*db->tab));
	db->tab_cap = nc;
	for (uint32_t i = 0; i < db->n_m; i++) {
		uint32_t s = (uint32_t)db->m[i].hash & (nc - 1);
		while (db->tab[s])
			s = (s + 1) & (nc - 1);
		db->tab[s] = i + 1;
	}
}

static bool has(const struct kt_ipset_db *db, uint32_t set, const char *key)
{
	if (set == KT_NONE || !db->tab_cap)
		return false;
	uint64_t h = fnv(set, key);
	for (uint32_t s = (uint32_t)h & (db->tab_cap - 1);; s = (s + 1) & (db->tab_cap - 1)) {
		uint32_t v = db->tab[s];
		if (!v)
			return false;
		const struct member *m = &db->m[v - 1];
		if (m->hash == h && m->set == set && strcmp(db->pool + m->off, key) == 0)
			return true;
	}
}

static void add_member(struct kt_ipset_db *db, uint32_t set, const char *key)
{
	if (has(db, set, key))
		return;
	if (db->n_m >= MAX_MEMBERS) {
		db->capped = true;
		return;
	}
	size_t kl = strlen(key) + 1;
	if (db->pool_len + kl > db->pool_cap) {
		size_t nc = db->pool_cap ? db->pool_cap * 2 : 65536;
		while (nc < db->pool_len + kl)
			nc *= 2;
		db->pool = kt_xrealloc(db->pool, nc);
		db->pool_cap = nc;
	}
	memcpy(db->pool + db->pool_len, key, kl);
	if (db->n_m == db->cap_m)
		db->m = xgrow(db->m, &db->cap_m, sizeof(*db->m));
	struct member *m = &db->m[db->n_m++];
	m->set = set;
	m->off = (uint32_t)db->pool_len;
	m->hash = fnv(set, key);
	db->pool_len += kl;
	if ((uint64_t)db->n_m * 2 > db->tab_cap)
		rehash(db);
	else {
		uint32_t s = (uint32_t)m->hash & (db->tab_cap - 1);
		while (db->tab[s])
			s = (s + 1) & (db->tab_cap - 1);
		db->tab[s] = db->n_m;
	}
}

uint32_t kt_ipset_count(const struct kt_ipset_db *db, const char *set)
{
	uint32_t si = set_index((struct kt_ipset_db *)db, set, false), c = 0;
	for (uint32_t i = 0; si != KT_NONE && i < db->n_m; i++)
		c += db->m[i].set == si;
	return c;
}

bool kt_ipset_has(const struct kt_ipset_db *db, const char *set, const char *key)
{
	return has(db, set_index((struct kt_ipset_db *)db, set, false), key);
}

/* Members of set (in dump order) into out[] (pointers into the db). */
uint32_t kt_ipset_members(const struct kt_ipset_db *db, const char *set, const char **out, uint32_t max)
{
	uint32_t si = set_index((struct kt_ipset_db *)db, set, false), c = 0;
	for (uint32_t i = 0; si != KT_NONE && i < db->n_m && c < max; i++)
		if (db->m[i].set == si)
			out[c++] = db->pool + db->m[i].off;
	return c;
}

const char *kt_ipset_type(const struct kt_ipset_db *db, const char *set)
{
	uint32_t si = set_index((struct kt_ipset_db *)db, set, false);
	return si == KT_NONE ? NULL : db->types[si];
}

bool kt_ipset_bound(const struct kt_ipset_db *db, const char *ip)
{
	size_t l = strlen(ip);
	for (uint32_t i = 0; i < db->n_addrs; i++)
		if (strncmp(db->addrs[i], ip, l) == 0 && db->addrs[i][l] == '/')
			return true;
	return false;
}

bool kt_ipset_link(const struct kt_ipset_db *db)
{
	return db->link_index != 0;
}

/* ---- decoding (libnl policies) --------------------------------------- */

static const struct nla_policy cmd_policy[IPSET_ATTR_CMD_MAX + 1] = {
	[IPSET_ATTR_PROTOCOL] = {.type = NLA_U8},
	[IPSET_ATTR_SETNAME] = {.type = NLA_STRING, .maxlen = IPSET_MAXNAMELEN},
	[IPSET_ATTR_TYPENAME] = {.type = NLA_STRING, .maxlen = IPSET_MAXNAMELEN},
	[IPSET_ATTR_DATA] = {.type = NLA_NESTED},
	[IPSET_ATTR_ADT] = {.type = NLA_NESTED},
};
static const struct nla_policy entry_policy[IPSET_ATTR_ADT_MAX + 1] = {
	[IPSET_ATTR_IP] = {.type = NLA_NESTED},
	[IPSET_ATTR_CIDR] = {.type = NLA_U8},
	[IPSET_ATTR_PORT] = {.type = NLA_U16},
	[IPSET_ATTR_PROTO] = {.type = NLA_U8},
	[IPSET_ATTR_IP2] = {.type = NLA_NESTED},
	[IPSET_ATTR_CIDR2] = {.type = NLA_U8},
};
static const struct nla_policy ip_policy[IPSET_ATTR_IPADDR_MAX + 1] = {
	[IPSET_ATTR_IPADDR_IPV4] = {.type = NLA_U32},
	[IPSET_ATTR_IPADDR_IPV6] = {.type = NLA_UNSPEC, .minlen = 16},
};

static bool ip_of(struct nlattr *a, char *out, size_t n)
{
	out[0] = 0;
	struct nlattr *in[IPSET_ATTR_IPADDR_MAX + 1];
	if (!a || nla_parse_nested(in, IPSET_ATTR_IPADDR_MAX, a, ip_policy) < 0)
		return false;
	if (in[IPSET_ATTR_IPADDR_IPV4])
		return inet_ntop(AF_INET, nla_data(in[IPSET_ATTR_IPADDR_IPV4]), out, (socklen_t)n) != NULL;
	if (in[IPSET_ATTR_IPADDR_IPV6])
		return inet_ntop(AF_INET6, nla_data(in[IPSET_ATTR_IPADDR_IPV6]), out, (socklen_t)n) != NULL;
	return false;
}

static const char *proto_lc(uint8_t p, char *buf, size_t n)
{
	switch (p) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 132:
		return "sctp";
	case 1:
		return "icmp";
	case 58:
		return "icmpv6";
	default:
		snprintf(buf, n, "%u", p);
		return buf;
	}
}

/* One entry (IPSET_ATTR_DATA inside IPSET_ATTR_ADT) as Entry.String(). */
static void entry_string(struct nlattr *data, char *out, size_t n)
{
	struct nlattr *a[IPSET_ATTR_ADT_MAX + 1];
	out[0] = 0;
	if (nla_parse_nested(a, IPSET_ATTR_ADT_MAX, data, entry_policy) < 0)
		return;
	char ip[64], ip2[64], pb[8];
	size_t o = 0;
	bool have_ip = ip_of(a[IPSET_ATTR_IP], ip, sizeof(ip));
	bool have_port = a[IPSET_ATTR_PORT] != NULL;
	uint16_t port = have_port ? ntohs(nla_get_u16(a[IPSET_ATTR_PORT])) : 0;
	if (have_ip) {
		o += (size_t)snprintf(out + o, n - o, "%s", ip);
		if (a[IPSET_ATTR_CIDR] && o < n) {
			uint8_t c = nla_get_u8(a[IPSET_ATTR_CIDR]);
			if (c != (strchr(ip, ':') ? 128 : 32))
				o += (size_t)snprintf(out + o, n - o, "/%u", c);
		}
	}
	if (have_port && o < n) {
		if (have_ip) {
			uint8_t pr = a[IPSET_ATTR_PROTO] ? nla_get_u8(a[IPSET_ATTR_PROTO]) : 0;
			o += (size_t)snprintf(out + o, n - o, ",%s:%u", proto_lc(pr, pb, sizeof(pb)), port);
		} else {
			o += (size_t)snprintf(out + o, n - o, "%u", port);
		}
	}
	if (ip_of(a[IPSET_ATTR_IP2], ip2, sizeof(ip2)) && o < n) {
		o += (size_t)snprintf(out + o, n - o, ",%s", ip2);
		if (a[IPSET_ATTR_CIDR2] && o < n)
			o += (size_t)snprintf(out + o, n - o, "/%u", nla_get_u8(a[IPSET_ATTR_CIDR2]));
	}
	if (o >= n)
		out[n - 1] = 0;
}

/* One IPSET_CMD_LIST reply message: a set's name, type and members. */
static int ipset_msg(struct nl_msg *msg, void *ctx)
{
	struct kt_ipset_db *db = ctx;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *top[IPSET_ATTR_CMD_MAX + 1];
	if (h->nlmsg_type != ((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST) ||
	    !nlmsg_valid_hdr(h, sizeof(struct nfgenmsg)))
		return 0;
	db->have_sets = true;
	if (nlmsg_parse(h, sizeof(struct nfgenmsg), top, IPSET_ATTR_CMD_MAX, cmd_policy) < 0 ||
	    !top[IPSET_ATTR_SETNAME])
		return 0;
	const char *name = nla_get_string(top[IPSET_ATTR_SETNAME]);
	if (strncmp(name, "KUBE-", 5) != 0)
		return 0; /* other owners' sets (Calico, firewalls) can be large: skip */
	uint32_t si = set_index(db, name, true);
	if (top[IPSET_ATTR_TYPENAME])
		snprintf(db->types[si], sizeof(db->types[si]), "%s", nla_get_string(top[IPSET_ATTR_TYPENAME]));
	if (!top[IPSET_ATTR_ADT])
		return 0;
	struct nlattr *e;
	int rem;
	nla_for_each_nested(e, top[IPSET_ATTR_ADT], rem) {
		if (nla_type(e) != IPSET_ATTR_DATA)
			continue;
		char key[192];
		entry_string(e, key, sizeof(key));
		if (key[0])
			add_member(db, si, key);
	}
	return 0;
}

int kt_ipset_decode(struct kt_ipset_db *db, const void *buf, size_t len)
{
	return kt_nl_feed(NETLINK_NETFILTER, buf, len, ipset_msg, db, NULL) == -EPROTO ? -1 : 0;
}

/* libnl-route's link and address objects of one RTM_NEWLINK/RTM_NEWADDR
 * message (nl_msg_parse): kube-ipvs0's index, then its addresses. */
struct rt_ctx {
	struct kt_ipset_db *db;
	const char *ifname;
};

static void rt_obj(struct nl_object *obj, void *arg)
{
	struct rt_ctx *c = arg;
	struct kt_ipset_db *db = c->db;
	const char *type = nl_object_get_type(obj);
	if (type && !strcmp(type, "route/link")) {
		struct rtnl_link *l = (struct rtnl_link *)obj;
		const char *name = rtnl_link_get_name(l);
		if (name && !strcmp(name, c->ifname) && rtnl_link_get_ifindex(l) > 0)
			db->link_index = rtnl_link_get_ifindex(l);
		return;
	}
	if (!type || strcmp(type, "route/addr") != 0 || !db->link_index)
		return;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int fam = rtnl_addr_get_family(a);
	char ip[INET6_ADDRSTRLEN];
	if (rtnl_addr_get_ifindex(a) != db->link_index || !local || (fam != AF_INET && fam != AF_INET6) ||
	    nl_addr_get_len(local) < (fam == AF_INET6 ? 16u : 4u) ||
	    !inet_ntop(fam, nl_addr_get_binary_addr(local), ip, sizeof(ip)))
		return;
	if (db->n_addrs >= MAX_ADDRS) {
		db->capped = true;
		return;
	}
	if (db->n_addrs == db->cap_addrs)
		db->addrs = xgrow(db->addrs, &db->cap_addrs, sizeof(*db->addrs));
	snprintf(db->addrs[db->n_addrs++], sizeof(db->addrs[0]), "%s/%u", ip, rtnl_addr_get_prefixlen(a));
}

static int rt_msg(struct nl_msg *msg, void *ctx)
{
	uint16_t t = nlmsg_hdr(msg)->nlmsg_type;
	if (t != RTM_NEWLINK && t != RTM_NEWADDR)
		return 0;
	nlmsg_set_proto(msg, NETLINK_ROUTE);
	nl_msg_parse(msg, rt_obj, ctx); /* a message libnl-route rejects is skipped */
	return 0;
}

/* RTM_NEWLINK (find kube-ipvs0) and RTM_NEWADDR (its addresses) messages. */
int kt_rtaddr_decode(struct kt_ipset_db *db, const void *buf, size_t len, const char *ifname)
{
	struct rt_ctx c = {db, ifname};
	return kt_nl_feed(NETLINK_ROUTE, buf, len, rt_msg, &c, NULL) == -EPROTO ? -1 : 0;
}

/* ---- live ----------------------------------------------------------- */

static struct nl_msg *dump_req(int type, const void *hdr, size_t hlen)
{
	struct nl_msg *m = nlmsg_alloc_simple(type, NLM_F_REQUEST | NLM_F_DUMP);
	if (!m || nlmsg_append(m, (void *)hdr, hlen, NLMSG_ALIGNTO) < 0)
		kt_oom();
	return m;
}

int kt_ipset_read(struct kt_snapshot *snap, struct kt_ipset_db *db, bool sets)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_ROUTE, NULL, err, sizeof(err));
	if (nl) {
		struct ifinfomsg ifi = {0};
		struct rt_ctx c = {db, "kube-ipvs0"};
		struct nl_msg *req = dump_req(RTM_GETLINK, &ifi, sizeof(ifi));
		if (kt_nl_request(nl, req, rt_msg, NULL, &c, err, sizeof(err)) != 0) {
			kt_snapshot_gap(snap, "kube-ipvs0", "link dump: %s", err);
		} else if (db->link_index) {
			struct ifaddrmsg ifa = {0};
			nlmsg_free(req);
			req = dump_req(RTM_GETADDR, &ifa, sizeof(ifa));
			if (kt_nl_request(nl, req, rt_msg, NULL, &c, err, sizeof(err)) != 0)
				kt_snapshot_gap(snap, "kube-ipvs0", "address dump: %s", err);
		}
		nlmsg_free(req);
		kt_nl_close(nl);
	}
	if (!sets && !db->link_index)
		return 0; /* no IPVS mode here: leave the ipsets alone */
	nl = kt_nl_open(NETLINK_NETFILTER, NULL, err, sizeof(err));
	if (!nl)
		return -1;
	struct nfgenmsg g = {.nfgen_family = AF_INET, .version = NFNETLINK_V0};
	struct nl_msg *req = dump_req((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST, &g, sizeof(g));
	/* IPSET_PROTOCOL_MIN: every kernel answers it */
	if (nla_put_u8(req, IPSET_ATTR_PROTOCOL, KT_IPSET_PROTOCOL) < 0)
		kt_oom();
	int rc = kt_nl_request(nl, req, ipset_msg, NULL, db, err, sizeof(err));
	nlmsg_free(req);
	kt_nl_close(nl);
	if (rc != 0 && rc != -ENOENT && rc != -EPROTONOSUPPORT && rc != -EOPNOTSUPP) {
		kt_snapshot_gap(snap, "ipsets", "%s", err);
		return -1;
	}
	if (db->capped)
		kt_snapshot_gap(snap, "ipsets", "member or address cap hit; state is incomplete");
	return 0;
}

/* ---- folding into the IPVS services --------------------------------- */

static void ev(struct kt_snapshot *snap, struct kt_dp_service *s, const char *table, const char *chain,
	       const char *key)
{
	kt_dpbuild_ev(snap, s, KT_DP_IPVS, table, chain, 0, key);
}

/* IPv6 services use kube-proxy's "KUBE-6-" twins of every set. */
static const char *sname(bool v6, const char *set, char *buf, size_t n)
{
	if (!v6)
		return set;
	snprintf(buf, n, "KUBE-6-%s", set + 5);
	return buf;
}

static bool in_set(struct kt_snapshot *snap, struct kt_dp_service *s, const struct kt_ipset_db *db, bool v6,
		   const char *set4, const char *key)
{
	char b[64];
	const char *set = sname(v6, set4, b, sizeof(b));
	if (!kt_ipset_has(db, set, key))
		return false;
	ev(snap, s, "ipset", set, key);
	return true;
}

/* Without API objects: the kind of a virtual service from the set
 * kube-proxy put its address and port into. */
static void classify(struct kt_dp_service *s, const struct kt_ipset_db *db, bool v6, const char *p)
{
	bool any_int = false;
	for (uint32_t k = 0; k < s->n_fe; k++) {
		struct kt_dp_frontend *f = &s->fe[k];
		if (!f->kind_guessed)
			continue;
		char key[256], port[16], b[64];
		snprintf(key, sizeof(key), "%s,%s:%d", f->ip, p, f->port);
		snprintf(port, sizeof(port), "%d", f->port);
		const char *np = strcmp(p, "udp") == 0 ? "KUBE-NODE-PORT-UDP" : "KUBE-NODE-PORT-TCP";
		const char *npl = strcmp(p, "udp") == 0 ? "KUBE-NODE-PORT-LOCAL-UDP" : "KUBE-NODE-PORT-LOCAL-TCP";
		if (kt_ipset_has(db, sname(v6, "KUBE-CLUSTER-IP", b, sizeof(b)), key))
			f->kind = KT_FE_CLUSTERIP;
		else if (kt_ipset_has(db, sname(v6, "KUBE-LOAD-BALANCER", b, sizeof(b)), key) ||
			 kt_ipset_has(db, sname(v6, "KUBE-LOAD-BALANCER-LOCAL", b, sizeof(b)), key))
			f->kind = KT_FE_LOADBALANCER;
		else if (kt_ipset_has(db, sname(v6, "KUBE-EXTERNAL-IP", b, sizeof(b)), key) ||
			 kt_ipset_has(db, sname(v6, "KUBE-EXTERNAL-IP-LOCAL", b, sizeof(b)), key))
			f->kind = KT_FE_EXTERNALIP;
		else if (kt_ipset_has(db, sname(v6, np, b, sizeof(b)), port) ||
			 kt_ipset_has(db, sname(v6, npl, b, sizeof(b)), port))
			f->kind = KT_FE_NODEPORT;
		else
			continue;
		f->kind_guessed = false;
		f->external = f->kind != KT_FE_CLUSTERIP;
	}
	for (uint32_t k = 0; k < s->n_fe; k++)
		any_int |= !s->fe[k].external;
	if (!any_int && s->n_be && !s->n_ext_be) {
		/* only external frontends: the real servers are the external set */
		s->ext_be = s->be;
		s->n_ext_be = s->n_be;
		s->be = NULL;
		s->n_be = 0;
	}
}

/* One IPVS service against every kube-proxy set that can name it, in
 * the order kube-proxy's syncProxyRules writes them (about 120 lines: one
 * short block per set). */
static void fold_one(struct kt_snapshot *snap, struct kt_dp_node *n, struct kt_dp_service *s,
		     const struct kt_ipset_db *db, const char **scratch, uint32_t nscratch)
{
	char pb[8], key[256];
	const char *p = proto_lc(strcmp(s->protocol, "UDP") == 0 ? 17 : strcmp(s->protocol, "SCTP") == 0 ? 132 : 6,
				 pb, sizeof(pb));
	bool masq = false, local = false, any = false;
	uint32_t n_fe = s->n_fe;
	bool v6 = false;
	for (uint32_t k = 0; k < n_fe; k++)
		v6 |= s->fe[k].ip && strchr(s->fe[k].ip, ':') != NULL;
	for (uint32_t b = 0; b < s->n_be && !v6; b++)
		v6 = strchr(s->be[b].ip, ':') != NULL;
	if (s->names_guessed)
		classify(s, db, v6, p);
	for (uint32_t k = 0; k < n_fe; k++) {
		const struct kt_dp_frontend *f = &s->fe[k];
		snprintf(key, sizeof(key), "%s,%s:%d", f->ip ? f->ip : "", p, f->port);
		bool vip = f->kind != KT_FE_NODEPORT && f->kind != KT_FE_HEALTHCHECK && f->ip && f->ip[0];
		if (vip && kt_ipset_link(db)) {
			char a[80];
			snprintf(a, sizeof(a), "%s/%d", f->ip, strchr(f->ip, ':') ? 128 : 32);
			if (kt_ipset_bound(db, f->ip))
				ev(snap, s, "link", "kube-ipvs0", a);
			else if (f->kind == KT_FE_CLUSTERIP)
				kt_dpbuild_note(snap, n,
					    "ipvs: %s:%d (%s/%s) is not bound to kube-ipvs0: the node does not accept "
					    "traffic for it",
					    f->ip, f->port, s->namespace, s->name);
		}
		switch (f->kind) {
		case KT_FE_CLUSTERIP:
			any |= in_set(snap, s, db, v6, "KUBE-CLUSTER-IP", key);
			break;
		case KT_FE_EXTERNALIP:
			if (in_set(snap, s, db, v6, "KUBE-EXTERNAL-IP", key))
				any = masq = true;
			if (in_set(snap, s, db, v6, "KUBE-EXTERNAL-IP-LOCAL", key))
				any = local = true;
			break;
		case KT_FE_LOADBALANCER: {
			bool lb = in_set(snap, s, db, v6, "KUBE-LOAD-BALANCER", key);
			bool ll = in_set(snap, s, db, v6, "KUBE-LOAD-BALANCER-LOCAL", key);
			any |= lb || ll;
			local |= ll;
			masq |= lb && !ll;
			if (in_set(snap, s, db, v6, "KUBE-LOAD-BALANCER-FW", key)) {
				any = true;
				size_t kl = strlen(key);
				char b[64];
				const char *sc = sname(v6, "KUBE-LOAD-BALANCER-SOURCE-CIDR", b, sizeof(b));
				uint32_t c = kt_ipset_members(db, sc, scratch, nscratch);
				for (uint32_t i = 0; i < c; i++)
					if (strncmp(scratch[i], key, kl) == 0 && scratch[i][kl] == ',') {
						ev(snap, s, "ipset", sc, scratch[i]);
						kt_dpbuild_fe_range(snap, s, &s->fe[k], scratch[i] + kl + 1);
					}
			}
			break;
		}
		case KT_FE_NODEPORT: {
			char port[16], np[40], npl[48];
			snprintf(port, sizeof(port), "%d", f->port);
			bool sctp = strcmp(p, "sctp") == 0;
			bool in = false, il = false;
			if (sctp) {
				/* hash:ip,port sets keyed by node IP */
				snprintf(np, sizeof(np), ",sctp:%d", f->port);
				static const char *sets[2] = {"KUBE-NODE-PORT-SCTP-HASH", "KUBE-NODE-PORT-LOCAL-SCTP-HASH"};
				for (int w = 0; w < 2; w++) {
					char b[64];
					const char *sw = sname(v6, sets[w], b, sizeof(b));
					uint32_t c = kt_ipset_members(db, sw, scratch, nscratch);
					for (uint32_t i = 0; i < c; i++) {
						size_t l = strlen(scratch[i]), pl = strlen(np);
						if (l > pl && strcmp(scratch[i] + l - pl, np) == 0) {
							ev(snap, s, "ipset", sw, scratch[i]);
							*(w ? &il : &in) = true;
						}
					}
				}
			} else {
				snprintf(np, sizeof(np), "KUBE-NODE-PORT-%s", strcmp(p, "udp") == 0 ? "UDP" : "TCP");
				snprintf(npl, sizeof(npl), "KUBE-NODE-PORT-LOCAL-%s", strcmp(p, "udp") == 0 ? "UDP" : "TCP");
				in = in_set(snap, s, db, v6, np, port);
				il = in_set(snap, s, db, v6, npl, port);
			}
			any |= in || il;
			local |= il;
			masq |= in && !il;
			break;
		}
		default:
			break;
		}
	}
	/* hairpin: a Pod reaching itself through the Service is masqueraded */
	for (uint32_t b = 0; b < s->n_be; b++) {
		snprintf(key, sizeof(key), "%s,%s:%d,%s", s->be[b].ip, p, s->be[b].port, s->be[b].ip);
		any |= in_set(snap, s, db, v6, "KUBE-LOOP-BACK", key);
	}
	/* health-check NodePort (no virtual service exists for it) */
	uint32_t si = snap->finished ? kt_find_service(snap, s->namespace, s->name) : KT_NONE;
	if (si != KT_NONE && snap->services[si].health_check_node_port > 0) {
		char port[16];
		snprintf(port, sizeof(port), "%d", snap->services[si].health_check_node_port);
		bool have = false;
		for (uint32_t k = 0; k < s->n_fe; k++)
			have |= s->fe[k].kind == KT_FE_HEALTHCHECK;
		if (!have && in_set(snap, s, db, v6, "KUBE-HEALTH-CHECK-NODE-PORT", port))
			kt_dpbuild_fe(snap, s, KT_FE_HEALTHCHECK, "", snap->services[si].health_check_node_port, true);
	}
	if (!any)
		return;
	s->local_only = local;
	s->masquerade = masq;
	if (local)
		for (uint32_t a = 0; a < s->n_ext_be; a++) {
			s->ext_be[a].local = true;
			for (uint32_t b = 0; b < s->n_be; b++)
				if (s->be[b].port == s->ext_be[a].port && strcmp(s->be[b].ip, s->ext_be[a].ip) == 0)
					s->be[b].local = true;
		}
}

void kt_ipset_fold(struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t first, const struct kt_ipset_db *db)
{
	if (!db->link_index && !db->n_m)
		return;
	uint32_t nscratch = 65536;
	const char **scratch = kt_xreallocarray(NULL, nscratch, sizeof(*scratch));
	for (uint32_t i = first; i < n->n_svcs; i++)
		if (n->svcs[i].mode == KT_DP_IPVS)
			fold_one(snap, n, &n->svcs[i], db, scratch, nscratch);
	free(scratch);
	/* VIPs bound to kube-ipvs0 that no virtual service serves */
	for (uint32_t a = 0; a < db->n_addrs; a++) {
		bool used = false;
		const char *ad = db->addrs[a];
		size_t l = strcspn(ad, "/");
		for (uint32_t i = first; i < n->n_svcs && !used; i++)
			for (uint32_t k = 0; k < n->svcs[i].n_fe && !used; k++) {
				const char *ip = n->svcs[i].fe[k].ip;
				used = ip && strlen(ip) == l && strncmp(ip, ad, l) == 0;
			}
		if (!used)
			kt_dpbuild_note(snap, n, "ipvs: %s is bound to kube-ipvs0 but no IPVS virtual service uses it", ad);
	}
}
