"""fineweb settings: one module, everything from environment variables (see docs/operations.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import csp.constants
import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from fineweb.lib.env import env_bool, env_int, env_list, env_str, secret_from_env_or_file
from fineweb.lib.static_headers import add_static_headers

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FINEWEB_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = secret_from_env_or_file(
    "FINEWEB_SECRET_KEY", DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50)
)
DEBUG = env_bool("FINEWEB_DEBUG", False)
ALLOWED_HOSTS = env_list("FINEWEB_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("FINEWEB_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "fineweb.accounts",
    "fineweb.lifecycle",  # the shutdown dates providers' model lists reported (fineweb.lib.catalogue)
    "datasets_app",
    "providers",
    "jobs",
    "compare",
    "evaluation",
    "localtuner",
    "review",
    "onboarding",  # team creation: imports the apps above, nothing imports it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "fineweb.lib.staticfiles.StaticFilesMiddleware",  # WhiteNoise, in both modes
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "fineweb.accounts.middleware.TeamMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Under ASGI the async views (the streams) get these as fineweb.lib.middleware's subclasses that run
# their pure hooks on the event loop (fineweb.lib.asgi.AsyncViewsHandler); the list keeps Django's
# own names, which `check --deploy` looks for.

ROOT_URLCONF = "fineweb.urls"
WSGI_APPLICATION = "fineweb.wsgi.application"
ASGI_APPLICATION = "fineweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fineweb.accounts.context_processors.team",
            ],
            # json_script encoded with orjson, for every template (fineweb/lib/jsonscript.py).
            "builtins": ["fineweb.lib.jsonscript"],
        },
    }
]

# --- Database: SQLite (WAL, immediate transactions) by default, DATABASE_URL to scale out.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'fineweb.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test.sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("FINEWEB_STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security: production turns these on through the environment (docs/operations.md).
SECURE_SSL_REDIRECT = env_bool("FINEWEB_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("FINEWEB_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("FINEWEB_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("FINEWEB_HSTS_PRELOAD", False)
if env_bool("FINEWEB_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Content-Security-Policy (django-csp) and X-Frame-Options on static files too.
# No page has an inline script or on* handler, and htmx and plotly.js are served from here, so
# scripts come from 'self' only. Styles also allow 'unsafe-inline': plotly.js writes style
# attributes and <style> rules as it draws, and progress bars set their width in a style attribute.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF, csp.constants.UNSAFE_INLINE],
        "img-src": [csp.constants.SELF, "data:"],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.SELF],
        "form-action": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    }
}
WHITENOISE_ADD_HEADERS_FUNCTION = add_static_headers

# --- Uploads: big dataset files stream to disk, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
DATASET_MAX_UPLOAD_BYTES = env_int("FINEWEB_DATASET_MAX_BYTES", 512 * 1024 * 1024)
BLOB_DIR = DATA_DIR / "blobs"
# Panels a dataset version's page loads over htmx from other apps (URL names taking the version's
# id), so datasets_app links to what is built on a version without importing those apps: the
# jobs trained on it; the review app adds its history of the examples, the evaluation app its runs.
DATASET_VERSION_PANELS = ["jobs:for_version", "review:for_version"]
# Where a version is frozen (a URL name taking the version's id): through the team's review, whose
# gate freezes the approved examples into a new version. The version page links there; datasets_app
# has no freeze of its own that would skip the review.
DATASET_FREEZE_URL = "review:queue"
# A review with more approved examples than this is frozen by the worker task review.freeze_version
# (100,000 took 3.5 s in the request); smaller ones in the request.
REVIEW_FREEZE_INLINE_EXAMPLES = env_int("FINEWEB_REVIEW_FREEZE_INLINE_EXAMPLES", 5000)
# A bulk approve or reject of more examples than this is recorded by the worker task
# review.bulk_decide (90,000 took 7 s in the request), in chunks of REVIEW_BULK_CHUNK_EXAMPLES
# (each moves the progress bar); one whose job has not moved for REVIEW_BULK_LEASE_SECONDS (no
# worker) is stopped and the review opened again.
REVIEW_BULK_INLINE_EXAMPLES = env_int("FINEWEB_REVIEW_BULK_INLINE_EXAMPLES", 1000)
REVIEW_BULK_CHUNK_EXAMPLES = env_int("FINEWEB_REVIEW_BULK_CHUNK_EXAMPLES", 10000)
REVIEW_BULK_LEASE_SECONDS = env_int("FINEWEB_REVIEW_BULK_LEASE_SECONDS", 300)
# Dataset files up to this size are validated during the upload; larger ones by a Celery worker.
DATASET_INLINE_VALIDATE_BYTES = env_int("FINEWEB_DATASET_INLINE_VALIDATE_BYTES", 2 * 1024 * 1024)
# Files from this size on are checked by a pool of forked processes, one per CPU, or at most
# FINEWEB_DATASET_VALIDATION_WORKERS when that is set above 0 (1: always one process).
DATASET_PARALLEL_MIN_BYTES = env_int("FINEWEB_DATASET_PARALLEL_MIN_BYTES", 4 * 1024 * 1024)
DATASET_VALIDATION_WORKERS = env_int("FINEWEB_DATASET_VALIDATION_WORKERS", 0)

# --- Celery: a broker that needs no server by default (kombu filesystem transport), with all its
# folders (queue, processed, control: the exchange tables kombu would otherwise write into the
# working directory) under DATA_DIR/broker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dirs = {name: DATA_DIR / "broker" / name for name in ("queue", "processed", "control")}
    for _dir in _broker_dirs.values():
        _dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dirs["queue"]),
        "data_folder_out": str(_broker_dirs["queue"]),
        "processed_folder": str(_broker_dirs["processed"]),
        "control_folder": str(_broker_dirs["control"]),
        "store_processed": False,
    }
    # kombu's filesystem transport with atomic publish and claim (kombu issue #1551), see fsbroker.
    CELERY_BROKER_TRANSPORT = "fineweb.lib.fsbroker:Transport"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The logger's name in each line, so make run's console can let `fineweb.console` through.
CELERY_WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 900)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task names are "<app label>.<verb>_<noun>" (jobs.sync_job, localtuner.train_job, ...). Every
# route and every beat entry is here; tasks not routed go to the default queue.
CELERY_TASK_ROUTES = {
    "localtuner.*": {"queue": "training"},
    "evaluation.*": {"queue": "default"},
    "review.*": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE = {
    # The home page says whether a worker of each queue is online.
    "heartbeat-default": {"task": "accounts.record_heartbeat", "schedule": 30.0, "args": ("default",)},
    "heartbeat-training": {
        "task": "accounts.record_heartbeat",
        "schedule": 30.0,
        "args": ("training",),
        "options": {"queue": "training"},
    },
    # Polls for due syncs often; each job's own next_sync_at decides how often it is synced.
    "jobs-sync-due": {"task": "jobs.sync_due_jobs", "schedule": 5.0},
    # Evaluation runs whose worker stopped reporting (killed) go to another worker.
    "evaluation-resume-stalled": {"task": "evaluation.resume_stalled_runs", "schedule": 15.0},
    # Re-sends local training jobs whose worker is gone; on `default`, so a long training run on the
    # concurrency-1 training worker never delays it.
    "localtuner-sweep": {
        "task": "localtuner.sweep_stale_jobs",
        "schedule": 60.0,
        "options": {"queue": "default"},
    },
}
# A job's submit claim is handed out again by beat once it is this old (a worker died mid-submit).
FINEWEB_JOB_SUBMIT_LEASE_SECONDS = env_int("FINEWEB_JOB_SUBMIT_LEASE_SECONDS", 120)
# "Today" for the providers' lifecycle dates (fineweb/lib/catalogue.py), as YYYY-MM-DD; empty:
# the real date. Tests and demos pin it to see a cut-off before it comes.
FINEWEB_TODAY = env_str("FINEWEB_TODAY", "")

# --- `make run` (manage.py runall): where the web server listens.
RUNALL_HOST = env_str("HOST", "127.0.0.1")
RUNALL_PORT = env_int("PORT", 8000)
# Web server processes of `make run`: Django runs sync views on one thread per ASGI process, so
# pages are served in parallel only by several processes (one per core, at most 4, by default).
RUNALL_WEB_WORKERS = env_int("FINEWEB_WEB_WORKERS", max(1, min(4, os.cpu_count() or 1)))
# Threads for sync views in each web process (fineweb/lib/asgi.py): at most this many pages at once a
# process, each thread keeping its database connection between requests.
FINEWEB_WEB_THREADS = env_int("FINEWEB_WEB_THREADS", 4)
# --- Caches, in each process's memory: nothing to run beside the server, and gone with the process,
# so a new release never serves what older code rendered. "template_fragments" (Django's `{% cache %}`
# tag) holds the rendered parts of pages that no longer change: a finished job's events and curve, a
# checked version's statistics, a file's examples. Each key names every input of its fragment, so
# nothing needs invalidating across processes; the least recently used fragments make room.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "template-fragments",
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": env_int("FINEWEB_PAGE_FRAGMENTS", 1000)},
    },
}

# --- Providers and the built-in local provider.
FINEWEB_LOCAL_API_KEY = secret_from_env_or_file(
    "FINEWEB_LOCAL_API_KEY", DATA_DIR / "local_api_key", lambda: "fw-local-" + secrets.token_urlsafe(24)
)
FINEWEB_LOCAL_BASE_URL = env_str("FINEWEB_LOCAL_BASE_URL", "")  # default: this server's /local/v1
FINEWEB_MODEL_CACHE_DIR = Path(env_str("FINEWEB_MODEL_CACHE_DIR", str(DATA_DIR / "models")))
# The local provider (localtuner): upload limit, how long a silent training worker keeps its job,
# the longest a training run may take, and the default max_tokens of a chat completion.
FINEWEB_LOCAL_MAX_FILE_BYTES = env_int("FINEWEB_LOCAL_MAX_FILE_BYTES", 512 * 1024 * 1024)
FINEWEB_LOCAL_LEASE_SECONDS = env_int("FINEWEB_LOCAL_LEASE_SECONDS", 60)
FINEWEB_LOCAL_TRAIN_TIME_LIMIT = env_int("FINEWEB_LOCAL_TRAIN_TIME_LIMIT", 24 * 3600)
FINEWEB_LOCAL_DEFAULT_MAX_TOKENS = env_int("FINEWEB_LOCAL_DEFAULT_MAX_TOKENS", 256)
# The engine's CPU threads for training and, shared by running generations, for local chat (0: the
# cores this process may use), and the bounds of the
# cache of loaded models that chat completions use (models, approximate bytes).
FINEWEB_TORCH_THREADS = env_int("FINEWEB_TORCH_THREADS", 0)
FINEWEB_LOCAL_MODEL_CACHE_SIZE = env_int("FINEWEB_LOCAL_MODEL_CACHE_SIZE", 2)
FINEWEB_LOCAL_MODEL_CACHE_BYTES = env_int("FINEWEB_LOCAL_MODEL_CACHE_BYTES", 3 * 1024**3)
# Provider API keys are encrypted at rest with MultiFernet: the first key encrypts, all decrypt.
FINEWEB_FERNET_KEYS = env_list("FINEWEB_FERNET_KEYS", []) or [
    secret_from_env_or_file(
        "FINEWEB_FERNET_KEY", DATA_DIR / "fernet_key", lambda: Fernet.generate_key().decode()
    )
]
for _key in FINEWEB_FERNET_KEYS:
    try:
        Fernet(_key)
    except ValueError as exc:
        raise ImproperlyConfigured("FINEWEB_FERNET_KEYS holds a key that is not a valid Fernet key") from exc

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FINEWEB_LOG_LEVEL", "INFO")},
    # axes.apps: its "AXES: BEGIN" banner at every process start is not news.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},
    },
}

# --- Hardening: provider network rules and login throttling (docs/security.md). Kept in one
# block so it merges cleanly.
from datetime import timedelta  # noqa: E402

from fineweb.lib.env import env_networks  # noqa: E402

# Networks provider calls may reach although private/loopback/link-local (e.g. a vLLM on the LAN).
FINEWEB_PROVIDER_ALLOWED_NETWORKS = env_networks("FINEWEB_PROVIDER_ALLOWED_NETWORKS", [])
INSTALLED_APPS += ["axes"]
# Page requests get the short provider budget; AxesMiddleware stays last, as django-axes asks.
MIDDLEWARE += ["providers.middleware.ProviderBudgetMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
FINEWEB_PROXY_COUNT = env_int("FINEWEB_PROXY_COUNT", 1 if env_bool("FINEWEB_BEHIND_PROXY", False) else 0)
AXES_ENABLED = env_bool("FINEWEB_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("FINEWEB_LOGIN_FAILURE_LIMIT", 5)
_cooloff_minutes = env_int("FINEWEB_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user, and per address
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lock always ends after the cool-off
AXES_CLIENT_IP_CALLABLE = "fineweb.accounts.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "fineweb.accounts.throttle.lockout_response"
if AXES_FAILURE_LIMIT < 1 or _cooloff_minutes < 1:
    raise ImproperlyConfigured(
        "FINEWEB_LOGIN_FAILURE_LIMIT and FINEWEB_LOGIN_COOLOFF_MINUTES must be at least 1"
    )
