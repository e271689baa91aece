def workspace_switcher(request):
    """The workspaces the signed-in user belongs to, for the header switcher (one query, lazily)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from workspaces.selectors import memberships_of

    return {"my_memberships": memberships_of(user)}
