from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from opsportal.api.errors import problem_response
from reliability.health.checks import readiness


def _get_only(view):
    """Like require_GET, but the 405 is problem+json like every other error here."""

    def wrapper(request, *args, **kwargs):
        if request.method != "GET":
            return problem_response(405, f"method {request.method} not allowed; use GET", headers={"Allow": "GET"})
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@never_cache
@_get_only
def live(request):
    """200 while the process serves requests; checks nothing else on purpose."""
    return JsonResponse({"status": "ok"})


@never_cache
@_get_only
def ready(request):
    """200 when every dependency answers in time, else 503 naming the failures (within 1 s, cached 2 s)."""
    results, cached = readiness()
    failing = [r.name for r in results if not r.ok]
    checks = {r.name: r.as_dict() for r in results}
    if failing:
        return problem_response(
            503,
            f"not ready: {', '.join(failing)}",
            code="not-ready",
            title="Service Unavailable",
            failing=failing,
            checks=checks,
            cached=cached,
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ok", "checks": checks, "cached": cached})
