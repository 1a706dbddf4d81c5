/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Program identity, shared by the usage text and --version. */
#ifndef CSTATS_CSTATS_H
#define CSTATS_CSTATS_H

#define CSTATS_NAME "cstats"
#define CSTATS_VERSION "1.0.0"

/* Exit codes. */
#define CSTATS_EXIT_OK 0
#define CSTATS_EXIT_INPUT 1 /* an input could not be read; others were */
#define CSTATS_EXIT_USAGE 2

#endif
