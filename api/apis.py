"""Account endpoints of the public API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class MeApi(APIView):
    """Who the key belongs to: a first endpoint to test a key against."""

    @extend_schema(
        summary="The owner of the API key",
        responses=inline_serializer("Me", {"user": serializers.CharField(), "key": serializers.CharField(allow_null=True),
                                           "key_prefix": serializers.CharField(allow_null=True)}),
    )
    def get(self, request: Request) -> Response:
        api_key = request.auth if hasattr(request.auth, "prefix") else None
        return Response({
            "user": request.user.get_username(),
            "key": api_key.name if api_key else None,
            "key_prefix": api_key.prefix if api_key else None,
        })
