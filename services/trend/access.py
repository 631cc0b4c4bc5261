"""Who may call each trend route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    "GET /trends": Access.anyone,
    "GET /trends/{symbol}": Access.anyone,
    "GET /trends/{symbol}/signals": Access.anyone,
}
