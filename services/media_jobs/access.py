"""Who may call each media-jobs route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    "POST /media/uploads": Access.signed_in,  # rate-limited per user
    # A user lists their own jobs (admins everyone's, filterable by submitter); a job is read by
    # its owner and admins, and is a 404 to anyone else, so its existence is not confirmed.
    "GET /media/jobs": Access.signed_in,
    "GET /media/jobs/{guid}": Access("owner", other_user=404),
    "POST /media/jobs/{guid}/retry": Access.admin,
    "DELETE /media/jobs/{guid}": Access.admin,
    # The local stand-in for CloudFront's public playback URLs.
    "GET /media/outputs/{path}": Access.anyone,
    "HEAD /media/outputs/{path}": Access.anyone,
}
