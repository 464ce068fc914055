"""alseg.registry: lazy module loading and one unknown-name error for every extension kind."""

import sys

import pytest

from alseg.acquisition.policies import get_policy
from alseg.data.errors import DataError
from alseg.data.readers import get_reader
from alseg.registry import Registry
from alseg.trainers import get_trainer


def test_registry_imports_its_modules_on_first_lookup_only() -> None:
    sys.modules.pop("json.tool", None)
    registry: Registry[int] = Registry("widget", ("json.tool",))
    registry["a"] = 1
    assert "json.tool" not in sys.modules  # made and filled without importing
    assert registry.names() == ["a"] and "json.tool" in sys.modules
    assert registry.lookup("a") == 1 and registry.check("a") == "a"


def test_unknown_names_read_alike_across_kinds() -> None:
    registry: Registry[int] = Registry("widget", error=KeyError)
    registry.update(a=1, b=2)
    with pytest.raises(KeyError, match=r"unknown widget 'c' \(registered: a, b\)"):
        registry.lookup("c")
    with pytest.raises(ValueError, match=r"unknown policy 'coin' \(registered: bvsb, cbal, "):
        get_policy("coin")
    with pytest.raises(ValueError, match=r"unknown trainer 'x' \(registered: mulactseg, s4al, "):
        get_trainer("x")
    with pytest.raises(DataError, match=r"unknown dataset layout 'coco' \(registered: "):
        get_reader("coco")
