"""RFC 9457 problem details for every error under /api/ (and the health URLs)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

log = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://opsportal.dev/problems/"


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "the request conflicts with the current state"
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = 422
    default_detail = "the request cannot be processed"
    default_code = "unprocessable"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "the request body is too large"
    default_code = "payload-too-large"


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "temporarily unavailable"
    default_code = "unavailable"


def problem(status: int, detail: str, *, title: str | None = None, code: str | None = None, **extra) -> dict:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {
        "type": PROBLEM_BASE + (code or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return body


def problem_response(status: int, detail: str, **kwargs) -> JsonResponse:
    """A plain Django problem+json response (for views outside DRF)."""
    headers = kwargs.pop("headers", None)
    return JsonResponse(problem(status, detail, **kwargs), status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _flatten_detail(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(_flatten_detail(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten_detail(v)}" for k, v in detail.items())
    return str(detail)


def _render_as_json(context) -> None:
    """Problems are JSON whatever the view renders on success (Swagger's HTML, the
    schema's YAML, the browsable API) and whatever the client's Accept header says."""
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: everything becomes problem+json; nothing leaks a 500 page."""
    if isinstance(exc, ValidationError):  # from services
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "the request is malformed")
    elif isinstance(exc, DataError):
        # Safety net: a value the database cannot store (NUL byte, out of range)
        # is bad input, never a 500. Views should have rejected it earlier.
        log.warning("database refused a request value: %s", exc)
        exc = exceptions.ValidationError({"non_field_errors": ["a value in the request cannot be stored"]})
    _render_as_json(context)
    response = exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        body = problem(500, "internal error; the request id identifies it in the logs", code="internal-error")
        return Response(body, status=500, content_type=PROBLEM_CONTENT_TYPE)
    code = getattr(exc, "default_code", None)
    code = code.replace("_", "-") if isinstance(code, str) else code
    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = "the request is invalid: " + _flatten_detail(exc.detail)
        extra["errors"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        code = "validation-error"
    elif isinstance(exc, exceptions.ParseError):
        detail, code = _flatten_detail(exc.detail), "malformed-request"
    else:
        detail = _flatten_detail(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = problem(response.status_code, detail, code=code, **extra)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _wants_problem(request) -> bool:
    return request.path.startswith(("/api/", "/health/", "/internal/"))


def handler400(request, exception=None):
    if _wants_problem(request):
        return problem_response(400, "the request is malformed", code="malformed-request")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _wants_problem(request):
        return problem_response(403, "you are not allowed to do this")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: problem+json under /api/, Django's page elsewhere."""
    if _wants_problem(request):
        return problem_response(403, f"CSRF verification failed: {reason}", code="csrf-failed")
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason=reason)


def handler404(request, exception=None):
    if _wants_problem(request):
        return problem_response(404, f"no resource at {request.path}")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _wants_problem(request):
        return problem_response(500, "internal error; the request id identifies it in the logs", code="internal-error")
    from django.views.defaults import server_error

    return server_error(request)
