from django import template

register = template.Library()


@register.filter
def hours(seconds: float | None) -> str:
    """Seconds as hours with one decimal (`7200.0` → "2.0 h"); "—" for none."""
    return "—" if seconds is None else f"{seconds / 3600:.1f} h"
