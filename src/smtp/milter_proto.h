/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.h - the Sendmail milter protocol, version 6, as the MTA
 * side speaks it (libmilter's mfdef.h names; Postfix's milter8 as the
 * model). Pure: packets are built into a struct buf and read from bytes
 * the caller holds; nothing here does I/O.
 *
 * A packet is a 32-bit big-endian length (command octet + data), the
 * command octet, then the data. The MTA sends commands (SMFIC_*), the
 * milter answers with replies (SMFIR_*); option negotiation (SMFIC_OPTNEG
 * both ways) fixes the protocol version, the actions the milter may take
 * (SMFIF_*) and the events it does not want or will not answer (SMFIP_*).
 */
#ifndef RELAIS_SMTP_MILTER_PROTO_H
#define RELAIS_SMTP_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/str.h"

#define MILTER_VERSION		6	/* the version we offer */
#define MILTER_CHUNK_MAX	65535	/* body octets per SMFIC_BODY */
/* the largest packet we accept from a milter (libmilter sends at most
   64 KiB, or 1 MiB with SMFIP_MDS_1M); a larger length is an error */
#define MILTER_PACKET_MAX	(1024 * 1024 + 64)
/* the largest packet we send: a longer header value is cut */
#define MILTER_SEND_MAX		65535

/* commands, MTA to milter */
#define SMFIC_ABORT		'A'
#define SMFIC_BODY		'B'
#define SMFIC_CONNECT		'C'
#define SMFIC_MACRO		'D'
#define SMFIC_BODYEOB		'E'
#define SMFIC_HELO		'H'
#define SMFIC_QUIT_NC		'K'
#define SMFIC_HEADER		'L'
#define SMFIC_MAIL		'M'
#define SMFIC_EOH		'N'
#define SMFIC_OPTNEG		'O'
#define SMFIC_QUIT		'Q'
#define SMFIC_RCPT		'R'
#define SMFIC_DATA		'T'
#define SMFIC_UNKNOWN		'U'

/* replies, milter to MTA */
#define SMFIR_ADDRCPT		'+'
#define SMFIR_DELRCPT		'-'
#define SMFIR_ADDRCPT_PAR	'2'
#define SMFIR_SHUTDOWN		'4'
#define SMFIR_ACCEPT		'a'
#define SMFIR_REPLBODY		'b'
#define SMFIR_CONTINUE		'c'
#define SMFIR_DISCARD		'd'
#define SMFIR_CHGFROM		'e'
#define SMFIR_CONN_FAIL		'f'
#define SMFIR_ADDHEADER		'h'
#define SMFIR_INSHEADER		'i'
#define SMFIR_SETSYMLIST	'l'
#define SMFIR_CHGHEADER		'm'
#define SMFIR_PROGRESS		'p'
#define SMFIR_QUARANTINE	'q'
#define SMFIR_REJECT		'r'
#define SMFIR_SKIP		's'
#define SMFIR_TEMPFAIL		't'
#define SMFIR_REPLYCODE		'y'

/* actions the milter may take (SMFIF_*) */
#define SMFIF_ADDHDRS		0x001u
#define SMFIF_CHGBODY		0x002u
#define SMFIF_ADDRCPT		0x004u
#define SMFIF_DELRCPT		0x008u
#define SMFIF_CHGHDRS		0x010u
#define SMFIF_QUARANTINE	0x020u
#define SMFIF_CHGFROM		0x040u
#define SMFIF_ADDRCPT_PAR	0x080u
#define SMFIF_SETSYMLIST	0x100u

/* protocol: events not to send (NO*), events not answered (NR_*) */
#define SMFIP_NOCONNECT		0x00000001u
#define SMFIP_NOHELO		0x00000002u
#define SMFIP_NOMAIL		0x00000004u
#define SMFIP_NORCPT		0x00000008u
#define SMFIP_NOBODY		0x00000010u
#define SMFIP_NOHDRS		0x00000020u
#define SMFIP_NOEOH		0x00000040u
#define SMFIP_NR_HDR		0x00000080u
#define SMFIP_NOUNKNOWN		0x00000100u
#define SMFIP_NODATA		0x00000200u
#define SMFIP_SKIP		0x00000400u
#define SMFIP_RCPT_REJ		0x00000800u
#define SMFIP_NR_CONN		0x00001000u
#define SMFIP_NR_HELO		0x00002000u
#define SMFIP_NR_MAIL		0x00004000u
#define SMFIP_NR_RCPT		0x00008000u
#define SMFIP_NR_DATA		0x00010000u
#define SMFIP_NR_UNKN		0x00020000u
#define SMFIP_NR_EOH		0x00040000u
#define SMFIP_NR_BODY		0x00080000u
#define SMFIP_HDR_LEADSPC	0x00100000u

/* what we offer: every action but none of the rejected-recipient events
   (SMFIP_RCPT_REJ: relais does not report recipients it refused) */
#define MILTER_OFFER_ACTIONS	(SMFIF_ADDHDRS | SMFIF_CHGBODY | \
	SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGHDRS | SMFIF_QUARANTINE | \
	SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_SETSYMLIST)
#define MILTER_OFFER_PROTOCOL	(SMFIP_NOCONNECT | SMFIP_NOHELO | \
	SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS | \
	SMFIP_NOEOH | SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA | \
	SMFIP_SKIP | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | \
	SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | \
	SMFIP_NR_BODY | SMFIP_HDR_LEADSPC)

/* the stages a milter may ask macros for (SMFIM_*), and our index */
enum milter_stage {
	MILTER_STAGE_CONNECT = 0,
	MILTER_STAGE_HELO = 1,
	MILTER_STAGE_MAIL = 2,
	MILTER_STAGE_RCPT = 3,
	MILTER_STAGE_DATA = 4,
	MILTER_STAGE_EOM = 5,
	MILTER_STAGE_EOH = 6,
	MILTER_STAGE__COUNT
};

/* the address family of SMFIC_CONNECT */
#define SMFIA_UNKNOWN		'U'
#define SMFIA_UNIX		'L'
#define SMFIA_INET		'4'
#define SMFIA_INET6		'6'

/* --- encoding: each appends one whole packet to out ------------------ */

/* milter_enc_optneg - SMFIC_OPTNEG with our version, actions, protocol */
void	milter_enc_optneg(struct buf *out, uint32_t version,
	    uint32_t actions, uint32_t protocol);
/* milter_enc_macros - SMFIC_MACRO for command cmd: names[i]=values[i];
   a NULL value is left out, and so are pairs past MILTER_SEND_MAX.
   Nothing is appended when no pair is left. */
void	milter_enc_macros(struct buf *out, char cmd, const char *const *names,
	    const char *const *values, size_t n);
/* milter_enc_connect - SMFIC_CONNECT: host name, family, port, address */
void	milter_enc_connect(struct buf *out, const char *host, char family,
	    uint16_t port, const char *addr);
/* milter_enc_strings - cmd with n NUL-terminated strings (HELO, MAIL,
   RCPT: address first, then ESMTP parameters), cut to MILTER_SEND_MAX */
void	milter_enc_strings(struct buf *out, char cmd, const char *const *v,
	    size_t n);
/* milter_enc_header - SMFIC_HEADER name, value (value cut to fit) */
void	milter_enc_header(struct buf *out, struct str name, struct str value);
/* milter_enc_body - SMFIC_BODY with at most MILTER_CHUNK_MAX octets */
void	milter_enc_body(struct buf *out, const char *p, size_t n);
/* milter_enc_simple - a command without data (DATA, EOH, EOB, ABORT,
   QUIT) */
void	milter_enc_simple(struct buf *out, char cmd);

/* --- decoding ------------------------------------------------------- */

enum milter_frame {
	MILTER_FRAME_MORE,	/* not a whole packet yet */
	MILTER_FRAME_OK,	/* *cmd, *data, *len, *used set */
	MILTER_FRAME_BAD,	/* length 0 or over MILTER_PACKET_MAX */
};

/* milter_frame - the first packet of p[0..n): its command, data and the
   octets it takes in all */
enum milter_frame milter_frame(const void *p, size_t n, char *cmd,
	    const char **data, size_t *len, size_t *used);

/* what the milter answered to OPTNEG */
struct milter_optneg {
	uint32_t	 version;
	uint32_t	 actions;
	uint32_t	 protocol;
	/* SMFIR_SETSYMLIST lists by stage, slices of the packet (len 0:
	   none given) */
	struct str	 macros[MILTER_STAGE__COUNT];
	bool		 has_macros[MILTER_STAGE__COUNT];
};

/* milter_dec_optneg - the data of the milter's OPTNEG; -1 with *why when
   it is malformed or asks for what we did not offer (version outside
   2..6, actions beyond ours) */
int	milter_dec_optneg(const char *data, size_t len, uint32_t our_actions,
	    struct milter_optneg *out, const char **why);

enum milter_reply_type {
	MILTER_R_CONTINUE,
	MILTER_R_ACCEPT,
	MILTER_R_REJECT,
	MILTER_R_TEMPFAIL,
	MILTER_R_DISCARD,
	MILTER_R_SHUTDOWN,	/* SMFIR_SHUTDOWN or SMFIR_CONN_FAIL: 421 */
	MILTER_R_REPLYCODE,	/* text: a checked SMTP reply */
	MILTER_R_SKIP,
	MILTER_R_PROGRESS,
	MILTER_R_QUARANTINE,	/* text: the reason */
	/* modifications (end of message only) */
	MILTER_R_ADDHEADER,	/* name, value */
	MILTER_R_INSHEADER,	/* index, name, value */
	MILTER_R_CHGHEADER,	/* index, name, value ("" deletes) */
	MILTER_R_ADDRCPT,	/* text: address (args: parameters) */
	MILTER_R_DELRCPT,	/* text: address */
	MILTER_R_CHGFROM,	/* text: address (args: parameters) */
	MILTER_R_REPLBODY,	/* text: a chunk of the new body */
};

/* one decoded reply; every str is a slice of the packet's data */
struct milter_reply {
	enum milter_reply_type type;
	uint32_t	 index;
	struct str	 name;
	struct str	 value;
	struct str	 text;
	struct str	 args;
};

/* milter_dec_reply - one reply packet; -1 with *why if the command is
   unknown or its data malformed (strings not NUL-terminated, data where
   none belongs, a reply code that is not 4XX/5XX). A final decision
   needs no action flag; modifications are checked by the caller. */
int	milter_dec_reply(char cmd, const char *data, size_t len,
	    struct milter_reply *out, const char **why);

/* milter_reply_check - an SMFIR_REPLYCODE text: every line "DDD-" or
   "DDD " with the same code, 4XX or 5XX, an optional enhanced status of
   the same class, printable text; lines end "\r\n" between them.
   Returns the code, or -1. */
int	milter_reply_check(struct str text);

/* milter_reply_smtp - the reply text as relais sends it: a lone '%'
   dropped and "%%" made '%' (Sendmail treats replies as formats), CRLF
   between lines, no final CRLF; cut at max-1 octets */
void	milter_reply_smtp(struct str text, char *out, size_t max);

/* milter_macro_name - one name of a macro list ("j", "{auth_type}")
   taken from *list (blanks and commas between names); false at the end */
bool	milter_macro_name(struct str *list, struct str *name);

/* milter_type_name - "SMFIR_REJECT" etc. for logs */
const char *milter_cmd_name(char cmd);

#endif
