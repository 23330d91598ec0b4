from django.conf import settings


def portal(request):
    """Values every template needs: sign-in options and the signed-in user's roles."""
    user = getattr(request, "user", None)
    roles = user.roles if user is not None and user.is_authenticated else frozenset()
    return {
        "local_login_enabled": settings.LOCAL_LOGIN_ENABLED,
        "entra_login_enabled": bool(settings.ENTRA_CLIENT_ID),
        "user_roles": roles,
    }
