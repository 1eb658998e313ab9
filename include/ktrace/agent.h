/*
 * The ktrace agent's HTTP API as data: the names the DaemonSet, the agent
 * and its clients share, the per-Service digest of a node's dataplane
 * (what makes two nodes' programming "the same"), and the decoders that
 * turn each agent response into model structs. The wire format is
 * documented in ktrace-agent(1); the server lives in cli/agent/, the
 * digest, writers and decoders in collectors/agent/. No library types.
 */
#ifndef KTRACE_AGENT_H
#define KTRACE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/dataplane.h"
#include "ktrace/diag.h"
#include "ktrace/flows.h"
#include "ktrace/model.h"

/* Names fixed by the deployment (deploy/, ktrace-agent(1)). */
#define KT_AGENT_NAMESPACE     "ktrace"
#define KT_AGENT_SECRET        "ktrace-agent-token"
#define KT_AGENT_SECRET_KEY    "token"
#define KT_AGENT_LABEL_KEY     "app.kubernetes.io/name"
#define KT_AGENT_LABEL_VALUE   "ktrace-agent"
#define KT_AGENT_SELECTOR      KT_AGENT_LABEL_KEY "=" KT_AGENT_LABEL_VALUE
#define KT_AGENT_PORT_NAME     "ktrace"
#define KT_AGENT_PORT          10265
#define KT_AGENT_TOKEN_HEADER  "X-Ktrace-Token"
#define KT_AGENT_STATE_HEADER  "X-Ktrace-State"
#define KT_AGENT_NODE_HEADER   "X-Ktrace-Node"

/* Paths (below .../pods/NAME:PORT/proxy when going through the API). */
#define KT_AGENT_PATH_HEALTHZ  "/healthz"
#define KT_AGENT_PATH_METRICS  "/metrics"
#define KT_AGENT_PATH_NODE     "/v1/node"
#define KT_AGENT_PATH_DIGESTS  "/v1/digests"
#define KT_AGENT_PATH_FLOWS    "/v1/flows"
#define KT_AGENT_FLOWS_COMPACT "/v1/flows?form=compact"

/* Caps the agent enforces on every request (and clients respect). */
#define KT_AGENT_MAX_KEYS      256     /* Service keys per /v1/node?keys= */
#define KT_AGENT_MAX_KEY_LEN   320     /* bytes of one "namespace/name" key */
#define KT_AGENT_MAX_TARGET    16384   /* bytes of the request target (path + query) */
#define KT_AGENT_TOKEN_MIN     16      /* token length, bytes */
#define KT_AGENT_TOKEN_MAX     4096

/* Version of the canonical form behind the digests: agents of different
 * versions hash differently, so clients compare digests only between
 * agents reporting the same digestVersion. */
#define KT_AGENT_DIGEST_VERSION 1

/* One node-local endpoint of a Service whose external frontends only reach
 * this node's endpoints (externalTrafficPolicy Local). */
struct kt_agent_local {
	const char *ip;
	int32_t port;
};

/* The digest of one Service (every port and proxy backend of
 * namespace/name) on one node. */
struct kt_agent_digest {
	const char *namespace;   /* "" when the node does not know the name (IPVS/Cilium without API) */
	const char *name;
	uint64_t digest;         /* FNV-1a 64 of the canonical form */
	uint32_t ports;          /* programmed (port, protocol, mode) entries */
	/* externalTrafficPolicy Local: the external backend set is this node's
	 * own endpoints, so it is left out of the digest and listed here
	 * (possibly empty: then external traffic is dropped on this node) */
	bool has_local;
	struct kt_agent_local *local;   /* sorted by (ip, port) */
	uint32_t n_local;
	const char *canonical;   /* the canonical text (only when asked for) */
};

/* Digests of a node state (the /v1/digests answer, decoded). */
struct kt_agent_digests {
	const char *node;
	const char *state_id;    /* 16 hex digits: hash of every digest + local set + modes */
	const char *source;
	const char *agent_version;
	int64_t taken_ms;        /* when the node state was read (unix ms) */
	int digest_version;
	uint32_t modes;          /* bit (1u << kt_dp_mode) per proxy backend seen */
	struct kt_proxy_metrics metrics;  /* kube-proxy's, when readable */
	const char **notes;
	uint32_t n_notes;
	struct kt_gap *gaps;     /* what the agent could not read */
	uint32_t n_gaps;
	struct kt_agent_digest *svcs;    /* sorted by (namespace, name) */
	uint32_t n_svcs;
};

/* ---- digests (pure: no I/O) ---------------------------------------- */

/* Per-Service digests of node n, sorted by (namespace, name), allocated in
 * a. With canonical, each carries its canonical text. Returns the count. */
uint32_t kt_agent_digest_node(const struct kt_dp_node *n, struct kt_arena *a, bool canonical,
			      struct kt_agent_digest **out);
/* The state id of a digest list plus the node's modes: 16 hex digits
 * into buf (17 bytes). Equal ids mean equal digests, local sets and modes. */
const char *kt_agent_state_id(const struct kt_agent_digest *d, uint32_t n, uint32_t modes, char buf[17]);
/* Parse "namespace/name" (namespace may be empty) into its parts
 * (pointers into key, lengths); false when malformed. */
bool kt_agent_key_split(const char *key, size_t len, size_t *ns_len, const char **name, size_t *name_len);

/* ---- decoders (client side) ----------------------------------------
 * Each takes one response body (plain JSON: the transport undoes gzip),
 * bounds every count, and on malformed input returns -KT_EXIT_INPUT with
 * d saying what was wrong. expect_node (may be NULL) is the node the
 * client asked: a body describing another node is an error. */

/* /v1/digests into out; strings in a. */
int kt_agent_decode_digests(const char *body, size_t len, const char *expect_node, struct kt_arena *a,
			    struct kt_agent_digests *out, struct kt_diag *d);
/* /v1/node (with or without keys=): appends one node to snap->dp and the
 * agent's gaps to snap->gaps ("node NAME: what"). */
int kt_agent_decode_node(struct kt_snapshot *snap, const char *body, size_t len, const char *expect_node,
			 struct kt_diag *d);
/* /v1/flows (either form): appends one flow sample to snap->flows (with
 * the sampler's opened counts and byte rates when present: fs->events)
 * and its gaps. */
int kt_agent_decode_flows(struct kt_snapshot *snap, const char *body, size_t len, const char *expect_node,
			  struct kt_diag *d);

/* An error answer: the agent's {"error":{...}}, an API server Status
 * (e.g. 503 "error trying to reach service" when the Pod is unreachable),
 * or other text. */
struct kt_agent_error {
	int code;                /* HTTP status (the body's, else the one given) */
	char reason[64];         /* "Unauthorized", "BadRequest", "StateChanged", "ServiceUnavailable", ... */
	char message[512];       /* one line; may hold text from outside: kt_vis() before printing */
	bool from_agent;         /* the agent's own error shape */
	bool from_apiserver;     /* a Kubernetes Status object */
	char state_id[17];       /* 412 StateChanged: the agent's current state id */
};
void kt_agent_decode_error(const char *body, size_t len, int http_status, struct kt_agent_error *out);

/* ---- writers (server side, shared with the decoders' tests) ---------- */
struct kt_jw;
/* The /v1/digests body. gaps may be NULL. */
void kt_agent_digests_to_json(struct kt_jw *w, const struct kt_dp_node *n, const struct kt_agent_digest *dig,
			      uint32_t n_dig, const char *state_id, int64_t taken_ms, const struct kt_gap *gaps,
			      uint32_t n_gaps, bool canonical);
/* The extra keys the agent adds to a node object or a flow sample, as a
 * JSON object to merge into it: {"gaps":[...]} and, for flows,
 * "sampler":{...} with per-aggregate opened counts and byte rates. */
void kt_agent_extras_to_json(struct kt_jw *w, const struct kt_gap *gaps, uint32_t n_gaps,
			     const struct kt_flow_sample *fs, int64_t interval_ms);
/* The compact form of a flow sample (/v1/flows?form=compact): the
 * sample's header keys, "form":"compact", "fields" (the row layout),
 * "strings" (one string: the addresses, protocols and sources, space-
 * separated), "rows" (one string of numbers, the fields of every
 * aggregate in turn, "-" unknown), "gaps",
 * "sampler" {intervalMs, events, fullDump, capped, elapsedUs}. */
void kt_agent_flows_compact_to_json(struct kt_jw *w, const struct kt_flow_sample *fs, const struct kt_gap *gaps,
				    uint32_t n_gaps, int64_t interval_ms);
/* An error body: {"error":{"code","reason","message"[,"stateId"]}}. */
void kt_agent_error_to_json(struct kt_jw *w, int code, const char *reason, const char *message,
			    const char *state_id);

#endif
