"""Static files that keep the middleware chain async.

WhiteNoise's middleware is sync-only. One sync middleware turns the whole
chain above it sync under ASGI: every request, API calls included, then ran
on a thread of its own for its whole life, waiting included, and opened its
own database connection. This wrapper answers static file requests with
WhiteNoise and hands every other request straight on, sync or async as the
chain below it is.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
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
