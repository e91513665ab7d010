/* SPDX-License-Identifier: ISC */
/*
 * test_milter_proto.c - milter_proto.c: packets built byte for byte as
 * libmilter reads them (OPTNEG, MACRO, CONNECT, MAIL/RCPT, HEADER, BODY),
 * framing whole and cut, the negotiation answer with and without macro
 * lists, every reply decoded and malformed ones refused, reply codes
 * checked as Postfix does, '%' handled as Sendmail formats them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/milter_proto.h"

#define MEM(s)	(s), sizeof(s) - 1

static void
assert_buf(const struct buf *b, const char *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void
test_encode(void **state)
{
	struct buf b;
	const char *names[] = { "j", "{auth_type}", "i" };
	const char *values[] = { "mx.test", NULL, "QID" };
	const char *argv[] = { "<a@b>", "SIZE=10" };

	(void)state;
	buf_init(&b, 0);
	milter_enc_optneg(&b, 6, 0x1ff, 0x1fffff);
	assert_buf(&b, MEM("\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff"));
	buf_reset(&b);
	milter_enc_macros(&b, 'C', names, values, 3);
	assert_buf(&b, MEM("\0\0\0\x12" "DCj\0mx.test\0i\0QID\0"));
	buf_reset(&b);
	/* no value at all: no packet */
	values[0] = values[2] = NULL;
	milter_enc_macros(&b, 'C', names, values, 3);
	assert_int_equal(b.len, 0);
	milter_enc_connect(&b, "[127.0.0.1]", SMFIA_INET, 25, "127.0.0.1");
	assert_buf(&b, MEM("\0\0\0\x1a" "C[127.0.0.1]\0" "4\0\x19" "127.0.0.1\0"));
	buf_reset(&b);
	milter_enc_connect(&b, "x", SMFIA_UNKNOWN, 0, NULL);
	assert_buf(&b, MEM("\0\0\0\x04" "Cx\0U"));
	buf_reset(&b);
	milter_enc_strings(&b, SMFIC_MAIL, argv, 2);
	assert_buf(&b, MEM("\0\0\0\x0f" "M<a@b>\0SIZE=10\0"));
	buf_reset(&b);
	milter_enc_header(&b, STR("Subject"), STR("hi\nthere"));
	assert_buf(&b, MEM("\0\0\0\x12" "LSubject\0hi\nthere\0"));
	buf_reset(&b);
	milter_enc_body(&b, "abc\r\n", 5);
	assert_buf(&b, MEM("\0\0\0\x06" "Babc\r\n"));
	buf_reset(&b);
	milter_enc_simple(&b, SMFIC_BODYEOB);
	assert_buf(&b, MEM("\0\0\0\x01" "E"));
	buf_fini(&b);
}

static void
test_encode_limits(void **state)
{
	static char big[200000];
	struct buf b;
	char cmd;
	const char *data;
	size_t len, used;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	buf_init(&b, 0);
	milter_enc_body(&b, big, sizeof(big));
	assert_int_equal(b.len, 5 + MILTER_CHUNK_MAX);
	buf_reset(&b);
	milter_enc_header(&b, STR("X-Big"), str_cstr(big));
	assert_true(b.len <= 4 + MILTER_SEND_MAX);
	assert_int_equal(milter_frame(b.data, b.len, &cmd, &data, &len,
	    &used), MILTER_FRAME_OK);
	/* still two NUL-terminated strings */
	assert_int_equal(data[len - 1], '\0');
	assert_string_equal(data, "X-Big");
	buf_fini(&b);
}

static void
test_frame(void **state)
{
	const char pkt[] = "\0\0\0\x02" "cX" "\0\0\0\x01" "a";
	char cmd;
	const char *data;
	size_t len, used;

	(void)state;
	for (size_t n = 0; n < 6; n++)
		assert_int_equal(milter_frame(pkt, n, &cmd, &data, &len, &used),
		    MILTER_FRAME_MORE);
	assert_int_equal(milter_frame(pkt, 6, &cmd, &data, &len, &used),
	    MILTER_FRAME_OK);
	assert_int_equal(cmd, 'c');
	assert_int_equal(len, 1);
	assert_int_equal(data[0], 'X');
	assert_int_equal(used, 6);
	assert_int_equal(milter_frame(MEM("\0\0\0\0c"), &cmd, &data, &len,
	    &used), MILTER_FRAME_BAD);
	assert_int_equal(milter_frame(MEM("\x7f\0\0\0c"), &cmd, &data, &len,
	    &used), MILTER_FRAME_BAD);
}

static void
test_optneg(void **state)
{
	struct milter_optneg o;
	const char *why = NULL;

	(void)state;
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x06\0\0\0\x13"
	    "\0\0\x10\0"), MILTER_OFFER_ACTIONS, &o, &why), 0);
	assert_int_equal(o.version, 6);
	assert_int_equal(o.actions, 0x13);
	assert_int_equal(o.protocol, 0x1000);
	assert_false(o.has_macros[MILTER_STAGE_MAIL]);
	/* with macro lists (SMFIR_SETSYMLIST) */
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x06\0\0\0\0\0\0\0\0"
	    "\0\0\0\x02{mail_addr} i\0" "\0\0\0\x09ignored\0"),
	    MILTER_OFFER_ACTIONS, &o, &why), 0);
	assert_true(o.has_macros[MILTER_STAGE_MAIL]);
	assert_true(str_eq(o.macros[MILTER_STAGE_MAIL], STR("{mail_addr} i")));
	/* refused */
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x06\0\0\0\0"),
	    MILTER_OFFER_ACTIONS, &o, &why), -1);
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x07\0\0\0\0\0\0\0\0"),
	    MILTER_OFFER_ACTIONS, &o, &why), -1);
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x01\0\0\0\0\0\0\0\0"),
	    MILTER_OFFER_ACTIONS, &o, &why), -1);
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x06\0\0\x10\0\0\0\0\0"),
	    MILTER_OFFER_ACTIONS, &o, &why), -1);
	assert_int_equal(milter_dec_optneg(MEM("\0\0\0\x06\0\0\0\0\0\0\0\0"
	    "\0\0\0\x02no-nul"), MILTER_OFFER_ACTIONS, &o, &why), -1);
}

static void
test_replies(void **state)
{
	struct milter_reply r;
	const char *why = NULL;

	(void)state;
	assert_int_equal(milter_dec_reply('c', "", 0, &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_CONTINUE);
	assert_int_equal(milter_dec_reply('a', "", 0, &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_ACCEPT);
	assert_int_equal(milter_dec_reply('f', "", 0, &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_SHUTDOWN);
	assert_int_equal(milter_dec_reply('c', "x", 1, &r, &why), -1);
	assert_int_equal(milter_dec_reply('Z', "", 0, &r, &why), -1);

	assert_int_equal(milter_dec_reply('y', MEM("550 5.7.1 no\0"), &r,
	    &why), 0);
	assert_int_equal(r.type, MILTER_R_REPLYCODE);
	assert_true(str_eq(r.text, STR("550 5.7.1 no")));
	assert_int_equal(milter_dec_reply('y', MEM("250 ok\0"), &r, &why), -1);
	assert_int_equal(milter_dec_reply('y', MEM("550 no"), &r, &why), -1);

	assert_int_equal(milter_dec_reply('h', MEM("X-A\0v\0"), &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_ADDHEADER);
	assert_true(str_eq(r.name, STR("X-A")) && str_eq(r.value, STR("v")));
	assert_int_equal(milter_dec_reply('m', MEM("\0\0\0\x02X-A\0\0"), &r,
	    &why), 0);
	assert_int_equal(r.type, MILTER_R_CHGHEADER);
	assert_int_equal(r.index, 2);
	assert_int_equal(r.value.len, 0);
	assert_int_equal(milter_dec_reply('i', MEM("\0\0"), &r, &why), -1);
	assert_int_equal(milter_dec_reply('h', MEM("X-A\0v"), &r, &why), -1);
	assert_int_equal(milter_dec_reply('h', MEM("X-A\0v\0junk"), &r,
	    &why), -1);

	assert_int_equal(milter_dec_reply('+', MEM("<a@b>\0"), &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_ADDRCPT);
	assert_int_equal(milter_dec_reply('2', MEM("<a@b>\0NOTIFY=NEVER\0"),
	    &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_ADDRCPT);
	assert_true(str_eq(r.args, STR("NOTIFY=NEVER")));
	assert_int_equal(milter_dec_reply('-', MEM("\0"), &r, &why), -1);
	assert_int_equal(milter_dec_reply('e', MEM("<s@b>\0"), &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_CHGFROM);
	assert_int_equal(milter_dec_reply('q', MEM("why\0"), &r, &why), 0);
	assert_int_equal(r.type, MILTER_R_QUARANTINE);
	assert_true(str_eq(r.text, STR("why")));
	assert_int_equal(milter_dec_reply('b', MEM("new\r\nbody"), &r, &why),
	    0);
	assert_int_equal(r.type, MILTER_R_REPLBODY);
	assert_int_equal(r.text.len, 9);
}

static void
test_reply_check(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(milter_reply_check(STR("550 5.7.1 go away")), 550);
	assert_int_equal(milter_reply_check(STR("451 try later")), 451);
	assert_int_equal(milter_reply_check(STR("550")), 550);
	assert_int_equal(milter_reply_check(STR("550-5.7.1 one\r\n"
	    "550 5.7.1 two")), 550);
	assert_int_equal(milter_reply_check(STR("250 ok")), -1);
	assert_int_equal(milter_reply_check(STR("550 4.7.1 class")), -1);
	assert_int_equal(milter_reply_check(STR("550-a\r\n551 b")), -1);
	assert_int_equal(milter_reply_check(STR("550 a\r\n550 b")), -1);
	assert_int_equal(milter_reply_check(STR("550-a")), -1);
	assert_int_equal(milter_reply_check(STR("550 a\r\n")), -1);
	assert_int_equal(milter_reply_check(STR("550 bare\nlf")), -1);
	assert_int_equal(milter_reply_check(STR("55x no")), -1);
	assert_int_equal(milter_reply_check(STR("")), -1);
	milter_reply_smtp(STR("550 100%% sure, 5% not"), out, sizeof(out));
	assert_string_equal(out, "550 100% sure, 5 not");
	milter_reply_smtp(STR("550 abcdef"), out, 6);
	assert_string_equal(out, "550 a");
}

static void
test_macro_names(void **state)
{
	struct str list = STR("  j, {auth_type}\t_  "), n;

	(void)state;
	assert_true(milter_macro_name(&list, &n));
	assert_true(str_eq(n, STR("j")));
	assert_true(milter_macro_name(&list, &n));
	assert_true(str_eq(n, STR("{auth_type}")));
	assert_true(milter_macro_name(&list, &n));
	assert_true(str_eq(n, STR("_")));
	assert_false(milter_macro_name(&list, &n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_reply_check),
		cmocka_unit_test(test_macro_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
