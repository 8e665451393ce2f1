"""Forms of the dashboard pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


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
