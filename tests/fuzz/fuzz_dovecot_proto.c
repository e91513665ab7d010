/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dovecot_proto.c - libFuzzer harness for the Dovecot auth client
 * machine (dovecot_proto.c): the input is what a server sends, fed in
 * pieces whose sizes the first octet chooses. Invariants: used never
 * passes what was given; READY comes at most once and before any final
 * result; at most one final result (OK, FAIL, TEMPFAIL, ERROR); an OK's
 * user name is empty or printable and within DOVECOT_USER_MAX; errors
 * carry a message. Then the input's first line, split at NUL, is used
 * as user and password for an AUTH line, and tab-escaping of it must
 * unescape to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dovecot_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dovecot_client fuzz_client;

static void
fuzz_check_result(const struct dovecot_client *c, enum dovecot_result r,
    bool *ready, bool *final)
{
	size_t n;

	switch (r) {
	case DOVECOT_MORE:
		return;
	case DOVECOT_READY:
		if (*ready || *final || c->state != DOVECOT_S_WAIT)
			abort();
		*ready = true;
		return;
	case DOVECOT_OK:
		n = strlen(c->user);
		if (n > DOVECOT_USER_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c->user[i] < 0x20 ||
			    c->user[i] == 0x7f)
				abort();
		/* FALLTHROUGH */
	case DOVECOT_FAIL:
		if (!*ready)
			abort();
		break;
	case DOVECOT_TEMPFAIL:
	case DOVECOT_ERROR:
		if (c->error[0] == '\0')
			abort();
		break;
	}
	if (*final || c->state != DOVECOT_S_DONE)
		abort();
	*final = true;
}

static void
fuzz_auth_line(const char *p, size_t n)
{
	char user[DOVECOT_USER_MAX + 2], pass[SASL_FIELD_MAX + 2], back[600];
	const char *nul = memchr(p, '\0', n);
	size_t ul = nul ? (size_t)(nul - p) : n, pl = nul ? n - ul - 1 : 0;
	struct dovecot_auth_req req = { .user = user, .pass = pass,
	    .rip = user, .secured = (n & 1) != 0, .session = n };
	struct buf b;
	size_t bl;

	if (ul > DOVECOT_USER_MAX + 1 || pl > SASL_FIELD_MAX + 1 ||
	    (nul && memchr(nul + 1, '\0', pl) != NULL))
		return;
	memcpy(user, p, ul);
	user[ul] = '\0';
	if (nul)
		memcpy(pass, nul + 1, pl);
	pass[pl] = '\0';
	buf_init(&b, 0);
	if (dovecot_proto_auth(&b, 1, &req) == 0) {
		if (ul == 0 || ul > DOVECOT_USER_MAX || pl == 0 ||
		    pl > SASL_FIELD_MAX || b.len == 0 ||
		    b.data[b.len - 1] != '\n' ||
		    memchr(b.data, '\n', b.len) != b.data + b.len - 1)
			abort();
	} else if (ul > 0 && ul <= DOVECOT_USER_MAX && pl > 0 &&
	    pl <= SASL_FIELD_MAX) {
		abort();
	}
	buf_reset(&b);
	if (dovecot_proto_escape(&b, user) != 0 ||
	    memchr(b.data ? b.data : "", '\t', b.len) != NULL ||
	    memchr(b.data ? b.data : "", '\n', b.len) != NULL ||
	    dovecot_proto_unescape(b.data ? b.data : "", b.len, back,
	    sizeof(back), &bl) != 0 || bl != ul || memcmp(back, user, ul) != 0)
		abort();
	buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t step, off = 1, used;
	bool ready = false, final = false;
	enum dovecot_result r;
	const char *nl;

	if (size == 0)
		return 0;
	step = (size_t)(data[0] % 64) + 1;
	dovecot_client_init(&fuzz_client, 1);
	while (off < size) {
		size_t chunk = size - off < step ? size - off : step;

		r = dovecot_client_input(&fuzz_client, p + off, chunk, &used);
		if (used > chunk || (r == DOVECOT_MORE && used != chunk))
			abort();
		fuzz_check_result(&fuzz_client, r, &ready, &final);
		off += used;
	}
	r = dovecot_client_eof(&fuzz_client);
	fuzz_check_result(&fuzz_client, r, &ready, &final);
	if (!final)
		abort();

	nl = memchr(p + 1, '\n', size - 1);
	fuzz_auth_line(p + 1, nl ? (size_t)(nl - p - 1) : size - 1);
	return 0;
}
