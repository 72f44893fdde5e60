# /internal/health/system arrives with the health issue (probes and SystemHealthEvent).
urlpatterns: list = []
