"""The page frame (base.html's head, header and footer) and {% frozen %} stretches, rendered
once per process and language (members/templatetags/site_frame.py): the same HTML as
rendering them every time, with the per-request parts put in per request."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client
from django.utils import translation

pytestmark = pytest.mark.django_db


def test_frozen_renders_once_per_language() -> None:
    template = Template(
        "{% load i18n site_frame %}{% frozen %}<h1>{% translate 'My points' %}</h1>"
        "<a href=\"{% url 'members:card' %}\">x</a>{% endfrozen %}"
    )
    with translation.override("sv"):
        swedish = template.render(Context())
    with translation.override("en"):
        english = template.render(Context())
    with translation.override("sv"):
        again = template.render(Context())
    assert swedish == again == '<h1>Mina poäng</h1><a href="/mina-sidor/kort/">x</a>'
    assert english == '<h1>My points</h1><a href="/mina-sidor/kort/">x</a>'


@pytest.mark.parametrize(
    "content",
    [
        "{{ member.first_name }}",
        "{% translate name %}",
        "{% translate 'x' as y %}",
        "{% url 'rewards:reward' code %}",
        "{% if member %}x{% endif %}",
        "{% csrf_token %}",
    ],
)
def test_frozen_refuses_anything_that_may_differ_between_visitors(content: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="frozen"):
        Template("{% load i18n site_frame %}{% frozen %}" + content + "{% endfrozen %}")


def test_header_carries_this_requests_token_and_escaped_path(member) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="sv")
    client.force_login(member.user)

    first = client.get("/offline/", {"q": '"><script>'}).content.decode()
    second = client.get("/offline/").content.decode()

    # the path the language switch returns to, escaped as {{ request.get_full_path }} is
    assert 'name="next" value="/offline/?q=%22%3E%3Cscript%3E"' in first
    assert 'name="next" value="/offline/"' in second
    # a CSRF token in both of the header's forms (log out, language), masked per request
    tokens = [
        part.split('"', 1)[0] for part in first.split('name="csrfmiddlewaretoken" value="')[1:]
    ]
    assert len(tokens) == 2
    assert all(len(token) == 64 for token in tokens)
    # the member's navigation, in Swedish, for a member; the anonymous one otherwise
    assert "Mina val" in first
    assert "Logga ut" in first
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="en").get("/offline/").content.decode()
    assert "My choices" not in anonymous
    assert "Log in" in anonymous
    assert "csrfmiddlewaretoken" in anonymous  # the language switch


def _current_links(html: str) -> list[tuple[str, str, str]]:
    """The hrefs and tags of the header's elements marked current, in order."""
    import re

    header = html.split("<header", 1)[1].split("</header>", 1)[0]
    marked = re.findall(r'<(a|summary)\b([^>]*)aria-current="(page|true)"', header)
    return [
        (
            re.search(r'href="([^"]+)"', attrs).group(1) if tag == "a" else "",  # type: ignore[union-attr]
            "summary" if tag == "summary" else "",
            value,
        )
        for tag, attrs, value in marked
    ]


def test_header_marks_this_requests_page_as_current(member) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="sv")
    client.force_login(member.user)

    # the cached frame serves every page; each request marks only its own page
    assert _current_links(client.get("/mina-sidor/").content.decode()) == [
        ("/mina-sidor/", "", "page")
    ]
    assert _current_links(client.get("/mina-sidor/poang/").content.decode()) == [
        ("/mina-sidor/poang/", "", "page")
    ]
    # a page behind "More": "More" holds the current page, and its link is the page
    assert _current_links(client.get("/mina-sidor/installningar/").content.decode()) == [
        ("", "summary", "true"),
        ("/mina-sidor/installningar/", "", "page"),
    ]
    # a page outside the member's menu: nothing is current
    assert _current_links(client.get("/offline/").content.decode()) == []
