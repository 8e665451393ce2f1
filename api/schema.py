"""OpenAPI: the x-api-key security scheme for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "x-api-key",
                "description": "Your API key from the dashboard's API keys page."}


class SandboxSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.SandboxSessionAuthentication"
    name = "SandboxSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "The logged-in browser session (used by the sandbox)."}
