"""Forms of the dashboard pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from inference.registry import kind_get
from inference.uploads.archive import KIND_FAMILIES
from inference.uploads.services import NAME_PATTERN


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For password resets.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=50, help_text="What the key is for, e.g. 'production' or 'laptop'.")
    expiry_date = forms.DateTimeField(
        required=False, help_text="Optional. After this date and time (UTC) the key stops working.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class ApiKeyRotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        min_value=0, max_value=24 * 30, initial=0,
        help_text="Hours during which the old key keeps working beside the new one (0: it stops now).",
    )


class ModelUploadForm(forms.Form):
    """Upload your own model (checked again, and built, by ``inference.uploads.services``)."""

    name = forms.RegexField(
        regex=NAME_PATTERN, max_length=100,
        error_messages={"invalid": "3 to 100 characters of a-z, 0-9, _ and -."},
        help_text="How you call it in the API (\"model\": name). Uploading a name again makes a new version.",
    )
    task = forms.ChoiceField(choices=(), help_text="The task kind it serves.")
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(help_text=(
        "A .zip or .tar.gz of a transformers model folder (config.json, safetensors weights, tokenizer files), "
        "or a single .gguf file for text-generation. Pickle weights (.bin, .pt, .ckpt, ...) are refused: save "
        "with model.save_pretrained(path, safe_serialization=True)."))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].choices = [(name, kind_get(name).title) for name in KIND_FAMILIES]
