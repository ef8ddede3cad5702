/*
 * bundle_policy.h: the policy check of a staged bundle (bundle_policy.c).
 */
#ifndef SEKISHO_BUNDLE_POLICY_H
#define SEKISHO_BUNDLE_POLICY_H

#include "diag.h"

int	 bundle_policy_check(const char *, struct diag *);

#endif
