"""The app as the browser tests see it: daphne (HTTP + WebSocket) with the status poller in the same
process, like `make run` but without its own sandboxes or demo data (the tests bring both).

    DATABASE_URL=... python -m tests.browser.live_server --port 8123
"""
import argparse
import os
import threading

# What the dashboard must work under: no inline script, style or handler, no eval, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)


def with_strict_csp(app):
    """ASGI wrapper adding the Content-Security-Policy header to every HTTP response."""

    async def application(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_csp(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"content-security-policy", STRICT_CSP.encode())]}
            await send(message)

        return await app(scope, receive, send_with_csp)

    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-poller", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skyclust.settings")
    import django

    django.setup()
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server, twisted_loop

    from skyclust.asgi import application
    from vms.sync import run_in_thread

    stop = threading.Event()
    # polls run through daphne's loop, so their events reach the in-memory channel layer thread-safely
    poller = None if args.no_poller else run_in_thread(stop, loop=twisted_loop)
    try:
        Server(application=with_strict_csp(application), endpoints=build_endpoint_description_strings(host="127.0.0.1", port=args.port),
               signal_handlers=True, verbosity=0).run()
    finally:
        stop.set()
        if poller is not None:
            poller.join(timeout=10)


if __name__ == "__main__":
    main()
