"""The access entries of the lake's routes (services.insights.reports_api), for the
integrator to fold into services/insights/access.py's ``ACCESS``."""

from shared.access import Access, AccessTable

LAKE_ACCESS: AccessTable = {
    "GET /insights/reports/overview": Access.admin,
    "GET /insights/reports/timeseries": Access.admin,
    "GET /insights/reports/breakdown": Access.admin,
    "GET /insights/reports/funnel": Access.admin,
    "GET /insights/reports/platform": Access.admin,
    "POST /insights/sql": Access.admin,
}
