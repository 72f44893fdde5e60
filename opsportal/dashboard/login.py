"""/login/ and /logout/: the portal's own sign-in, for people who are not staff (e.g. support).

The admin look, Django's AuthenticationForm (so django-axes lockout and the
login audit receivers apply exactly as on /admin/login/), and a safe ``next``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views


class PortalLoginView(auth_views.LoginView):
    template_name = "registration/portal_login.html"
    redirect_authenticated_user = False  # a signed-in user without a role may switch accounts

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        site = admin.site.each_context(self.request)
        site["has_permission"] = False  # no admin user-tools on the sign-in page
        return {**site, **context, "title": "Sign in", "app_path": self.request.get_full_path()}


class PortalLogoutView(auth_views.LogoutView):
    next_page = "portal-login"
