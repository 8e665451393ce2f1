from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference: task kinds, model catalog, jobs"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (worker start-up hooks)
