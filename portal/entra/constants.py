"""Session keys and limits of the Entra ID sign-in."""

FLOW_SESSION_KEY = "entra_pending_sign_in"
SIGNED_IN_SESSION_KEY = "entra_signed_in"
CLOCK_SKEW_SECONDS = 120
