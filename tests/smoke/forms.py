"""Read HTML forms the way a browser submits them, for tests that speak plain HTTP.

``forms_in(html)`` gives every ``<form>`` with its action, method and the values a browser
would send unchanged (checked boxes, selected options, hidden fields, textareas).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    # every option of each select and every value of each checkbox/radio, checked or not
    choices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    html_ids: set[str] = field(default_factory=set)

    def names(self) -> set[str]:
        return {name for name, _value in self.fields} | set(self.choices)

    def data(self, **overrides: str | list[str]) -> list[tuple[str, str]]:
        """The form's own values with ``overrides`` (a list sets a multi-valued field)."""
        rows = [(k, v) for k, v in self.fields if k not in overrides]
        for name, value in overrides.items():
            values = value if isinstance(value, list) else [value]
            rows += [(name, v) for v in values]
        return rows


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._option: tuple[str, bool] | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        if self._form is None:
            return
        if "id" in a:
            self._form.html_ids.add(a["id"])
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"}:
                self._form.choices.setdefault(name, []).append((a.get("value", "on"), ""))
                if "checked" in a:
                    self._form.fields.append((name, a.get("value", "on")))
            elif kind not in {"submit", "button", "image", "file", "reset"}:
                self._form.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
            self._form.choices.setdefault(name, [])
        elif tag == "option" and self._select:
            self._option = (a.get("value", ""), "selected" in a)
            self._option_text = ""
        elif tag == "textarea" and name:
            self._textarea, self._textarea_text = name, ""

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option_text += data
        if self._textarea is not None:
            self._textarea_text += data

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "option" and self._select and self._option is not None:
            value, selected = self._option
            self._form.choices[self._select].append((value, self._option_text.strip()))
            if self._select_first is None:
                self._select_first = value
            if selected and not self._select_chosen:
                self._form.fields.append((self._select, value))
                self._select_chosen = True
            self._option = None
        elif tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self._form.fields.append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._form.fields.append((self._textarea, self._textarea_text))
            self._textarea = None
        elif tag == "form":
            self._form = None


def forms_in(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, field_name: str) -> Form:
    """The first form that has a field called ``field_name``."""
    for form in forms_in(html):
        if field_name in form.names():
            return form
    raise AssertionError(f"no form with a field {field_name!r} on the page")
