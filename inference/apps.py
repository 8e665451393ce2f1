from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference: task kinds, model catalog, jobs"

    def ready(self) -> None:
        # Django's hook, once the models are ready: the worker start-up hooks, and the Celery tasks, registered
        # in every process so that the job and build services can send them by name.
        from . import signals, tasks  # noqa: F401
