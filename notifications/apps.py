from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications: mail, Microsoft Teams, Slack and the in-app inbox"
