"""``{% live_news cursor %}`` (rewards.templatetags.loyalty): rewards/_live_news.html as its
include renders it, the template rendered once per process and the cursor put in per request
(docs/benchmarks.md "Member pages")."""

from __future__ import annotations

from typing import Any

from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation

from rewards.templatetags import loyalty


def render(source: str, **context: Any) -> str:
    return engines["django"].from_string(source).render(context)


def test_the_tag_writes_what_the_include_wrote() -> None:
    loyalty._LIVE_NEWS.clear()
    for language in ("sv", "en"):
        with translation.override(language):
            for cursor in (0, 12345, 1234567):
                included = render('{% include "rewards/_live_news.html" with cursor=c %}', c=cursor)
                assert render("{% load loyalty %}{% live_news c %}", c=cursor) == included
                assert f'data-cursor="{cursor}"' in included
    assert render_to_string("rewards/_live_news.html", {"cursor": 7}).count("data-cursor") == 1


def test_a_cursor_is_escaped_and_the_frame_follows_the_static_url(settings: Any) -> None:
    assert 'data-cursor="&lt;b&gt;"' in loyalty.live_news("<b>")
    settings.STATIC_URL = "/statiskt/"
    assert 'src="/statiskt/' in loyalty.live_news(1)
