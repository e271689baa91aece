import re

from workspaces import request_context

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (honouring a sane X-Request-ID) and tells audit whether it came via the API."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _SAFE_REQUEST_ID.match(incoming) else request_context.new_request_id()
        source = "api" if request.path.startswith("/api/") else "user"
        token = request_context.current.set(request_context.RequestContext(request.id, source))
        try:
            response = self.get_response(request)
        finally:
            request_context.current.reset(token)
        response["X-Request-ID"] = request.id
        return response
