"""gunicorn settings for Hindsight: `gunicorn -c gunicorn.conf.py`."""

import os

bind = os.environ.get("HINDSIGHT_BIND", "127.0.0.1:8000")
wsgi_app = "service.app:create_app()"
# The model and indexes load once in the master (preload) and are shared by forked workers.
preload_app = True
workers = int(os.environ.get("HINDSIGHT_WORKERS", "2"))
threads = int(os.environ.get("HINDSIGHT_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 20
accesslog = "-"
