from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.web import catalog

TEMPLATES = Path(catalog.__file__).parent / "templates"


def test_every_text_is_in_every_language() -> None:
    assert set(catalog.ZH) == set(catalog.EN)
    for lang in catalog.LANGUAGES:
        texts = catalog.CATALOG[lang]
        assert all(value.strip() for value in texts.values()), lang
    # a placeholder is the same in both ({seconds}, {n})
    for key, english in catalog.EN.items():
        assert re.findall(r"\{\w+\}", english) == re.findall(r"\{\w+\}", catalog.ZH[key]), key


def test_every_text_a_template_asks_for_exists() -> None:
    asked: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        asked |= set(re.findall(r"\bt\.(\w+)", template.read_text())) - {"lang"}
    assert asked, "no texts found: the pattern is wrong"
    assert asked <= set(catalog.EN), asked - set(catalog.EN)


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "chosen"),
    [
        ("zh", None, None, "zh"),
        (None, "zh", "en", "zh"),
        (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, None, "fr-FR,en;q=0.5", "en"),
        ("xx", "yy", "de", "en"),
        (None, None, None, "en"),
    ],
)
def test_the_language_is_the_visitors_choice_then_the_browsers(
    asked: str | None, cookie: str | None, header: str | None, chosen: str
) -> None:
    assert catalog.choose(asked, cookie, header) == chosen


def test_a_missing_text_raises_instead_of_showing_a_blank() -> None:
    with pytest.raises(AttributeError):
        _ = catalog.Texts("zh").no_such_text
