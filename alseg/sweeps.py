"""Sweep grids: a base preset plus lists of values, expanded into experiment configs.

```yaml
name: policies            # sweep name; experiment names are NAME-<values>
base: ../default.yaml     # preset, relative to this file
parallelism: 1            # experiments at a time (1 = share round 0 through the cache)
set: {budget.rounds: 3}   # fixed overrides (optional)
grid:                     # the cartesian product of these lists
  acquisition.policy: [random, entropy, margin]
  seed: [0, 1]
```
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alseg.config import ConfigError, ExperimentConfig, parse_config, read_config_file, set_dotted

GRID_KEYS = {"name", "base", "parallelism", "set", "grid"}


@dataclass(frozen=True)
class Sweep:
    name: str
    configs: list[ExperimentConfig]
    parallelism: int


def _label(value: Any) -> str:
    return str(value).replace(".", "p").replace("/", "-").replace(" ", "")


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> Sweep:
    """Expand a grid file into validated configs (errors name the file and the field)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: sweep file not found")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - GRID_KEYS
    if unknown or "base" not in spec or not isinstance(spec.get("grid"), dict):
        raise ConfigError(f"{path}: expected keys {sorted(GRID_KEYS)} with a 'base' and a 'grid' "
                          f"mapping (unknown: {sorted(unknown)})")  # fmt: skip
    name = str(spec.get("name", path.stem))
    base = read_config_file(path.parent / spec["base"])
    for dotted, value in {**(spec.get("set") or {}), **(overrides or {})}.items():
        base = set_dotted(base, dotted, value)
    keys = list(spec["grid"])
    for key in keys:
        if not isinstance(spec["grid"][key], list) or not spec["grid"][key]:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list")
    configs = []
    for values in itertools.product(*(spec["grid"][k] for k in keys)):
        data = base
        for key, value in zip(keys, values, strict=True):
            data = set_dotted(data, key, value)
        data = set_dotted(data, "name", "-".join([name, *map(_label, values)]))
        configs.append(
            parse_config(data, source=f"{path} ({dict(zip(keys, values, strict=True))})")
        )
    return Sweep(name, configs, int(spec.get("parallelism", 1)))
