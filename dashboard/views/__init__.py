"""Dashboard pages, one module per area: accounts and keys, usage, own models."""

from .accounts import (  # noqa: F401
    LoginView,
    ThrottledPasswordResetView,
    home,
    key_revoke,
    key_rotate,
    keys,
    signup,
    welcome,
)
from .models import models_page  # noqa: F401
from .usage import usage  # noqa: F401
