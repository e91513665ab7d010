/* SPDX-License-Identifier: ISC */
/*
 * conf_peek.c - [server] data_dir of a configuration file that may not
 * load: relais reload still has to find the daemon (its pid file is in
 * DATA_DIR) to have it refuse a broken file. A forgiving line scan with
 * the syntax conf.c reads: "[section NAME]" headers, "key = value" lines,
 * ";" and "#" comment lines, " ;" inline comments. Anything else is
 * skipped.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "conf/conf_int.h"
#include "core/buf.h"
#include "core/xalloc.h"

#define CONF_PEEK_FILE_MAX	(4u * 1024 * 1024)

/* conf_peek_trim - s[0..*n) without blanks at either end */
static const char *
conf_peek_trim(const char *s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)s[*n - 1]))
		(*n)--;
	return s;
}

static const char *
conf_peek_default(void)
{
	for (size_t i = 0; i < conf_nkeys; i++)
		if (conf_keys[i].section == CONF_SEC_SERVER &&
		    strcmp(conf_keys[i].name, "data_dir") == 0)
			return conf_keys[i].def;
	return "/var/lib/relais";
}

char *
conf_peek_data_dir(const char *path)
{
	struct buf b;
	struct err err;
	const char *p, *end, *nl, *line, *eq, *v;
	size_t n, kn, vn;
	bool server = false;
	char *out = NULL;

	buf_init(&b, CONF_PEEK_FILE_MAX);
	if (buf_read_file(&b, path, &err) == -1) {
		buf_fini(&b);
		return xstrdup(conf_peek_default());
	}
	p = buf_cstr(&b);
	end = p + b.len;
	for (; p < end && out == NULL; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		line = conf_peek_trim(p, &n);
		if (n == 0 || line[0] == ';' || line[0] == '#')
			continue;
		if (line[0] == '[') {
			kn = n - 1;
			v = conf_peek_trim(line + 1, &kn);
			server = kn >= 6 && strncasecmp(v, "server", 6) == 0 &&
			    (kn == 6 || v[6] == ']' || isspace((unsigned char)
			    v[6]));
			continue;
		}
		if (!server || (eq = memchr(line, '=', n)) == NULL)
			continue;
		kn = (size_t)(eq - line);
		v = conf_peek_trim(line, &kn);
		if (kn != 8 || strncmp(v, "data_dir", 8) != 0)
			continue;
		vn = n - (size_t)(eq + 1 - line);
		v = eq + 1;
		for (size_t i = 1; i < vn; i++) {
			if (v[i] == ';' && isspace((unsigned char)v[i - 1])) {
				vn = i;
				break;
			}
		}
		v = conf_peek_trim(v, &vn);
		if (vn > 0)
			out = xstrndup(v, vn);
	}
	buf_fini(&b);
	return out != NULL ? out : xstrdup(conf_peek_default());
}
