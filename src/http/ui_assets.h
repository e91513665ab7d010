/* SPDX-License-Identifier: ISC */
/*
 * ui_assets.h - the status page's files (src/http/ui.html, ui.js,
 * ui.css, ui.svg), turned into C arrays at build time by scripts/embed.sh
 * (build/gen/ui_assets.c), so the binary serves them without reading a
 * file. Served by http_ui.c.
 */
#ifndef RELAIS_HTTP_UI_ASSETS_H
#define RELAIS_HTTP_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char		*name;	/* the file's base name */
	const unsigned char	*data;	/* len bytes, then a NUL */
	size_t			 len;
};

extern const struct ui_asset	ui_assets[];
extern const size_t		ui_assets_count;

#endif
