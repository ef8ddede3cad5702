/*
 * scan.c: the struct scan_msg shared by the MIME analysis and the policy
 * engine; this file owns releasing it.
 */
#include <stdlib.h>
#include <string.h>

#include "scan.h"

/* scan_msg_free: release everything the message owns; it is zeroed. */
void
scan_msg_free(struct scan_msg *m)
{
	size_t	 i, j;

	if (m == NULL)
		return;
	for (i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (i = 0; i < m->nparts; i++) {
		free(m->parts[i].filename);
		for (j = 0; j < m->parts[i].nalt_names; j++)
			free(m->parts[i].alt_names[j]);
		free(m->parts[i].alt_names);
		free(m->parts[i].content_type);
		free(m->parts[i].charset);
		free(m->parts[i].true_type);
		free(m->parts[i].text);
	}
	free(m->parts);
	free(m->subject);
	free(m->virus);
	memset(m, 0, sizeof(*m));
}
