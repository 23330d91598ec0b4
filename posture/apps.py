from django.apps import AppConfig


class PostureConfig(AppConfig):
    name = "posture"
    verbose_name = "HSM posture"
