"""Who may call each recipes route (see shared.access; the README's "Access" section)."""

from shared.access import Access, AccessTable

ACCESS: AccessTable = {
    "GET /recipes": Access.anyone,
    "GET /recipes/{recipe_id}": Access.anyone,
    "GET /recipes/mine": Access.signed_in,
    "POST /recipes": Access.signed_in,
    "PUT /recipes/{recipe_id}": Access.owner,  # the author
    "DELETE /recipes/{recipe_id}": Access.owner,
    "POST /recipes/{recipe_id}/likes": Access.signed_in,
    "DELETE /recipes/{recipe_id}/likes": Access.signed_in,
}
