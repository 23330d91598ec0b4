from notifications.selectors import unread_count


def inbox(request):
    """The navigation's unread badge: one COUNT query per page for a signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": unread_count(user)}
