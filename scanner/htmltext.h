/*
 * htmltext.h: the text a reader sees in an HTML document.
 *
 * htmltext_extract turns (hostile) HTML into its visible text, so that
 * keyword rules see "wire transfer" in "<b>wire</b>&nbsp;<i>transfer</i>"
 * and 至急 in "&#x81F3;&#x6025;".  One forward pass, linear in the input,
 * no recursion, output bounded; see htmltext.c for what is kept and what
 * is dropped.
 */
#ifndef SEKISHO_HTMLTEXT_H
#define SEKISHO_HTMLTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

bool	 htmltext_extract(const char *, size_t, size_t, struct buf *);

#endif
