/* SPDX-License-Identifier: ISC */
/*
 * proxy_proto.h - the PROXY protocol header (HAProxy, versions 1 and 2)
 * that a load balancer sends before the client's first byte, naming the
 * client it relays. Pure: given the octets received so far, it says
 * whether they are a complete header (and its length), a beginning, or
 * not a header at all. No I/O.
 *
 * v2: a 16-octet fixed part (12-octet signature, version 2 with command
 * LOCAL or PROXY, address family and protocol, length) and the
 * addresses; TLVs after them are skipped. A header over PROXY_HDR_MAX
 * octets is refused. v1: one text line "PROXY TCP4|TCP6 SRC DST SPORT
 * DPORT\r\n" or "PROXY UNKNOWN ...\r\n" of at most PROXY_V1_MAX octets,
 * read strictly (single spaces, addresses as inet_pton reads them, ports
 * 0-65535 in decimal without leading zeros).
 */
#ifndef RELAIS_SMTP_PROXY_PROTO_H
#define RELAIS_SMTP_PROXY_PROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PROXY_HDR_MAX	1024	/* octets of a v2 header, TLVs included */
#define PROXY_V1_MAX	107	/* octets of a v1 line, CRLF included */

enum proxy_result {
	PROXY_MORE,		/* a header so far: read more */
	PROXY_BAD,		/* not a valid header (reason given) */
	PROXY_DONE,		/* a complete header */
};

enum proxy_cmd {
	PROXY_CMD_LOCAL,	/* the proxy's own connection (health check):
				   keep the socket's addresses */
	PROXY_CMD_PROXY,	/* relayed for the client named */
};

enum proxy_family {
	PROXY_FAM_UNSPEC,	/* v2 AF_UNSPEC: keep the socket's addresses */
	PROXY_FAM_TCP4,
	PROXY_FAM_TCP6,
	PROXY_FAM_UNKNOWN,	/* v1 UNKNOWN: keep the socket's addresses */
};

struct proxy_hdr {
	int			 version;	/* 1 or 2 */
	enum proxy_cmd		 cmd;
	enum proxy_family	 family;
	size_t			 len;		/* octets of the header */
	/* the client (src) and the address it reached (dst), with their
	   ports; only for TCP4 and TCP6 (zeroed otherwise) */
	struct sockaddr_storage	 src;
	struct sockaddr_storage	 dst;
};

/*
 * proxy_parse - look at the n octets p received so far. PROXY_DONE fills
 * *out (out->len octets are the header; what follows is the client's);
 * PROXY_BAD sets *why to a static reason; PROXY_MORE: nothing is decided
 * yet (n is short of a complete header and of PROXY_HDR_MAX).
 */
enum proxy_result proxy_parse(const uint8_t *p, size_t n,
	    struct proxy_hdr *out, const char **why);

/* proxy_family_name - "TCP4", "TCP6", "UNSPEC", "UNKNOWN" */
const char *proxy_family_name(enum proxy_family f);

#endif
