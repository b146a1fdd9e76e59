import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fineweb.settings")
django.setup(set_prefix=False)

from fineweb.lib.asgi import Application  # noqa: E402  (after setup: it imports Django's handlers)

application = Application()
