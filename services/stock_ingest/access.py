"""Who may call each stock-ingest route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable
from shared.cognito import INGEST_SCOPE

ACCESS: AccessTable = {
    # Tick producers: a client-credentials token of a machine app client.
    "POST /stocks/ticks": Access.machine(INGEST_SCOPE),
    "GET /stocks/symbols": Access.anyone,
    "GET /stocks/{symbol}/ticks": Access.anyone,
    "GET /stocks/{symbol}/candles": Access.anyone,
}
