"""Experiment configuration: pydantic models loaded from YAML presets in ``configs/``.

Every model forbids unknown keys, so a typo fails loudly with the field's dotted path. Each stage
receives only the sections it reads (see ``stage_params``), so changing one section re-runs only the
stages that depend on it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alseg.acquisition.policies import POLICIES, Policy, PolicySettings, get_policy, policy_names
from alseg.cluster import ClusterProfile
from alseg.data.classes import RAW_IDS, ClassName, Color, check_class_spec
from alseg.stages.registry import PARAM_STAGES, STAGES
from alseg.trainers import TRAINERS
from alseg.weights import named_weights

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
DEFAULT_IMAGES_PER_SHARD = 500  # acquisition.shards: auto (CamVid's 367-image pool: 1 shard)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticSpec(Strict):
    """Sizes of the generated default dataset (scenes are generated at ``data.image_size``)."""

    n_train: PositiveInt = 120
    n_val: PositiveInt = 40
    seed: NonNegativeInt = 0


class DataConfig(Strict):
    """Which dataset, where it lives, and the resolution every stage works at. ``dataset`` names
    a layout registered in ``alseg.data.readers``; the class fields override the layout's own
    class list (``classes.json``, ``labelmap.txt`` or its built-in one)."""

    dataset: str = Field("synthetic", description="layout: synthetic, camvid, folder, voc, ...")
    root: str | None = Field(None, description="local path or s3:// URI; unused for synthetic")
    image_size: tuple[PositiveInt, PositiveInt] = Field((128, 160), description="(height, width)")
    splits: dict[Literal["train", "val", "test"], str] | None = Field(
        None, description="alseg split -> the dataset's split name (VOC list, folder name)"
    )
    classes: list[ClassName] | None = Field(None, description="class names, in raw-id order")
    ignore_index: Annotated[int, Field(ge=0, lt=RAW_IDS)] | None = Field(
        None, description="void id in label files (inside the class range only if void)"
    )
    void_classes: list[str] = Field([], description="names in classes whose pixels are void")
    colors: list[Color] | None = Field(None, description="RGB per class, for colour labels")
    train_ids: bool = Field(False, description="cityscapes: read *_gtFine_labelTrainIds.png")
    max_train_images: PositiveInt | None = None
    max_val_images: PositiveInt | None = None
    synthetic: SyntheticSpec = SyntheticSpec()
    workers: PositiveInt | None = Field(None, description="decode/superpixel workers; None = all")

    @model_validator(mode="after")
    def _layout_options(self) -> DataConfig:
        from alseg.data.readers import READERS

        reader = READERS.lookup(self.dataset)
        if reader.needs_root and not self.root:
            raise ValueError(f"data.root is required for dataset '{self.dataset}'")
        if self.splits is not None and "train" not in self.splits:
            raise ValueError("splits must name the train split")
        if self.classes is not None:
            check_class_spec(self.classes, self.ignore_index, self.void_classes, self.colors)
        elif self.ignore_index is not None or self.void_classes or self.colors is not None:
            raise ValueError("ignore_index, void_classes and colors go with classes")
        reader.validate(self)
        return self

    @model_serializer(mode="wrap")
    def _omit_default_layout_options(self, handler: Any) -> dict[str, Any]:
        """Layout options left at their defaults stay out of the dump, so a config that does
        not use them keeps the prepare stage's cache key it had before they existed."""
        dumped = handler(self)
        for name in LAYOUT_OPTIONS:
            if name in dumped and dumped[name] == DataConfig.model_fields[name].get_default(
                call_default_factory=True
            ):
                del dumped[name]
        return dumped


LAYOUT_OPTIONS = ("splits", "void_classes", "colors", "train_ids")


class SeedsParams(Strict):
    """OpenCV SEEDS settings (ALGORITHMS.md 1.1)."""

    num_superpixels: PositiveInt | None = Field(
        None, description="requested N; None = 1.5 * H * W / size**2 (SEEDS quantises its grid)"
    )
    num_levels: PositiveInt = 5
    prior: NonNegativeInt = 3
    histogram_bins: PositiveInt = 10
    double_step: bool = True
    iterations: PositiveInt = 10
    equalize: bool = True


class RegionConfig(Strict):
    type: Literal["seeds", "slic", "grid", "pixel"] = Field(
        "seeds", description="pixel: single pixels (PixelPick); void pixels are never queried"
    )
    size: PositiveInt = Field(32, description="nominal region side in pixels")
    full_resolution: bool = Field(
        False, description="compute on the original image and downsample the map (nearest)"
    )
    seeds: SeedsParams = SeedsParams()
    slic_ruler: float = 10.0


class LabelConfig(Strict):
    """What the simulated annotator returns for a region (ALGORITHMS.md section 2)."""

    type: Literal["dominant", "multiclass", "full"] = "dominant"
    trim_kernel: NonNegativeInt = Field(
        5,
        description="multiclass: classes seen only in the k x k-dilated region border band "
        "are not listed (MulActSeg boundary trimming); 0 = off",
    )
    void: Literal["drop", "undefined"] = Field(
        "drop",
        description="multiclass: void pixels are ignored, or listed as an extra "
        "'undefined' class that costs a click and is predicted (C + 1 outputs)",
    )


class AcquisitionConfig(Strict):
    """How regions are scored and chosen (ALGORITHMS.md section 3): ``policy`` names a policy
    registered in ``alseg.acquisition.policies``; its settings sit under its own name
    (``oreal: {aggregation: max}``), validated by the policy's settings model. A preset may
    carry blocks of several policies (a sweep's arms pick one); only the chosen policy's block
    is kept (dumped with its defaults filled in)."""

    policy: Annotated[str, AfterValidator(POLICIES.check)] = "entropy"
    settings: SerializeAsAny[PolicySettings] = Field(
        default_factory=PolicySettings, exclude=True, description="the policy's settings"
    )
    batch_size: PositiveInt = 8
    shards: int | Literal["auto"] = Field(
        1,
        description="score the pool in this many shards (a ParallelFor of score tasks and a "
        "merge); 'auto' = ceil(pool images / images_per_shard). Selections do not depend on it",
    )
    images_per_shard: PositiveInt = Field(
        DEFAULT_IMAGES_PER_SHARD, description="shards: auto: pool images per score shard"
    )

    @field_validator("shards", mode="before")
    @classmethod
    def _shard_count(cls, value: Any) -> Any:
        if value == "auto" or (type(value) is int and value > 0):
            return value
        raise ValueError(f"expected a positive integer or 'auto', got {value!r}")

    @model_validator(mode="before")
    @classmethod
    def _policy_settings(cls, data: Any) -> Any:
        """Validate every ``<policy>: {...}`` block with that policy's settings model and keep
        the chosen policy's as ``settings``; the pre-0.x flat keys move into it (deprecated)."""
        if not isinstance(data, dict) or "settings" in data:
            return data
        data = dict(data)
        name = data.get("policy", "entropy")
        blocks = {key: data.pop(key) for key in list(data) if key in policy_names()}
        flat = {key: data.pop(key) for key in list(data) if key in DEPRECATED_FLAT_KEYS}
        if name in policy_names():
            blocks[name] = {**(blocks.get(name) or {}), **_migrate_flat(name, flat)}
        settings = {key: _policy_block(key, block) for key, block in blocks.items()}
        return {**data, "settings": settings[name]} if name in settings else data

    @model_serializer(mode="wrap")
    def _dump_policy_block(self, handler: Any, info: Any) -> dict[str, Any]:
        """``settings`` dumps under the policy's name; no block for a policy without settings
        (or, with ``exclude_defaults``, one at its defaults)."""
        dumped = handler(self)
        for name in SHARD_FIELDS:  # at their defaults: no key (cache keys as before sharding)
            if dumped.get(name) == AcquisitionConfig.model_fields[name].default:
                dumped.pop(name)
        block = self.settings.model_dump(mode=info.mode, exclude_defaults=info.exclude_defaults)
        if block:
            dumped[self.policy] = block
        return dumped

    def build(self) -> Policy:
        """The configured policy object (with its settings)."""
        return get_policy(self.policy, self.settings)


# sharded scoring settings (omitted from the dump at their defaults)
SHARD_FIELDS = ("shards", "images_per_shard")


# the acquisition settings before policies had their own blocks: key -> name in the block
DEPRECATED_FLAT_KEYS = {
    "aggregation": "aggregation",
    "nu": "nu",
    "cbal_lambda": "lam",
    "ovr_kind": "ovr_kind",
    "background_class": "background_class",
    "top_fraction": "top_fraction",
}


def _migrate_flat(policy: str, flat: dict[str, Any]) -> dict[str, Any]:
    """The deprecated flat keys the policy takes, renamed for its block (the others were
    ignored by it before, and are dropped); one FutureWarning naming where they go."""
    if not flat:
        return {}
    fields = get_policy(policy).Settings.model_fields
    moved = {
        DEPRECATED_FLAT_KEYS[k]: v for k, v in flat.items() if DEPRECATED_FLAT_KEYS[k] in fields
    }
    where = ", ".join(
        f"acquisition.{k} -> acquisition.{policy}.{DEPRECATED_FLAT_KEYS[k]}"
        if DEPRECATED_FLAT_KEYS[k] in fields else f"acquisition.{k} (not a setting of '{policy}')"
        for k in flat
    )  # fmt: skip
    warnings.warn(f"flat acquisition settings are deprecated; write them under the policy's "
                  f"name: {where}", FutureWarning, stacklevel=2)  # fmt: skip
    return moved


def _policy_block(name: str, block: Any) -> PolicySettings:
    """``block`` validated by policy ``name``'s settings model; errors keep their field path
    (``acquisition.<name>.<key>``) and list the policy's settings."""
    settings = get_policy(name).Settings
    try:
        return settings.model_validate(block or {})
    except ValidationError as err:
        takes = ", ".join(settings.model_fields) or "none"
        raise ValidationError.from_exception_data(err.title, [
            {"type": PydanticCustomError("policy_setting", "{problem} (policy '{policy}' takes: "
                                         "{takes})", {"problem": _problem(e), "policy": name,
                                                      "takes": takes}),
             "loc": (name, *e["loc"]), "input": e["input"]}
            for e in err.errors()
        ]) from None  # fmt: skip


def _problem(error: Any) -> str:
    return "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]


class ModelConfig(Strict):
    backbone: Literal["mobilenet_v2", "resnet50", "resnet101", "efficientnet_lite0"] = (
        "mobilenet_v2"
    )
    head: Literal["linear", "cosine"] = "linear"
    temperature: Annotated[float, Field(gt=0)] = 0.1
    output_stride: Literal[8, 16] = 16
    separable: bool = True
    pretrained: str | None = Field(
        None,
        description="weights shipped in an installed package, by name (alseg.weights: "
        "efficientnet_lite0 + imagenet), or a local path / s3:// URI of a state_dict",
    )

    @model_validator(mode="after")
    def _pretrained_available(self) -> ModelConfig:
        try:
            named_weights(self.backbone, self.pretrained)
        except ValueError as err:
            raise ValueError(f"pretrained: {err}") from None
        return self


class TrainConfig(Strict):
    trainer: Annotated[str, AfterValidator(TRAINERS.check)] = Field(
        "supervised",
        description="a trainer registered in alseg.trainers: supervised (CE on labelled "
        "pixels), mulactseg (multi-class region labels, stage 1), s4al (semi-supervised)",
    )
    settings: SerializeAsAny[BaseModel] | None = Field(
        None, exclude=True, description="the trainer's settings (its block, e.g. s4al: {...})"
    )
    loss_weights: tuple[float, float, float] = Field(
        (16.0, 8.0, 1.0), description="mulactseg: single-class CE, multi-class MP, PP weights"
    )
    stage2: bool = Field(
        False,
        description="mulactseg: after stage 1, prototype pseudo-labels and a supervised "
        "retrain on them; the stage-2 model is the round's reported model",
    )
    pseudo_threshold: Literal["median", "min"] = "median"
    pseudo_expand: bool = True
    iterations: PositiveInt = 150
    batch_size: PositiveInt = 8
    lr: Annotated[float, Field(gt=0)] = 0.01
    head_lr_scale: Annotated[float, Field(gt=0)] = Field(
        1.0,
        description="lr of ASPP, decoder and classifier = head_lr_scale x lr (the seeds "
        "use 10 with pretrained backbones)",
    )
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    poly_power: Annotated[float, Field(ge=0)] = 0.9
    scale_range: tuple[float, float] = (0.75, 1.25)
    hflip: bool = True
    warm_start: bool = Field(
        False, description="start each round (and stage 2) from the latest stage-1 model"
    )
    eval_batch_size: PositiveInt = 16

    @model_validator(mode="before")
    @classmethod
    def _trainer_settings(cls, data: Any) -> Any:
        """A trainer's settings sit under its name (``s4al: {...}``), validated by its settings
        model (alseg.trainers.settings) and kept as ``settings`` (defaults filled in) when it is
        the chosen trainer; a trainer without settings takes no block."""
        if not isinstance(data, dict) or "settings" in data:
            return data
        data = dict(data)
        name = data.get("trainer", "supervised")
        blocks = {key: data.pop(key) for key in list(data) if key in TRAINERS}
        settings = {key: _trainer_block(key, block) for key, block in blocks.items()}
        if name in TRAINERS and TRAINERS[name].settings is not None:
            data["settings"] = settings.get(name) or _trainer_block(name, {})
        return data

    @model_serializer(mode="wrap")
    def _dump_trainer_block(self, handler: Any, info: Any) -> dict[str, Any]:
        """``settings`` dumps under the trainer's name; no block for a trainer without
        settings (so their stages keep the cache keys they had before settings existed)."""
        dumped = handler(self)
        if self.settings is not None:
            dumped[self.trainer] = self.settings.model_dump(mode=info.mode)
        return dumped


def _trainer_block(name: str, block: Any) -> BaseModel:
    """``train.<name>``: the trainer's settings model; a ValueError naming the field."""

    model = TRAINERS[name].settings
    if model is None:
        raise ValueError(f"{name}: trainer '{name}' has no settings")
    try:
        return model.model_validate(block or {})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in (name, *first["loc"]))
        raise ValueError(f"{field}: {first['msg']}") from None


class BudgetConfig(Strict):
    """Clicks per round: ``initial_clicks`` in round 0 and ``clicks_per_round`` after, or a
    ``schedule`` of cumulative clicks (round r tops the labelled set up to schedule[r])."""

    rounds: Annotated[int, Field(ge=1, le=50)] = 3
    initial_clicks: PositiveInt = 200
    clicks_per_round: PositiveInt = 200
    schedule: tuple[PositiveInt, ...] | None = Field(
        None, description="cumulative clicks after each round (increasing); sets rounds"
    )
    overshoot: bool = Field(False, description="keep the region that crosses the budget")
    initial_images: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None,
        description="round 0 labels every region of this share of the train images "
        "(S4AL: 0.1) instead of initial_clicks of random regions",
    )

    @model_validator(mode="before")
    @classmethod
    def _rounds_from_schedule(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schedule") and "rounds" not in data:
            data = {**data, "rounds": len(data["schedule"])}
        return data

    @model_validator(mode="after")
    def _schedule_rises(self) -> BudgetConfig:
        if self.schedule is None:
            return self
        if len(self.schedule) != self.rounds:
            raise ValueError(f"schedule has {len(self.schedule)} entries, rounds is "
                             f"{self.rounds} (perhaps from a base: preset); set rounds to "
                             f"{len(self.schedule)}")  # fmt: skip
        if any(b <= a for a, b in zip(self.schedule, self.schedule[1:], strict=False)):
            raise ValueError(f"schedule must increase round over round, got {self.schedule}")
        return self

    @model_serializer(mode="wrap")
    def _omit_unset_initial_images(self, handler: Any) -> dict[str, Any]:
        """No ``initial_images`` key when unset (the init stage keeps its cache key)."""
        dumped = handler(self)
        if dumped.get("initial_images") is None:
            dumped.pop("initial_images", None)
        return dumped


def round_clicks(budget: dict[str, Any], round_index: int, spent: int) -> int:
    """Clicks to spend in ``round_index`` (budget: BudgetConfig as a dict; ``spent``: clicks
    already labelled): schedule[r] - spent, or initial_clicks / clicks_per_round."""
    if budget.get("schedule"):
        return max(0, budget["schedule"][round_index] - spent)
    return budget["initial_clicks"] if round_index == 0 else budget["clicks_per_round"]


class ExperimentConfig(Strict):
    """One AL experiment. ``cluster`` holds platform settings for compiled pipelines only (it is
    no stage's input, so it never changes a cache key)."""

    name: str = "experiment"
    seed: NonNegativeInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataConfig = DataConfig()
    region: RegionConfig = RegionConfig()
    label: LabelConfig = LabelConfig()
    acquisition: AcquisitionConfig = AcquisitionConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    budget: BudgetConfig = BudgetConfig()
    reference_miou: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None,
        description="mIoU of full supervision in the same setting (configs/full*.yaml); "
        "adds '% of full supervision' to every round",
    )
    cluster: ClusterProfile = ClusterProfile()

    @model_validator(mode="after")
    def _pixel_queries(self) -> ExperimentConfig:
        """Pixel regions (PixelPick) take point labels and a per-pixel uncertainty."""
        if self.region.type != "pixel":
            return self
        if self.label.type != "dominant":
            raise ValueError("region.type 'pixel' needs label.type 'dominant' (a point label)")
        if not self.acquisition.build().pixel_pools:
            pixel = [name for name in policy_names() if get_policy(name).pixel_pools]
            raise ValueError(f"region.type 'pixel' takes acquisition.policy in {pixel}")
        if self.train.trainer != "supervised":
            raise ValueError("region.type 'pixel' needs train.trainer 'supervised'")
        return self


class ConfigError(ValueError):
    """A config file or value is invalid; the message names the file and field."""


def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    problem = problem.removeprefix("Value error, ")  # pydantic's wording for a ValueError
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: field '{field}': {problem}{more}"


def parse_config(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a config mapping; raise ConfigError naming ``source`` and the first bad field."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(source, err)) from None


def _deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b.c = value`` applied (for --set overrides)."""
    keys = dotted.split(".")
    override: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        override = {key: override}
    return _deep_update(data, override)


def read_config_file(path: str | Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML preset; ``base: other.yaml`` inherits from a preset (relative to the file).

    ``chain`` holds the files that lead here, so a cycle (a -> b -> a) is named, not recursed.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in chain:
        names = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise ConfigError(f"{path}: field 'base': inheritance cycle {names}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()
        raise ConfigError(f"{path}: not valid YAML: {' '.join(first)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(
            f"{path}: field 'base': expected one file name, got {type(base).__name__} {base!r}"
        )
    if not (path.parent / base).is_file():
        raise ConfigError(f"{path}: field 'base': file {path.parent / base} not found")
    return _deep_update(read_config_file(path.parent / base, (*chain, path.resolve())), data)


def _override_source(field: str, options: dict[str, str]) -> str | None:
    """The command-line option (``--set KEY=VALUE``) that set ``field`` or a parent of it."""
    for dotted, option in options.items():
        if field == dotted or field.startswith(f"{dotted}.") or dotted.startswith(f"{field}."):
            return option
    return None


def load_config(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    options: dict[str, str] | None = None,
) -> ExperimentConfig:
    """Load and validate a YAML preset, with optional dotted-key overrides.

    ``options`` maps an override key to the command-line option that gave it, so an invalid
    override is reported against that option rather than the file.
    """
    data = read_config_file(path)
    for dotted, value in (overrides or {}).items():
        data = set_dotted(data, dotted, value)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        field = ".".join(str(p) for p in err.errors()[0]["loc"])
        options = options or {k: f"--set {k}={v}" for k, v in (overrides or {}).items()}
        source = _override_source(field, options) if field else None
        raise ConfigError(_format_validation_error(source or str(path), err)) from None


# the config sections each stage reads, from the stage registry (its params, and so its cache key)
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {name: STAGES[name].sections for name in PARAM_STAGES}
# the fields that change the pipeline's DAG (configs sharing them share one compiled pipeline)
STRUCTURE_FIELDS = ("budget.rounds", "train.warm_start", "train.stage2")


def stage_params(cfg: ExperimentConfig, stage: str) -> str:
    """The JSON of the config sections a stage reads: its KFP input (and so its cache key)."""
    dumped = cfg.model_dump(mode="json")
    return json.dumps({key: dumped[key] for key in STAGE_SECTIONS[stage]}, sort_keys=True)


def pipeline_config_json(cfg: ExperimentConfig) -> str:
    """The config as the pipeline's ``config`` parameter (the compile-time cluster profile
    is not part of it)."""
    return cfg.model_dump_json(exclude={"cluster"})


def split_config(config_json: str, run_name: str = "") -> dict[str, str]:
    """Validate a config (JSON) -> {"run_name": ..., then each stage's parameters in order}.

    ``run_name`` "" = the config's name; ``{name}`` in it stands for the config's name (a sweep
    scheduled as ``{name}-[[ScheduledTime]]`` names each experiment per night)."""
    cfg = parse_config(json.loads(config_json), source="config")
    params = {stage: stage_params(cfg, stage) for stage in PARAM_STAGES}
    return {"run_name": (run_name or "{name}").replace("{name}", cfg.name), **params}


def structure(cfg: ExperimentConfig) -> dict[str, Any]:
    """The settings that shape the compiled DAG; configs sharing them share one pipeline."""
    dumped = cfg.model_dump(mode="json")
    values = {}
    for dotted in STRUCTURE_FIELDS:
        section, field = dotted.split(".")
        values[dotted] = dumped[section][field]
    return values
