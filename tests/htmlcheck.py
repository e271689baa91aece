"""Checks that a response is well-formed HTML a strict Content-Security-Policy can serve.

No inline <script> (every script has a src), no on* event handler attributes, no hx-on (htmx evaluates it
as code), no javascript: URLs, no inline style, every non-void tag closed in order, ids unique.
"""
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_SELF_CLOSING_OK = {"rect", "path", "circle", "line", "polyline", "polygon", "use"}


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []
        self.problems: list[str] = []
        self.ids: dict[str, int] = {}
        self.saw_doctype = False

    def _where(self) -> str:
        return f"line {self.getpos()[0]}"

    def handle_decl(self, decl):
        if decl.lower().startswith("doctype"):
            self.saw_doctype = True

    def _check_attrs(self, tag, attrs):
        for name, value in attrs:
            lowered = name.lower()
            if lowered.startswith("on"):
                self.problems.append(f"inline event handler {name}= on <{tag}> at {self._where()}")
            if lowered.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"{name}= (evaluated as code) on <{tag}> at {self._where()}")
            if lowered == "style":
                self.problems.append(f"inline style on <{tag}> at {self._where()}")
            if lowered in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}> at {self._where()}")
            if lowered == "id":
                if value in self.ids:
                    self.problems.append(f"duplicate id {value!r} at {self._where()} (first at line {self.ids[value]})")
                self.ids.setdefault(value, self.getpos()[0])
        if tag == "script" and not dict(attrs).get("src"):
            self.problems.append(f"inline <script> at {self._where()}")

    def handle_starttag(self, tag, attrs):
        self._check_attrs(tag, attrs)
        if tag == "style":
            self.problems.append(f"inline <style> at {self._where()}")
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self._check_attrs(tag, attrs)
        if tag not in VOID and tag not in SVG_SELF_CLOSING_OK:
            self.problems.append(f"self-closing non-void <{tag}/> at {self._where()}")

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problems.append(f"end tag for void element </{tag}> at {self._where()}")
            return
        if not self.stack:
            self.problems.append(f"stray </{tag}> at {self._where()}")
            return
        open_tag, line = self.stack[-1]
        if open_tag != tag:
            self.problems.append(f"</{tag}> at {self._where()} closes <{open_tag}> opened at line {line}")
            if any(t == tag for t, _ in self.stack):
                while self.stack and self.stack[-1][0] != tag:
                    self.stack.pop()
                self.stack.pop()
            return
        self.stack.pop()


def html_problems(text: str, *, full_page: bool) -> list[str]:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    problems = list(checker.problems)
    problems += [f"<{tag}> opened at line {line} is never closed" for tag, line in checker.stack]
    if full_page and not checker.saw_doctype:
        problems.append("no <!DOCTYPE html>")
    return problems


def assert_valid_html(response) -> None:
    """For any HTML response: a full page or an HTMX fragment."""
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    text = response.content.decode()
    if not text.strip():
        return
    full_page = text.lstrip().lower().startswith("<!doctype")
    problems = html_problems(text, full_page=full_page)
    assert not problems, f"{response.wsgi_request.method} {response.wsgi_request.get_full_path()}:\n  " + "\n  ".join(problems)


def checked_client(user=None):
    """A Django test Client whose every response (redirects followed included) passes assert_valid_html."""
    from django.test import Client

    class CheckedClient(Client):
        def request(self, **request):
            response = super().request(**request)
            assert_valid_html(response)
            return response

    client = CheckedClient()
    if user is not None:
        client.force_login(user)
    return client
