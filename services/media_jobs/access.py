"""Who may call each media-jobs route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    "POST /media/uploads": Access.signed_in,  # rate-limited per user
    # Jobs are readable by anyone today (the web app lists every job).
    "GET /media/jobs": Access.anyone,
    "GET /media/jobs/{guid}": Access.anyone,
    "POST /media/jobs/{guid}/retry": Access.admin,
    "DELETE /media/jobs/{guid}": Access.admin,
    # The local stand-in for CloudFront's public playback URLs.
    "GET /media/outputs/{path}": Access.anyone,
    "HEAD /media/outputs/{path}": Access.anyone,
}
