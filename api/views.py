"""Plain Django views of the API (errors outside DRF's views)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .errors import error_response


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    return error_response(404, "not_found", f"No API endpoint at {request.path}.")
