"""Dashboard pages: accounts, keys, usage, own models."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("welcome/", views.welcome, name="welcome"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(
        template_name="dashboard/form_page.html", extra_context={"title": "Change password"},
        success_url=reverse_lazy("dashboard:password_change_done")), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="dashboard/message_page.html",
        extra_context={"title": "Password changed", "message": "Your password was changed."}),
        name="password_change_done"),
    path("password/reset/", views.ThrottledPasswordResetView.as_view(
        template_name="dashboard/form_page.html", extra_context={"title": "Reset password"},
        email_template_name="dashboard/password_reset_email.txt",
        success_url=reverse_lazy("dashboard:password_reset_done")), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="dashboard/message_page.html",
        extra_context={"title": "Check your e-mail",
                       "message": "If an account has that address, a link to reset its password is on its way."}),
        name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="dashboard/form_page.html", extra_context={"title": "Choose a new password"},
        success_url=reverse_lazy("dashboard:password_reset_complete")), name="password_reset_confirm"),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="dashboard/message_page.html",
        extra_context={"title": "Password reset", "message": "Your password was set. You can log in now."}),
        name="password_reset_complete"),
    path("keys/", views.keys, name="keys"),
    path("keys/<str:prefix>/revoke/", views.key_revoke, name="key_revoke"),
    path("keys/<str:prefix>/rotate/", views.key_rotate, name="key_rotate"),
    path("usage/", views.usage, name="usage"),
    path("models/", views.models_page, name="models"),
]
