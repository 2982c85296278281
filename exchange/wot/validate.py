"""W3C WoT Thing Description 1.1 validation: the official TD 1.1 JSON Schema, then Thingbid's rules.

1. Every TD is checked with ``jsonschema`` against the W3C TD 1.1 JSON Schema shipped beside this
   module (``td-json-schema-validation.json``, source in ``SCHEMA_SOURCE.md``), formats included
   (``id`` must be a URI, ``created``/``modified`` RFC 3339 date-times).
2. A thin layer adds what the schema cannot say or what Thingbid requires: the TD 1.1 context
   first (TD 1.0-only documents are refused), security names that resolve in
   ``securityDefinitions``, consistent data schemas (minimum <= maximum, not both readOnly and
   writeOnly, ``required`` naming a declared property), the Thingbid extensions ``geohash``
   (1..12 base32 characters) and ``tags`` (strings), and the on-chain size limit.

Every problem is reported as ``"<path>: <why>"``, the path naming the TD field
(``properties.temperature.forms[0].href``); schema problems end with the schema location that
refused them (``[TD 1.1 schema #/definitions/form/required]``). All problems are collected.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from exchange.errors import ExchangeError
from exchange.geo import GEOHASH_RE

TD11_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"
TD10_CONTEXT = "https://www.w3.org/2019/wot/td/v1"
MAX_TD_BYTES = 16384  # same limit as DeviceRegistry.MAX_TD_BYTES
SCHEMA_FILE = "td-json-schema-validation.json"


class TDValidationError(ExchangeError, ValueError):
    """A Thing Description is not valid TD 1.1; ``errors`` lists every problem as "path: why"."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        shown = "; ".join(self.errors[:5]) + (f"; (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else "")
        super().__init__(f"invalid Thing Description ({len(self.errors)} problem(s)): {shown}")


@functools.cache
def td_schema() -> dict:
    """The official W3C TD 1.1 JSON Schema (draft-07)."""
    return json.loads(resources.files("exchange.wot").joinpath(SCHEMA_FILE).read_text("utf-8"))


@functools.cache
def _validator() -> Draft7Validator:
    return Draft7Validator(td_schema(), format_checker=Draft7Validator.FORMAT_CHECKER)


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def field_path(parts) -> str:
    """``["properties", "t", "forms", 0]`` -> ``properties.t.forms[0]`` (``$`` for the root)."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "$"


def _schema_location(error: ValidationError) -> str:
    """Where in the schema the failing keyword is; ``$ref`` hops (which jsonschema leaves out of the
    path) are followed, so the location names the definition (``#/definitions/form/required``)."""
    root = td_schema()
    node, loc = root, []
    for part in error.absolute_schema_path:
        while isinstance(node, dict) and part not in node and isinstance(node.get("$ref"), str):
            loc = node["$ref"].removeprefix("#/").split("/")
            node = root
            for p in loc:
                node = node[p]
        node = node[part]
        loc.append(str(part))
    return "#/" + "/".join(loc)


def _leaves(x: ValidationError) -> list[ValidationError]:
    """The errors under nested anyOf/oneOf at the same value (relative paths stay relative to ``x``'s parent)."""
    if x.validator in ("anyOf", "oneOf") and x.context and not x.relative_path:
        return [y for c in x.context for y in _leaves(c)]
    return [x]


def _discriminator(x: ValidationError):
    """The member whose value selects this branch when ``x`` is a const/enum/pattern failure on it."""
    if x.validator in ("const", "enum", "pattern") and len(x.relative_path) == 1:
        return x.relative_path[0]
    return None


def _describe(e: ValidationError) -> tuple[list, str, ValidationError]:
    """(field path, why, the error whose schema location to name). For anyOf/oneOf, the branches meant
    for this kind of value (its JSON type, and its ``scheme``/``op``-like discriminating member) are
    searched; when every branch is for another kind, the kinds or allowed values are listed."""
    while e.context and e.validator in ("anyOf", "oneOf"):
        branches: dict = {}
        for x in e.context:
            branches.setdefault(x.relative_schema_path[0], []).extend(_leaves(x))
        counts: dict = {}
        for errs in branches.values():
            for f in {d for d in map(_discriminator, errs) if d is not None}:
                counts[f] = counts.get(f, 0) + 1
        disc = max(counts, key=counts.get) if counts else None

        def rejected(errs, disc=disc):
            return any((y.validator == "type" and not y.relative_path) or
                       (disc is not None and _discriminator(y) == disc) for y in errs)

        fitting = [x for errs in branches.values() if not rejected(errs) for x in errs]
        if fitting:
            e = best_match(fitting)
            continue
        path = list(e.absolute_path)
        if disc is None:
            kinds = []
            for y in (y for errs in branches.values() for y in errs if y.validator == "type" and not y.relative_path):
                for k in [y.validator_value] if isinstance(y.validator_value, str) else y.validator_value:
                    if k not in kinds:
                        kinds.append(k)
            return path, f"must be {_a(' or '.join(kinds))}, got {_kind(e.instance)}", e
        allowed: list[str] = []
        for y in (y for errs in branches.values() for y in errs if _discriminator(y) == disc):
            vals = (y.validator_value if y.validator == "enum" else [y.validator_value] if y.validator == "const"
                    else [f"a term matching {y.validator_value}"])
            allowed += [str(v) for v in vals if str(v) not in allowed]
        inst = e.instance
        got = inst.get(disc) if isinstance(inst, dict) else inst[disc] if isinstance(inst, list) else None
        return path + [disc], f"{got!r} is not allowed here (one of {', '.join(allowed)})", e
    path, why = _why(e)
    return path, why, e


def _a(words: str) -> str:
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def _why(e: ValidationError) -> tuple[list, str]:
    path = list(e.absolute_path)
    if e.validator == "required":
        missing = next((r for r in e.validator_value if isinstance(e.instance, dict) and r not in e.instance), None)
        return path + [missing], "required by TD 1.1 but missing"
    if e.validator == "type":
        want = e.validator_value if isinstance(e.validator_value, str) else " or ".join(e.validator_value)
        return path, f"must be {_a(want)}, got {_kind(e.instance)}"
    if e.validator == "format":
        return path, f"must be {'a URI' if e.validator_value == 'uri' else 'an RFC 3339 ' + e.validator_value} " \
                     f"(format {e.validator_value}), got {e.instance!r}"
    if e.validator in ("enum", "const"):
        allowed = e.validator_value if e.validator == "enum" else [e.validator_value]
        return path, f"{e.instance!r} is not allowed here (one of {', '.join(map(str, allowed))})"
    if (e.validator, e.validator_value) in (("minItems", 1), ("minProperties", 1)):
        return path, "must not be empty"
    if e.validator == "not":
        return path, f"{e.instance!r} is not allowed here"
    if e.validator == "minimum":
        return path, f"must be at least {e.validator_value}, got {e.instance!r}"
    return path, e.message


def schema_errors(td) -> list[str]:
    """Problems the official TD 1.1 JSON Schema finds, one per failing field, as "path: why [schema]"."""
    out: list[str] = []
    for top in sorted(_validator().iter_errors(td), key=lambda e: list(map(str, e.absolute_path))):
        path, why, leaf = _describe(top)
        head = f"{field_path(path)}: {why}"
        if not any(o.startswith(head + " [") for o in out):
            out.append(f"{head} [TD 1.1 schema {_schema_location(leaf)}]")
    return out


class _Rules:
    """Thingbid's layer over the schema: only what the schema does not check."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, why: str) -> None:
        self.errors.append(f"{path}: {why}")

    def run(self, td: dict) -> None:
        self.context(td.get("@context"))
        defs = td.get("securityDefinitions") if isinstance(td.get("securityDefinitions"), dict) else {}
        self.refs("security", td.get("security"), defs)
        for name, sd in defs.items():
            if isinstance(sd, dict) and sd.get("scheme") == "combo":
                for k in ("oneOf", "allOf"):
                    self.refs(f"securityDefinitions.{name}.{k}", sd.get(k), defs)
        for name, sd in defs.items():
            if isinstance(sd, dict) and sd.get("scheme") == "oauth2" and "flow" not in sd:
                # TD 1.1 §5.3.3.8: flow is mandatory; the JSON Schema does not say so.
                self.err(f"securityDefinitions.{name}.flow", "required for the oauth2 scheme but missing")
        for key in ("properties", "actions", "events"):
            affs = td.get(key) if isinstance(td.get(key), dict) else {}
            for name, aff in affs.items():
                if not isinstance(aff, dict):
                    continue
                p = f"{key}.{name}"
                forms = aff.get("forms") if isinstance(aff.get("forms"), list) else []
                for i, form in enumerate(forms):
                    if isinstance(form, dict) and "security" in form:
                        self.refs(f"{p}.forms[{i}].security", form["security"], defs)
                if key == "properties":
                    self.data_schema(p, aff)
                for sub in ("input", "output", "data", "subscription", "cancellation", "dataResponse"):
                    if isinstance(aff.get(sub), dict):
                        self.data_schema(f"{p}.{sub}", aff[sub])
                uvars = aff.get("uriVariables") if isinstance(aff.get("uriVariables"), dict) else {}
                for k, s in uvars.items():
                    self.data_schema(f"{p}.uriVariables.{k}", s)
        if "geohash" in td and not (isinstance(td["geohash"], str) and GEOHASH_RE.fullmatch(td["geohash"])):
            self.err("geohash", f"must be 1-12 base32 geohash characters (0-9, b-z without a, i, l, o), "
                                f"got {td['geohash']!r}")
        if "tags" in td:
            tags = td["tags"]
            if isinstance(tags, list):
                for i, t in enumerate(tags):
                    if not isinstance(t, str):
                        self.err(f"tags[{i}]", f"must be a string, got {_kind(t)}")
            elif not isinstance(tags, str):
                self.err("tags", f"must be a string or an array of strings, got {_kind(tags)}")
        if isinstance(td.get("title"), str) and not td["title"].strip():
            self.err("title", "must not be empty")

    def context(self, ctx) -> None:
        if isinstance(ctx, str):
            if ctx != TD11_CONTEXT:
                self.err("@context", f"must be the TD 1.1 context {TD11_CONTEXT!r}, got {ctx!r}")
            return
        if not isinstance(ctx, list):
            return  # missing or of the wrong type: the schema says so
        uris = [c for c in ctx if isinstance(c, str)]
        if TD11_CONTEXT not in uris:
            self.err("@context", f"must contain the TD 1.1 context {TD11_CONTEXT!r}")

    def refs(self, path: str, v, defs: dict) -> None:
        names = [v] if isinstance(v, str) else v if isinstance(v, list) else []
        for i, name in enumerate(names):
            if isinstance(name, str) and name not in defs:
                where = path if isinstance(v, str) else f"{path}[{i}]"
                self.err(where, f"names {name!r}, which is not defined in securityDefinitions")

    def data_schema(self, path: str, s) -> None:
        if not isinstance(s, dict):
            return
        if _is_number(s.get("minimum")) and _is_number(s.get("maximum")) and s["minimum"] > s["maximum"]:
            self.err(path, f"minimum {s['minimum']} is greater than maximum {s['maximum']}")
        if s.get("readOnly") is True and s.get("writeOnly") is True:
            self.err(path, "readOnly and writeOnly cannot both be true")
        props = s.get("properties") if isinstance(s.get("properties"), dict) else None
        if isinstance(s.get("required"), list) and props is not None and "forms" not in s:
            for i, r in enumerate(s["required"]):
                if isinstance(r, str) and r not in props:
                    self.err(f"{path}.required[{i}]", f"names {r!r}, which is not in properties")
        if props is not None and "forms" not in s:
            for k, sub in props.items():
                self.data_schema(f"{path}.properties.{k}", sub)
        items = s.get("items")
        for i, sub in enumerate(items if isinstance(items, list) else [items] if isinstance(items, dict) else []):
            self.data_schema(f"{path}.items" + (f"[{i}]" if isinstance(items, list) else ""), sub)


def validate_td(td: dict, canonical_size: int | None = None) -> None:
    """Raise TDValidationError listing every way ``td`` breaks TD 1.1 (or Thingbid's rules, or the size limit).

    ``canonical_size``: the canonical byte length when the caller already knows it."""
    if not isinstance(td, dict):
        raise TDValidationError([f"$: a Thing Description must be a JSON object, got {_kind(td)}"])
    errors = schema_errors(td)
    rules = _Rules()
    rules.run(td)
    errors += [e for e in rules.errors if e not in errors]
    if not errors:
        size = len(canonical_td_unchecked(td)) if canonical_size is None else canonical_size
        if size > MAX_TD_BYTES:
            errors.append(f"$: canonical TD is {size} bytes, over the {MAX_TD_BYTES}-byte limit")
    if errors:
        raise TDValidationError(errors)


def canonical_td_unchecked(td: dict) -> bytes:
    try:
        return json.dumps(td, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TDValidationError([f"$: not representable as JSON ({exc})"]) from exc
