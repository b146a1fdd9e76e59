from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "fineweb.lifecycle"
    label = "lifecycle"
    verbose_name = "Model shutdown dates the providers reported"

    def ready(self) -> None:
        from celery.signals import task_prerun
        from django.core.signals import request_started

        from fineweb.lifecycle import reported

        # Each request and each task reads the table afresh (once): a date a worker recorded is
        # seen by the next page of every web process, and a date a page recorded by every worker.
        request_started.connect(reported.forget, dispatch_uid="lifecycle-forget-request")
        task_prerun.connect(reported.forget, dispatch_uid="lifecycle-forget-task", weak=False)
