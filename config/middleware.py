"""Middleware that keeps an ASGI request on the event loop.

Static files: WhiteNoise's middleware is sync-only. One sync middleware turns
the whole chain above it sync under ASGI: every request, API calls included,
then ran on a thread of its own for its whole life, waiting included, and
opened its own database connection. ``StaticFilesMiddleware`` answers static
file requests with WhiteNoise and hands every other request straight on, sync
or async as the chain below it is.

Django's own middleware: under ASGI, ``MiddlewareMixin`` runs each
``process_request``, ``process_view`` and ``process_response`` on a thread
(``sync_to_async``), about 60 µs of CPU a hop and a dozen hops a request. The
subclasses below run the hooks that touch no database on the event loop, and
still hop for those that do (a session to save, messages kept in it). Under
WSGI and the test client they are Django's classes unchanged. Security, CSRF
and X-Frame-Options keep Django's names in ``settings.MIDDLEWARE`` (`check
--deploy` looks for them by name) and the ASGI handler loads their subclasses
here in their places (``ON_THE_LOOP``).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _static_file(self, request):
        path = request.path_info
        if self.whitenoise.autorefresh:
            return self.whitenoise.find_file(path)
        return self.whitenoise.files.get(path)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self.whitenoise(request)

    async def __acall__(self, request):
        static_file = self._static_file(request)
        if static_file is not None:
            return self.whitenoise.serve(static_file, request)
        return await self.get_response(request)


class _HooksOnTheLoop:
    """A ``MiddlewareMixin`` whose hooks run on the event loop under ASGI, unless they will do I/O."""

    def response_needs_thread(self, request, response) -> bool:
        """True when ``process_response`` will touch the database (it then runs on a thread)."""
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class AsyncCommonMiddleware(_HooksOnTheLoop, CommonMiddleware):
    """Django's ``CommonMiddleware`` (user agents, slashes, Content-Length)."""


class AsyncAuthenticationMiddleware(_HooksOnTheLoop, AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware``: ``request.user`` stays lazy, read where it is used."""


class AsyncSessionMiddleware(_HooksOnTheLoop, SessionMiddleware):
    """Django's ``SessionMiddleware``: the session loads lazily; saving one goes to a thread."""

    def response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class AsyncMessageMiddleware(_HooksOnTheLoop, MessageMiddleware):
    """Django's ``MessageMiddleware``: storing messages (cookie, then session) goes to a thread."""

    def response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class AsyncCSPMiddleware(_HooksOnTheLoop, CSPMiddleware):
    """django-csp's ``CSPMiddleware`` (the Content-Security-Policy header); its hooks do no I/O."""


class AsyncSecurityMiddleware(_HooksOnTheLoop, SecurityMiddleware):
    """Django's ``SecurityMiddleware`` (HSTS, nosniff, referrer and opener policies, SSL redirect); no I/O."""


class AsyncXFrameOptionsMiddleware(_HooksOnTheLoop, XFrameOptionsMiddleware):
    """Django's ``XFrameOptionsMiddleware``; no I/O."""


class AsyncCsrfViewMiddleware(_HooksOnTheLoop, CsrfViewMiddleware):
    """Django's ``CsrfViewMiddleware`` with its token in a cookie (``CSRF_USE_SESSIONS`` is off): no I/O.

    ``process_view`` is also made a coroutine function under ASGI, so the handler awaits it on the loop
    rather than on a thread.
    """

    def __init__(self, get_response):
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            sync_process_view = super().process_view

            async def process_view(request, callback, callback_args, callback_kwargs):
                return sync_process_view(request, callback, callback_args, callback_kwargs)

            self.process_view = process_view


# Under ASGI the handler (``config.asgi_limits.BoundedBodyASGIHandler``) loads these in place of Django's
# own classes, which ``settings.MIDDLEWARE`` keeps naming so that ``check --deploy`` finds them.
ON_THE_LOOP = {
    "django.middleware.security.SecurityMiddleware": "config.middleware.AsyncSecurityMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "config.middleware.AsyncCsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "config.middleware.AsyncXFrameOptionsMiddleware",
}
