/* SPDX-License-Identifier: ISC */
/*
 * version.h - the version of relais, for `relais --version`, the log and
 * what relais says of itself to others (HTTP User-Agent and the like).
 */
#ifndef RELAIS_CORE_VERSION_H
#define RELAIS_CORE_VERSION_H

#define RELAIS_VERSION	"0.1.0"

#endif
