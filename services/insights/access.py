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
    # The lake's reports and the analysts' SQL.
    "GET /insights/reports/overview": Access.admin,
    "GET /insights/reports/timeseries": Access.admin,
    "GET /insights/reports/breakdown": Access.admin,
    "GET /insights/reports/funnel": Access.admin,
    "GET /insights/reports/platform": Access.admin,
    "POST /insights/sql": Access.admin,
}
