"""``/v1``: OpenAI's endpoints, so every OpenAI client works against Forwardpass by changing its base URL."""

from django.urls import path, re_path

from ..views import api_not_found
from . import views

app_name = "openai"

urlpatterns = [
    path("models", views.ModelListApi.as_view(), name="model-list"),
    path("models/<str:model_id>", views.ModelDetailApi.as_view(), name="model-detail"),
    path("chat/completions", views.ChatCompletionsApi.as_view(), name="chat-completions"),
    path("completions", views.CompletionsApi.as_view(), name="completions"),
    path("embeddings", views.EmbeddingsApi.as_view(), name="embeddings"),
    re_path(r"^.*$", api_not_found),
]
