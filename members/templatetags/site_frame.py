"""``{% site_head %}``, ``{% site_header %}`` and ``{% site_footer %}``: the frame of every
page in base.html (stylesheet and script links, navigation, language switch, footer),
rendered once per process, language and kind of visitor instead of on every request
(issue 12, docs/benchmarks.md "Member pages": base.html's two dozen ``{% translate %}``,
``{% url %}`` and ``{% static %}`` tags were a third of a logged-in page's rendering).

The frame holds nothing personal: which links it shows depends only on whether the visitor
is a member, another logged-in user or anonymous. The two per-request parts, the CSRF
token of its forms and the path the language switch returns to, are put into the cached
HTML on each request, escaped as the template would escape them.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.dispatch import receiver
from django.template.loader import get_template
from django.test.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from members.templatetags.member_urls import static_url

register = template.Library()

# Stand-ins rendered into the cached frame, replaced on every request.
_TOKEN = "site-frame-csrf-token"  # noqa: S105 - a stand-in, no secret
_NEXT = "site-frame-next-path"
_CSRF_INPUT = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'  # CsrfTokenNode's

_frames: dict[tuple[Any, ...], list[str]] = {}


def _frame(name: str, variant: str) -> list[str]:
    """The fragment ``includes/<name>.html`` for this language and variant, split around
    the stand-ins (every other item is a stand-in's name)."""
    key = (name, variant, get_language(), get_script_prefix(), get_urlconf())
    parts = _frames.get(key)
    if parts is None:
        context = {
            "current_member": variant == "member",
            "user": {"is_authenticated": variant != "anonymous"},
            "csrf_token": _TOKEN,
            "next_path": _NEXT,
        }
        html = get_template(f"includes/{name}.html").render(context).rstrip("\n")
        html = html.replace(format_html(_CSRF_INPUT, _TOKEN), "\x00csrf\x00")
        html = html.replace(_NEXT, "\x00next\x00")
        parts = _frames[key] = html.split("\x00")
    return parts


def _render(parts: list[str], values: dict[str, str], current: str = "") -> SafeString:
    """Join the frame, each stand-in replaced: ``values`` by name; ``current <url name>``
    marks the link to the page ``current`` names (its URL name) as the current page, and
    ``current-set <url names>`` a menu that holds the current page ("More")."""
    out = []
    for n, part in enumerate(parts):
        if not n % 2:
            out.append(part)
        elif part.startswith("current-set "):
            out.append(_CURRENT_SET if current in part[12:].split() else "")
        elif part.startswith("current "):
            out.append(_CURRENT_PAGE if part[8:] == current else "")
        else:
            out.append(values[part])
    return mark_safe("".join(out))  # the frame is template output; the values are escaped


_CURRENT_PAGE = ' aria-current="page"'
_CURRENT_SET = ' aria-current="true"'


@register.simple_tag
def nav_current(name: str) -> SafeString:
    """``<a href=...{% nav_current 'rewards:points' %}>`` in includes/site_header.html: a
    stand-in, ``aria-current="page"`` on the page of that URL name, put in per request."""
    return mark_safe(f"\x00current {escape(name)}\x00")  # a stand-in, replaced per request


@register.simple_tag
def nav_current_set(names: str) -> SafeString:
    """``<summary{% nav_current_set 'rewards:vouchers rewards:voucher ...' %}>``: a stand-in,
    ``aria-current="true"`` when the page is one of these URL names (the "More" menu)."""
    return mark_safe(f"\x00current-set {escape(names)}\x00")  # a stand-in, per request


@register.simple_tag
def site_head() -> SafeString:
    return _render(_frame("site_head", ""), {})


@register.simple_tag(takes_context=True)
def site_header(context: template.Context) -> SafeString:
    if context.get("current_member"):
        variant = "member"
    else:
        user = context.get("user")
        variant = "user" if user is not None and user.is_authenticated else "anonymous"
    # As ``{% csrf_token %}`` (nothing without a token) and ``{{ request.get_full_path }}``.
    token = context.get("csrf_token")
    csrf = format_html(_CSRF_INPUT, token) if token and token != "NOTPROVIDED" else ""  # noqa: S105
    request = context.get("request")
    next_path = escape(request.get_full_path()) if request is not None else ""
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match is not None else ""
    return _render(_frame("site_header", variant), {"csrf": csrf, "next": next_path}, current)


@register.simple_tag
def site_footer() -> SafeString:
    return _render(_frame("site_footer", ""), {})


@receiver(setting_changed)
def _frame_settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting in {"ROOT_URLCONF", "STATIC_URL", "STORAGES", "TEMPLATES", "LANGUAGES"}:
        _frames.clear()  # {% frozen %} blocks: the URL conf is in their key


# --- {% frozen %}: static stretches of a page, rendered once per process and language ------


class FrozenNode(template.Node):
    """Renders its content once per language, script prefix, URL conf and autoescape, then
    returns that text: the content is only text, ``{% translate "literal" %}``, ``{% url
    'name' %}`` without arguments and ``{% static_url 'name' %}`` (checked when the template
    is compiled), so it is the same for every visitor."""

    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist
        self.rendered: dict[tuple[Any, ...], SafeString] = {}

    def render(self, context: template.Context) -> SafeString:
        key = (get_language(), get_script_prefix(), get_urlconf(), context.autoescape)
        text = self.rendered.get(key)
        if text is None:
            text = self.rendered[key] = self.nodelist.render(context)
        return text


def _literal(expression: Any) -> bool:
    from django.template.base import Variable

    var = expression.var
    literal = isinstance(var, str) or (isinstance(var, Variable) and var.literal is not None)
    return literal and not expression.filters


def _frozen_allowed(node: template.Node) -> bool:
    from django.template.base import TextNode
    from django.template.defaulttags import CommentNode, URLNode
    from django.template.library import SimpleNode
    from django.templatetags.i18n import TranslateNode

    if isinstance(node, TextNode | CommentNode):
        return True
    if isinstance(node, TranslateNode):
        return (
            node.asvar is None and node.message_context is None and _literal(node.filter_expression)
        )
    if isinstance(node, URLNode):
        return not node.args and not node.kwargs and node.asvar is None and _literal(node.view_name)
    if isinstance(node, SimpleNode):
        return node.func is static_url and all(map(_literal, node.args)) and not node.kwargs
    return False


@register.tag("frozen")
def frozen(parser: Any, token: Any) -> FrozenNode:
    """``{% frozen %}...{% endfrozen %}``: see :class:`FrozenNode`."""
    nodelist = parser.parse(("endfrozen",))
    parser.delete_first_token()
    for node in nodelist:
        if not _frozen_allowed(node):
            raise template.TemplateSyntaxError(
                "{% frozen %} holds only text, translations of literals and links without "
                f"arguments, not {node!r}"
            )
    return FrozenNode(nodelist)
