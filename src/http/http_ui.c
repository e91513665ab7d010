/* SPDX-License-Identifier: ISC */
/*
 * http_ui.c - the status page: GET / (ui.html), /ui.js, /ui.css and its
 * icon /ui.svg, the files embedded in the binary (ui_assets.h). No key is needed for them:
 * they hold no data, the page asks for an API key and reads everything
 * through the keyed API. A strict Content-Security-Policy (scripts and
 * styles only from these files, no inline code, fetches only to this
 * origin, Trusted Types so that no HTML is ever built from strings) and
 * a validator (ETag) so a browser revalidates instead of refetching.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http/http_int.h"
#include "http/ui_assets.h"

/* what each path serves */
static const struct {
	const char	*path;
	const char	*file;
	const char	*ctype;
} http_ui_files[] = {
	{ "/", "ui.html", "text/html; charset=utf-8" },
	{ "/ui.js", "ui.js", "text/javascript; charset=utf-8" },
	{ "/ui.css", "ui.css", "text/css; charset=utf-8" },
	{ "/ui.svg", "ui.svg", "image/svg+xml" },
};

/* the headers of every answer here */
static const struct {
	const char	*name;
	const char	*value;
} http_ui_headers[] = {
	{ "Content-Security-Policy", "default-src 'none'; script-src 'self';"
	    " style-src 'self'; connect-src 'self'; img-src 'self';"
	    " base-uri 'none'; form-action 'none'; frame-ancestors 'none';"
	    " require-trusted-types-for 'script'; trusted-types 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
	{ "Cross-Origin-Resource-Policy", "same-origin" },
	/* revalidate every time: the ETag makes that a 304 */
	{ "Cache-Control", "no-cache" },
};

#define HTTP_UI_NFILES	(sizeof(http_ui_files) / sizeof(http_ui_files[0]))
#define HTTP_UI_NHEADERS \
	(sizeof(http_ui_headers) / sizeof(http_ui_headers[0]))

static const struct ui_asset *
http_ui_asset(const char *name)
{
	for (size_t i = 0; i < ui_assets_count; i++)
		if (strcmp(ui_assets[i].name, name) == 0)
			return &ui_assets[i];
	return NULL;
}

/* http_ui_etag - a strong validator: FNV-1a 64 of the content */
static void
http_ui_etag(const struct ui_asset *a, char out[24])
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < a->len; i++)
		h = (h ^ a->data[i]) * 1099511628211ULL;
	snprintf(out, 24, "\"%016" PRIx64 "\"", h);
}

void
http_ui(struct http_req *r)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
	struct evkeyvalq *hd = evhttp_request_get_output_headers(r->req);
	const struct ui_asset *a = NULL;
	const char *ctype = NULL, *inm;
	struct evbuffer *out;
	char etag[24];

	for (size_t i = 0; i < HTTP_UI_NFILES; i++)
		if (strcmp(r->path, http_ui_files[i].path) == 0) {
			a = http_ui_asset(http_ui_files[i].file);
			ctype = http_ui_files[i].ctype;
			break;
		}
	if (ctype == NULL) {
		http_reply_error(r, 404, NULL, "no such resource: %s", r->path);
		return;
	}
	if (a == NULL) {
		http_reply_error(r, 500, NULL, "%s is not in this build",
		    r->path);
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hd, "Allow", "GET, HEAD");
		http_reply_error(r, 405, NULL, "method not allowed on %s",
		    r->path);
		return;
	}
	http_ui_etag(a, etag);
	for (size_t i = 0; i < HTTP_UI_NHEADERS; i++)
		evhttp_add_header(hd, http_ui_headers[i].name,
		    http_ui_headers[i].value);
	evhttp_add_header(hd, "ETag", etag);
	inm = http_header(r, "If-None-Match");
	if (inm != NULL && (strstr(inm, etag) != NULL ||
	    strcmp(inm, "*") == 0)) {
		evhttp_send_reply(r->req, 304, NULL, NULL);
		r->req = NULL;
		return;
	}
	evhttp_add_header(hd, "Content-Type", ctype);
	if ((out = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(out, a->data, a->len, NULL, NULL) == -1) {
		if (out != NULL)
			evbuffer_free(out);
		evhttp_clear_headers(hd);
		http_reply_error(r, 500, NULL, "out of memory");
		return;
	}
	evhttp_send_reply(r->req, 200, NULL, out);
	evbuffer_free(out);
	r->req = NULL;
}
