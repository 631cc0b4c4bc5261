"""Who may call each insights route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    # Anonymous by design (every page of the web app reports its views); rate-limited per
    # client address.
    "POST /insights/events": Access.anyone,
    # The visitor counter of the static About page (CORS for INSIGHTS_CORS_ORIGINS).
    "POST /insights/hits": Access.anyone,
    "GET /insights/hits": Access.anyone,
    "OPTIONS /insights/hits": Access.anyone,
}
