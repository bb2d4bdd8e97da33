/*
 * plan.c: the per-entry diff of a fresh listing against the local trees.
 * Comparing with what target really holds (not only with the database)
 * means a file deleted or damaged by hand is fetched again, and a run that
 * died after publishing some files does not download them twice.
 */
#include <string.h>

#include "civil.h"
#include "listing.h"
#include "plan.h"

/* Does local mtime fall inside the remote time's precision? */
bool
plan_mtime_matches(int64_t local, int64_t remote, int prec)
{
	switch (prec) {
	case MTIME_SECOND:
		return local == remote;
	case MTIME_MINUTE:
		return local >= remote && local < remote + 60;
	case MTIME_DAY:
		return local >= remote && local < remote + 86400;
	default:
		return true;
	}
}

/*
 * ls leaves the year out for the last six months, and the listing's year
 * is guessed as the latest that is not in the future.  pure-ftpd leaves it
 * out for future times too, so a file dated next month was taken for last
 * year's, and fetched again on every run.  The file fetched before, its
 * exact time set from MDTM, tells the year.
 */
int64_t
plan_listed_year(int64_t listed, int64_t local)
{
	int64_t	days, y, secs, shifted;
	int	m, d, dy;

	days = civil_floor_div(listed, CIVIL_SECS_PER_DAY);
	secs = listed - days * CIVIL_SECS_PER_DAY;
	civil_date_from_days(days, &y, &m, &d);
	for (dy = -1; dy <= 1; dy += 2) {
		if (d > civil_days_in_month(y + dy, m))
			continue;	/* Feb 29 */
		shifted = civil_days_from_date(y + dy, m, d) *
		    CIVIL_SECS_PER_DAY + secs;
		if (plan_mtime_matches(local, shifted, MTIME_MINUTE))
			return shifted;
	}
	return listed;
}

static bool
plan_same_file(const struct plan_remote *remote, int64_t size, int64_t mtime)
{
	if (remote->size >= 0 && size != remote->size)
		return false;
	return plan_mtime_matches(mtime, remote->mtime, remote->mtime_prec);
}

/* Seconds covered by a listed time of this precision. */
static int64_t
plan_window(int prec)
{
	return prec == MTIME_DAY ? 86400 : prec == MTIME_MINUTE ? 60 : 0;
}

/*
 * Is target's file surely the listed version?  With an exact listed time,
 * yes; with a minute or a day, only when the database confirmed local's
 * very mtime after that minute or day was over.
 */
static bool
plan_certain(const struct plan_remote *remote, const struct plan_local *local,
    const struct plan_known *known)
{
	if (known == NULL || plan_window(remote->mtime_prec) == 0)
		return true;
	return known->exists && !known->recheck &&
	    known->mtime_prec == MTIME_SECOND &&
	    known->mtime == local->mtime && known->size == local->size &&
	    known->verified_at >= remote->mtime +
	    plan_window(remote->mtime_prec) + PLAN_CLOCK_SKEW;
}

/* Decide what to do with one remote entry. */
struct plan_decision
plan_entry(const struct plan_remote *remote, const struct plan_local *local,
    const struct plan_staged *staged, const struct plan_known *known)
{
	struct plan_decision d;

	d.exact = false;

	if (local->type == 0)
		d.action = SCAN_ACTION_ADD;
	else if (local->type != remote->type)
		d.action = SCAN_ACTION_CHANGE;
	else
		d.action = SCAN_ACTION_NONE;

	switch (remote->type) {
	case 'd':
		d.state = SCAN_DIR_PENDING;
		break;
	case 'l':
		if (d.action == SCAN_ACTION_NONE && local->link_target &&
		    remote->link_target &&
		    strcmp(local->link_target, remote->link_target) == 0)
			d.state = SCAN_LINK_UNCHANGED;
		else {
			d.state = SCAN_LINK;
			if (d.action == SCAN_ACTION_NONE)
				d.action = SCAN_ACTION_CHANGE;
		}
		break;
	default:
		if (d.action == SCAN_ACTION_NONE &&
		    plan_same_file(remote, local->size, local->mtime)) {
			if (!plan_certain(remote, local, known)) {
				d.state = SCAN_FILE_CHECK;
				break;
			}
			d.state = SCAN_FILE_UNCHANGED;
			d.exact = known != NULL &&
			    plan_window(remote->mtime_prec) != 0;
			break;
		}
		if (d.action == SCAN_ACTION_NONE)
			d.action = SCAN_ACTION_CHANGE;
		/* A staged copy counts only if it is this very version. */
		if (staged->exists && staged->complete &&
		    staged->size == remote->size &&
		    staged->mtime == remote->mtime)
			d.state = SCAN_FILE_STAGED;
		else
			d.state = SCAN_FILE_FETCH;
		break;
	}
	return d;
}
