/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conf.c - libFuzzer harness for the config loader (conf.c).
 *
 * The input is a whole config file, loaded with conf_load_string (inih,
 * the reader's line handling, the key table and every value setter); the
 * same bytes, cut to one NUL-terminated value, also go through the pure
 * value parsers. A [relay] shaping key makes the loader read that file
 * (regular files only). Nothing may crash, leak or read out of bounds,
 * whatever the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_addr addr;
	struct conf_cidr cidr;
	struct conf *conf;
	struct err err;
	char value[256];
	uint64_t size_v;
	unsigned dur;
	struct conf_rate rate;
	int64_t day;
	bool b;

	if (conf_load_string("fuzz.conf", (const char *)data, size, &conf,
	    &err) == 0) {
		static const char *const mx[] = { "mx.example.com" };

		(void)conf_is_local_domain(conf, STR("example.com"));
		(void)conf_site_find(conf, "example.com", mx, 1);
		(void)conf_tenant_of_user(conf, "user@example.com");
		conf_unref(conf);
	}

	if (size >= sizeof(value))
		size = sizeof(value) - 1;
	memcpy(value, data, size);
	value[size] = '\0';
	(void)conf_parse_size(value, &size_v, &err);
	(void)conf_parse_duration(value, &dur, &err);
	(void)conf_parse_bool(value, &b, &err);
	(void)conf_parse_rate(value, &rate, &err);
	(void)conf_parse_date(value, &day, &err);
	(void)conf_parse_addr(value, &addr, &err);
	if (conf_parse_cidr(value, &cidr, &err) == 0)
		(void)conf_cidr_match(&cidr, (struct sockaddr *)&addr.ss);
	return 0;
}
