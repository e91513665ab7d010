/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conf.c - libFuzzer harness for the config loader (conf.c).
 *
 * The input is a whole config file, loaded with conf_load_string (inih,
 * the reader's line handling, the key table and every value setter); the
 * same bytes, cut to one NUL-terminated value, also go through the pure
 * value parsers. Nothing may crash, leak or read out of bounds, whatever
 * the bytes.
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
	bool b;

	if (conf_load_string("fuzz.conf", (const char *)data, size, &conf,
	    &err) == 0) {
		(void)conf_is_local_domain(conf, STR("example.com"));
		conf_unref(conf);
	}

	if (size >= sizeof(value))
		size = sizeof(value) - 1;
	memcpy(value, data, size);
	value[size] = '\0';
	(void)conf_parse_size(value, &size_v, &err);
	(void)conf_parse_duration(value, &dur, &err);
	(void)conf_parse_bool(value, &b, &err);
	(void)conf_parse_addr(value, &addr, &err);
	if (conf_parse_cidr(value, &cidr, &err) == 0)
		(void)conf_cidr_match(&cidr, (struct sockaddr *)&addr.ss);
	return 0;
}
