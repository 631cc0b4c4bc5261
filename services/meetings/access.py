"""Who may call each meetings route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    "POST /meetings/chat": Access.anyone,  # rate-limited per client address
    "GET /meetings": Access.admin,
    "GET /meetings/pending": Access.admin,
    "GET /meetings/{meeting_id}": Access.admin,
    "PATCH /meetings/{meeting_id}": Access.admin,
    # Calendar apps send no token: a link's key (?key=, rate-limited) opens the feed too.
    "GET /meetings/calendar.ics": Access.admin.or_("a calendar link's `key`"),
    "POST /meetings/calendar/links": Access.admin,
    "DELETE /meetings/calendar/links/{link_id}": Access.admin,
}
