/* SPDX-License-Identifier: ISC */
/*
 * test_dovecot_proto.c - dovecot_proto.c: the lines relais sends (hello,
 * AUTH with and without the optional fields, refused credentials),
 * tab-escaping both ways, and the server's side fed to the machine
 * whole, byte by byte and in odd pieces: handshakes of Dovecot 2.3 and
 * 2.4, OK with and without user=, nologin and proxy, FAIL and
 * temp_fail, other requests' answers, and everything that is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/dovecot_proto.h"

/* what Dovecot 2.3 sends at once, after our VERSION */
#define HS	"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n" \
		"MECH\tLOGIN\tplaintext\nSPID\t1234\nCUID\t7\n" \
		"COOKIE\t0123456789abcdef0123456789abcdef\nDONE\n"

static struct dovecot_client *
client(void)
{
	static struct dovecot_client c;

	dovecot_client_init(&c, 1);
	return &c;
}

/* feed - all of s; the results other than MORE, in order, into r[] */
static size_t
feed(struct dovecot_client *c, const char *s, size_t n, size_t step,
    enum dovecot_result *r, size_t rmax)
{
	size_t nr = 0, off = 0;

	while (off < n) {
		size_t chunk = n - off < step ? n - off : step, used = 0;
		enum dovecot_result res;

		while (chunk > 0) {
			res = dovecot_client_input(c, s + off, chunk, &used);
			assert_true(used <= chunk);
			if (res != DOVECOT_MORE) {
				assert_true(nr < rmax);
				r[nr++] = res;
			} else {
				assert_int_equal(used, chunk);
			}
			off += used;
			chunk -= used;
		}
	}
	return nr;
}

static enum dovecot_result
run(struct dovecot_client *c, const char *s)
{
	enum dovecot_result r[4];
	size_t n = feed(c, s, strlen(s), strlen(s) + 1, r, 4);

	return n == 0 ? DOVECOT_MORE : r[n - 1];
}

static void
test_hello(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(dovecot_proto_hello(&b, 4242), 0);
	assert_string_equal(buf_cstr(&b), "VERSION\t1\t2\nCPID\t4242\n");
	buf_fini(&b);
}

static void
test_auth_line(void **state)
{
	struct dovecot_auth_req req = { .user = "alice@example.test",
	    .pass = "secret", .rip = "192.0.2.1", .lip = "127.0.0.1",
	    .secured = true, .session = 99 };
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(dovecot_proto_auth(&b, 7, &req), 0);
	/* base64 of "\0alice@example.test\0secret" */
	assert_string_equal(buf_cstr(&b), "AUTH\t7\tPLAIN\tservice=smtp\t"
	    "nologin\tno-penalty\tsession=relais-99\tlip=127.0.0.1\trip=192.0.2.1\t"
	    "secured\tresp=AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\n");
	buf_reset(&b);

	/* nothing optional: no session, addresses, secured */
	req = (struct dovecot_auth_req){ .user = "u", .pass = "p" };
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), 0);
	assert_string_equal(buf_cstr(&b), "AUTH\t1\tPLAIN\tservice=smtp\t"
	    "nologin\tno-penalty\tresp=AHUAcA==\n");
	buf_reset(&b);

	/* an address with a TAB (never from relais) is escaped */
	req = (struct dovecot_auth_req){ .user = "u", .pass = "p",
	    .rip = "a\tb" };
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), 0);
	assert_non_null(strstr(buf_cstr(&b), "\trip=a\001tb\t"));
	buf_fini(&b);
}

static void
test_auth_refused(void **state)
{
	char big[SASL_FIELD_MAX + 2];
	struct dovecot_auth_req req = { .user = "u", .pass = "p" };
	struct buf b;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 0);
	req.user = "";
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), -1);
	req.user = NULL;
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), -1);
	req.user = "u";
	req.pass = "";
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), -1);
	req.pass = big;
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), -1);
	big[SASL_FIELD_MAX] = '\0';	/* exactly the limit: fine */
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), 0);
	buf_fini(&b);

	/* a full buffer */
	buf_init(&b, 16);
	req.pass = "p";
	assert_int_equal(dovecot_proto_auth(&b, 1, &req), -1);
	buf_fini(&b);
}

static void
test_escape(void **state)
{
	char out[32];
	size_t n;
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(dovecot_proto_escape(&b, "a\tb\001c\rd\ne"), 0);
	assert_string_equal(buf_cstr(&b), "a\001tb\0011c\001rd\001ne");
	assert_int_equal(dovecot_proto_unescape(b.data, b.len, out,
	    sizeof(out), &n), 0);
	assert_int_equal(n, 9);
	assert_string_equal(out, "a\tb\001c\rd\ne");
	buf_fini(&b);

	assert_int_equal(dovecot_proto_unescape("x\0010y", 4, out,
	    sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "x\0y", 3);
	/* unknown escapes give the character; a trailing \001 stays */
	assert_int_equal(dovecot_proto_unescape("\001q\001", 3, out,
	    sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "q\001", 2);
	/* room: 3 octets and the NUL */
	assert_int_equal(dovecot_proto_unescape("abc", 3, out, 4, &n), 0);
	assert_int_equal(dovecot_proto_unescape("abcd", 4, out, 4, &n), -1);
	assert_int_equal(dovecot_proto_unescape("", 0, out, 0, &n), -1);
}

static void
test_handshake(void **state)
{
	struct dovecot_client *c = client();
	enum dovecot_result r[4];
	size_t used;

	(void)state;
	assert_int_equal(run(c, HS), DOVECOT_READY);
	assert_int_equal(c->state, DOVECOT_S_WAIT);

	/* byte by byte and in pieces of 7: the same */
	for (size_t step = 1; step < 12; step += 6) {
		c = client();
		assert_int_equal(feed(c, HS, strlen(HS), step, r, 4), 1);
		assert_int_equal(r[0], DOVECOT_READY);
	}

	/* the answer in the same read as DONE: used stops after DONE */
	c = client();
	assert_int_equal(dovecot_client_input(c, HS "OK\t1\tuser=a\n",
	    strlen(HS) + 12, &used), DOVECOT_READY);
	assert_int_equal(used, strlen(HS));
	assert_int_equal(dovecot_client_input(c, "OK\t1\tuser=a\n", 12,
	    &used), DOVECOT_OK);
	assert_int_equal(used, 12);

	/* Dovecot 2.4: a higher minor, MECH without parameters, lower
	   case, unknown lines */
	c = client();
	assert_int_equal(run(c, "VERSION\t1\t3\nSPID\t9\nMECH\tplain\n"
	    "FOO\tbar\nDONE\n"), DOVECOT_READY);

	/* not yet done */
	c = client();
	assert_int_equal(run(c, "VERSION\t1\t2\nMECH\tPLAIN\nDON"),
	    DOVECOT_MORE);
	assert_int_equal(run(c, "E\n"), DOVECOT_READY);
}

static void
test_handshake_errors(void **state)
{
	static const struct {
		const char *in, *error;
	} cases[] = {
		{ "220 mail.example LMTP ready\n", "not a Dovecot auth-client "
		  "socket: no VERSION line" },
		{ "SPID\t1\nVERSION\t1\t2\n", "not a Dovecot auth-client "
		  "socket: no VERSION line" },
		{ "VERSION\t2\t0\n", "unsupported protocol major version "
		  "(want 1)" },
		{ "VERSION\n", "bad VERSION line" },
		{ "VERSION\tx\t1\n", "bad VERSION line" },
		{ "VERSION\t99999999999\t1\n", "bad VERSION line" },
		{ "VERSION\t1\t2\nMECH\tLOGIN\nMECH\tCRAM-MD5\nDONE\n",
		  "Dovecot does not offer PLAIN (auth_mechanisms)" },
		{ "VERSION\t1\t2\nMECH\nDONE\n",
		  "Dovecot does not offer PLAIN (auth_mechanisms)" },
		{ "VERSION\t1\t2\nMECH\tPL\0AIN\n", "NUL octet from the server" },
	};
	struct dovecot_client *c;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);

		if (strstr(cases[i].in, "MECH\tPL") != NULL)
			n = 24;		/* past the NUL */
		c = client();
		assert_int_equal(dovecot_client_input(c, cases[i].in, n,
		    &used), DOVECOT_ERROR);
		assert_string_equal(c->error, cases[i].error);
		/* done: nothing more comes out */
		assert_int_equal(dovecot_client_input(c, HS, strlen(HS),
		    &used), DOVECOT_MORE);
		assert_int_equal(used, strlen(HS));
		assert_int_equal(dovecot_client_eof(c), DOVECOT_MORE);
	}
}

static void
test_line_too_long(void **state)
{
	struct dovecot_client *c = client();
	char *big = malloc(12 + DOVECOT_LINE_MAX + 2);
	size_t used;

	(void)state;
	assert_non_null(big);
	memcpy(big, "VERSION\t1\t2\n", 12);
	memset(big + 12, 'x', DOVECOT_LINE_MAX + 2);
	/* DOVECOT_LINE_MAX octets without the LF: still fine */
	assert_int_equal(dovecot_client_input(c, big, 12 + DOVECOT_LINE_MAX,
	    &used), DOVECOT_MORE);
	assert_int_equal(dovecot_client_input(c, "\n", 1, &used),
	    DOVECOT_MORE);
	/* one more: an error */
	assert_int_equal(dovecot_client_input(c, big + 12,
	    DOVECOT_LINE_MAX + 1, &used), DOVECOT_ERROR);
	assert_string_equal(c->error, "line too long");
	free(big);
}

/* ready - a client past the handshake */
static struct dovecot_client *
ready(void)
{
	struct dovecot_client *c = client();

	assert_int_equal(run(c, HS), DOVECOT_READY);
	return c;
}

static void
test_answers(void **state)
{
	struct dovecot_client *c;

	(void)state;
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=alice@example.test\n"),
	    DOVECOT_OK);
	assert_string_equal(c->user, "alice@example.test");

	/* no user=: the caller keeps the login */
	c = ready();
	assert_int_equal(run(c, "OK\t1\n"), DOVECOT_OK);
	assert_string_equal(c->user, "");

	/* escaped, with other fields around */
	c = ready();
	assert_int_equal(run(c, "OK\t1\tfoo=bar\tuser=a\001tb\tx\n"),
	    DOVECOT_ERROR);		/* a TAB in a name: not printable */
	c = ready();
	assert_int_equal(run(c, "OK\t1\tfoo=bar\tuser=a\0011b\n"),
	    DOVECOT_ERROR);
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=j\001=rg\tpass=x\n"), DOVECOT_OK);
	assert_string_equal(c->user, "j=rg");
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=\n"), DOVECOT_ERROR);
	assert_string_equal(c->error, "bad user= in OK");

	/* credentials right, login refused */
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=a\tnologin\n"), DOVECOT_FAIL);
	assert_string_equal(c->user, "");
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=a\tnologin=Y\treason=go\n"),
	    DOVECOT_FAIL);
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=a\tproxy\thost=192.0.2.9\n"),
	    DOVECOT_FAIL);

	/* refusals */
	c = ready();
	assert_int_equal(run(c, "FAIL\t1\tuser=alice@example.test\n"),
	    DOVECOT_FAIL);
	assert_string_equal(c->user, "");
	c = ready();
	assert_int_equal(run(c, "FAIL\t1\tcode=user_disabled\n"),
	    DOVECOT_FAIL);
	c = ready();
	assert_int_equal(run(c, "FAIL\t1\tcode=temp_fail\treason=SQL "
	    "down \"x\"\n"), DOVECOT_TEMPFAIL);
	assert_string_equal(c->error, "temporary failure: SQL down ?x?");
	c = ready();
	assert_int_equal(run(c, "FAIL\t1\ttemp\n"), DOVECOT_TEMPFAIL);
	assert_string_equal(c->error, "temporary failure");
	/* temp_fail on an OK means nothing */
	c = ready();
	assert_int_equal(run(c, "OK\t1\tuser=a\tcode=temp_fail\n"),
	    DOVECOT_OK);

	/* only our request counts; unknown lines are skipped */
	c = ready();
	assert_int_equal(run(c, "OK\t2\tuser=mallory\nFAIL\t0\nNOTICE\tx\n"
	    "FAIL\t1\n"), DOVECOT_FAIL);

	/* after the answer nothing more */
	assert_int_equal(run(c, "OK\t1\tuser=a\n"), DOVECOT_MORE);
}

static void
test_answer_errors(void **state)
{
	struct dovecot_client *c;

	(void)state;
	c = ready();
	assert_int_equal(run(c, "CONT\t1\tVXNlcm5hbWU6\n"), DOVECOT_ERROR);
	c = ready();
	assert_int_equal(run(c, "OK\n"), DOVECOT_ERROR);
	assert_string_equal(c->error, "reply without a request id");
	c = ready();
	assert_int_equal(run(c, "FAIL\tone\n"), DOVECOT_ERROR);
	c = ready();
	assert_int_equal(run(c, "OK\t4294967296\n"), DOVECOT_ERROR);

	/* closed early */
	c = client();
	assert_int_equal(run(c, "VERSION\t1\t2\n"), DOVECOT_MORE);
	assert_int_equal(dovecot_client_eof(c), DOVECOT_ERROR);
	assert_string_equal(c->error, "connection closed during the "
	    "handshake");
	c = ready();
	assert_int_equal(dovecot_client_eof(c), DOVECOT_ERROR);
	assert_string_equal(c->error, "connection closed before the answer");

	/* a user name that does not fit */
	c = ready();
	{
		char line[SASL_FIELD_MAX + 32];

		snprintf(line, sizeof(line), "OK\t1\tuser=%0*d\n",
		    SASL_FIELD_MAX + 1, 0);
		assert_int_equal(run(c, line), DOVECOT_ERROR);
		c = ready();
		snprintf(line, sizeof(line), "OK\t1\tuser=%0*d\n",
		    SASL_FIELD_MAX, 0);
		assert_int_equal(run(c, line), DOVECOT_OK);
		assert_int_equal(strlen(c->user), SASL_FIELD_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_auth_line),
		cmocka_unit_test(test_auth_refused),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_handshake_errors),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_answer_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
