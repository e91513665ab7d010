/* SPDX-License-Identifier: ISC */
/*
 * fuzz_smtp_path.c - libFuzzer harness for smtp_path_parse() and
 * smtp_path_format().
 *
 * The first input octet selects the SMTP_PATH_ALLOW_* flags (its low three
 * bits); the rest is the path. An accepted path is formatted twice: into
 * a roomy buffer, where it must fit and read local@domain with the domain
 * lower-cased, and into a small capped one, which must refuse it whole or
 * hold it whole.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "smtp/smtp_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_smtp_path_check_format(const struct smtp_path *path, size_t max)
{
	struct buf b;
	size_t want;
	int r;

	buf_init(&b, max);
	r = smtp_path_format(path, &b);
	if (path->null)
		want = 0;
	else if (path->postmaster)
		want = strlen("postmaster");
	else
		want = path->local.len + 1 + path->domain.len;
	if (want <= max) {
		if (r != 0 || b.len != want)
			abort();
		if (!path->null && !path->postmaster &&
		    (memcmp(b.data, path->local.p, path->local.len) != 0 ||
		    b.data[path->local.len] != '@' ||
		    strncasecmp(b.data + path->local.len + 1,
		    path->domain.p, path->domain.len) != 0))
			abort();
	} else if (r != -1 || b.len != 0)
		abort();
	buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_path path;
	const char *why = NULL;
	unsigned flags;
	size_t i;

	if (size == 0)
		return 0;
	flags = data[0] & (SMTP_PATH_ALLOW_NULL | SMTP_PATH_ALLOW_POSTMASTER |
	    SMTP_PATH_ALLOW_UTF8);
	if (smtp_path_parse(str_make((const char *)data + 1, size - 1), flags,
	    &path, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (why != NULL || size - 1 > SMTP_PATH_MAX ||
	    path.local.len > SMTP_LOCAL_MAX ||
	    path.domain.len > SMTP_DOMAIN_MAX)
		abort();
	if ((path.null && !(flags & SMTP_PATH_ALLOW_NULL)) ||
	    (path.postmaster && !(flags & SMTP_PATH_ALLOW_POSTMASTER)) ||
	    (path.utf8 && !(flags & SMTP_PATH_ALLOW_UTF8)))
		abort();
	if (!path.null && !path.postmaster &&
	    (path.local.len == 0 || path.domain.len == 0))
		abort();
	for (i = 1; i < size; i++)
		if (data[i] < 0x20 || data[i] == 0x7f ||
		    (data[i] >= 0x80 && !(flags & SMTP_PATH_ALLOW_UTF8)))
			abort();
	fuzz_smtp_path_check_format(&path, SMTP_PATH_MAX * 2);
	fuzz_smtp_path_check_format(&path, 16);
	return 0;
}
