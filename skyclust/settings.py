"""SkyClust settings: every value comes from the environment (see the table in README.md)."""
import warnings
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# One switch for a deployment behind TLS: redirect, secure cookies, HSTS.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "channels",
    "workspaces",
    "vms",
    "vms.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workspaces.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "skyclust.urls"
ASGI_APPLICATION = "skyclust.asgi.application"
WSGI_APPLICATION = None

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
                "workspaces.context_processors.workspace_switcher",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'skyclust.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded runtime shares one file between daphne's threads and the in-process poller.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": env("SQLITE_TEST_NAME", default=str(VAR_DIR / "test.sqlite3"))}
else:
    # Keep connections between requests: every WebSocket push reads the database, and reconnecting each time
    # pushed the fan-out benchmark's p95 from ~0.6 s to several seconds.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis blocks 5 s per BZPOPMIN; redis-py 8's default 5 s socket timeout races it and kills a
            # consumer now and then ("Timeout reading"), so reads get longer. And redis-py's pool refuses (not waits)
            # past 100 connections, which hundreds of pages closing at once (a deploy) would exceed.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}],
                "prefix": env("CHANNELS_PREFIX", default="skyclust"),
            },
        }
    }
    # Shared cache, so per-user API throttling holds across every daphne process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "skyclust"}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests are refused instead
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Tests only: a fast hasher, so each test user does not cost half a second of PBKDF2.
if env.bool("SKYCLUST_FAST_PASSWORD_HASHER", default=False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps in `make run`, no collectstatic step
# Until `collectstatic` fills STATIC_ROOT, whitenoise warns on every start; the finders serve the files meanwhile.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vms.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["vms.api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_RATE", default="1000/minute"),
        "anon": "60/minute",
        "token_obtain": env("API_TOKEN_THROTTLE_RATE", default="20/minute"),
    },
    "EXCEPTION_HANDLER": "vms.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SkyClust API",
    "DESCRIPTION": "Virtual machines on AWS EC2, GCP Compute Engine and Azure, from one API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "VMStatusEnum": "vms.state.STATUS_CHOICES",
        "ProviderEnum": "vms.providers.registry.PROVIDER_CHOICES",
        "LifecycleActionEnum": "vms.state.LIFECYCLE_ACTIONS",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # The Azure SDK logs every request and response at INFO.
        "azure": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
    },
}

# Cloud credentials are encrypted at rest with this Fernet key. When unset (demo, tests) a key is
# generated once under var/; `check --deploy` warns so production always sets it.
SKYCLUST_ENCRYPTION_KEY = env("SKYCLUST_ENCRYPTION_KEY", default="")
SKYCLUST_ENCRYPTION_KEY_FILE = VAR_DIR / "encryption.key"

SKYCLUST_DEMO_PASSWORD = env("SKYCLUST_DEMO_PASSWORD", default="skyclust-demo")
# Poller cadence (seconds): targets with a VM in transition, settled targets, lease lifetime.
POLL_TRANSITIONAL_INTERVAL = env.float("POLL_TRANSITIONAL_INTERVAL", default=3.0)
POLL_SETTLED_INTERVAL = env.float("POLL_SETTLED_INTERVAL", default=60.0)
POLL_LEASE_SECONDS = env.float("POLL_LEASE_SECONDS", default=120.0)
PENDING_CREATE_TIMEOUT = env.float("PENDING_CREATE_TIMEOUT", default=900.0)
# The poller leaves a status set by a user action alone this long while the cloud still shows the old state
# (the action's cloud call may not have landed yet), and waits this long before it looks up an unfinished create.
POLL_ACTION_GRACE_SECONDS = env.float("POLL_ACTION_GRACE_SECONDS", default=15.0)
POLL_PENDING_GRACE_SECONDS = env.float("POLL_PENDING_GRACE_SECONDS", default=30.0)
# The embedded runtime: seconds an emulated instance spends in each transitional state.
SANDBOX_TRANSITION_SECONDS = env.float("SANDBOX_TRANSITION_SECONDS", default=3.0)
