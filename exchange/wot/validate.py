"""W3C WoT Thing Description 1.1 validation, written from the TD 1.1 recommendation.

Every problem is reported as ``"<path>: <why>"`` where the path names the field
(``properties.temperature.forms[0].href``). All problems are collected, not just the first.

Thingbid extensions (declared as plain terms, as TD allows additional terms): ``geohash``
(the device's coarse location, base32 geohash of 1..12 characters) and ``tags`` (strings).
"""

from __future__ import annotations

import json
import re

from exchange.errors import ExchangeError

TD11_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"
TD10_CONTEXT = "https://www.w3.org/2019/wot/td/v1"
MAX_TD_BYTES = 16384  # same limit as DeviceRegistry.MAX_TD_BYTES

SCHEMES = {"nosec", "auto", "combo", "basic", "digest", "apikey", "bearer", "psk", "oauth2"}
SECURITY_IN = {"header", "query", "body", "cookie", "uri", "auto"}
OAUTH_FLOWS = {"code", "client", "device"}
DATA_TYPES = {"boolean", "integer", "number", "string", "object", "array", "null"}
PROPERTY_OPS = {"readproperty", "writeproperty", "observeproperty", "unobserveproperty"}
ACTION_OPS = {"invokeaction", "queryaction", "cancelaction"}
EVENT_OPS = {"subscribeevent", "unsubscribeevent"}
THING_OPS = {"readallproperties", "writeallproperties", "readmultipleproperties", "writemultipleproperties",
             "observeallproperties", "unobserveallproperties", "queryallactions", "subscribeallevents",
             "unsubscribeallevents"}
GEOHASH_RE = re.compile(r"^[0123456789bcdefghjkmnpqrstuvwxyz]{1,12}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class TDValidationError(ExchangeError, ValueError):
    """A Thing Description is not valid TD 1.1; ``errors`` lists every problem as "path: why"."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        shown = "; ".join(self.errors[:5]) + (f"; (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else "")
        super().__init__(f"invalid Thing Description ({len(self.errors)} problem(s)): {shown}")


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


_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "number": _is_number,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, why: str) -> None:
        self.errors.append(f"{path}: {why}")

    def expect(self, path: str, v, kind: str) -> bool:
        if not _CHECKS[kind](v):
            self.err(path, f"must be a {kind}, got {_kind(v)}")
            return False
        return True

    def string_or_strings(self, path: str, v, nonempty: bool = True) -> list[str]:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list):
            if nonempty and not v:
                self.err(path, "must not be an empty array")
            out = []
            for i, item in enumerate(v):
                if self.expect(f"{path}[{i}]", item, "string"):
                    out.append(item)
            return out
        self.err(path, f"must be a string or an array of strings, got {_kind(v)}")
        return []

    def multilang(self, path: str, v) -> None:
        if self.expect(path, v, "object"):
            for lang, text in v.items():
                self.expect(f"{path}.{lang}", text, "string")

    # ---------------------------------------------------------------- thing

    def thing(self, td) -> None:
        if not isinstance(td, dict):
            self.err("$", f"a Thing Description must be a JSON object, got {_kind(td)}")
            return
        self.context(td)
        for req in ("title", "security", "securityDefinitions"):
            if req not in td:
                self.err(req, "required by TD 1.1 but missing")
        if "title" in td and self.expect("title", td["title"], "string") and not td["title"].strip():
            self.err("title", "must not be empty")
        for key in ("description", "id", "base", "support"):
            if key in td:
                self.expect(key, td[key], "string")
        for key in ("titles", "descriptions"):
            if key in td:
                self.multilang(key, td[key])
        if "@type" in td:
            self.string_or_strings("@type", td["@type"])
        for key in ("created", "modified"):
            if key in td and self.expect(key, td[key], "string") and not DATETIME_RE.match(td[key]):
                self.err(key, f"must be an xsd:dateTime such as 2024-01-31T12:00:00Z, got {td[key]!r}")
        if "version" in td and self.expect("version", td["version"], "object"):
            if "instance" not in td["version"]:
                self.err("version.instance", "required in a version object but missing")
            else:
                self.expect("version.instance", td["version"]["instance"], "string")
        names = self.security_definitions(td.get("securityDefinitions")) if "securityDefinitions" in td else set()
        if "security" in td:
            self.security_refs("security", td["security"], names)
        for key, ops, check in (("properties", PROPERTY_OPS, self.property),
                                ("actions", ACTION_OPS, self.action), ("events", EVENT_OPS, self.event)):
            if key in td and self.expect(key, td[key], "object"):
                for name, aff in td[key].items():
                    check(f"{key}.{name}", aff, ops, names)
        if "forms" in td:
            self.forms("forms", td["forms"], THING_OPS, names, required_op=True)
        if "links" in td and self.expect("links", td["links"], "array"):
            for i, link in enumerate(td["links"]):
                p = f"links[{i}]"
                if self.expect(p, link, "object"):
                    if "href" not in link:
                        self.err(f"{p}.href", "required in a link but missing")
                    else:
                        self.expect(f"{p}.href", link["href"], "string")
        if "geohash" in td and self.expect("geohash", td["geohash"], "string") \
                and not GEOHASH_RE.match(td["geohash"]):
            self.err("geohash", f"must be 1-12 base32 geohash characters (0-9, b-z without a, i, l, o), "
                                f"got {td['geohash']!r}")
        if "tags" in td:
            self.string_or_strings("tags", td["tags"], nonempty=False)

    def context(self, td: dict) -> None:
        if "@context" not in td:
            self.err("@context", f"required by TD 1.1 but missing (use {TD11_CONTEXT!r})")
            return
        ctx = td["@context"]
        if isinstance(ctx, str):
            if ctx != TD11_CONTEXT:
                self.err("@context", f"must be the TD 1.1 context {TD11_CONTEXT!r}, got {ctx!r}")
            return
        if not isinstance(ctx, list):
            self.err("@context", f"must be a string or an array, got {_kind(ctx)}")
            return
        uris = [c for c in ctx if isinstance(c, str)]
        for i, c in enumerate(ctx):
            if not isinstance(c, str | dict):
                self.err(f"@context[{i}]", f"must be a URI string or a prefix object, got {_kind(c)}")
        if TD11_CONTEXT not in uris:
            self.err("@context", f"must contain the TD 1.1 context {TD11_CONTEXT!r}")
        elif TD10_CONTEXT in uris and ctx.index(TD10_CONTEXT) > ctx.index(TD11_CONTEXT):
            self.err("@context", "the TD 1.0 context must come before the TD 1.1 context")
        elif TD10_CONTEXT not in uris and ctx[0] != TD11_CONTEXT:
            self.err("@context[0]", "the TD 1.1 context must be the first entry")

    # ------------------------------------------------------------- security

    def security_definitions(self, defs) -> set[str]:
        if not self.expect("securityDefinitions", defs, "object"):
            return set()
        if not defs:
            self.err("securityDefinitions", "must define at least one security scheme")
        for name, sd in defs.items():
            p = f"securityDefinitions.{name}"
            if not self.expect(p, sd, "object"):
                continue
            scheme = sd.get("scheme")
            if scheme is None:
                self.err(f"{p}.scheme", "required but missing")
                continue
            if scheme not in SCHEMES:
                self.err(f"{p}.scheme", f"unknown security scheme {scheme!r} (one of {', '.join(sorted(SCHEMES))})")
                continue
            if "in" in sd and scheme in {"basic", "digest", "apikey", "bearer"} and sd["in"] not in SECURITY_IN:
                self.err(f"{p}.in", f"must be one of {', '.join(sorted(SECURITY_IN))}, got {sd['in']!r}")
            if scheme == "oauth2":
                if "flow" not in sd:
                    self.err(f"{p}.flow", "required for the oauth2 scheme but missing")
                elif sd["flow"] not in OAUTH_FLOWS:
                    self.err(f"{p}.flow", f"must be one of {', '.join(sorted(OAUTH_FLOWS))}, got {sd['flow']!r}")
            if scheme == "combo":
                combos = [k for k in ("oneOf", "allOf") if k in sd]
                if len(combos) != 1:
                    self.err(p, "a combo scheme needs exactly one of oneOf or allOf")
                for k in combos:
                    refs = self.string_or_strings(f"{p}.{k}", sd[k])
                    for r in refs:
                        if r not in defs:
                            self.err(f"{p}.{k}", f"names {r!r}, which is not in securityDefinitions")
            for key in ("authorization", "token", "refresh", "identity"):
                if key in sd:
                    self.expect(f"{p}.{key}", sd[key], "string")
        return set(defs)

    def security_refs(self, path: str, v, names: set[str]) -> None:
        for i, name in enumerate(self.string_or_strings(path, v)):
            if name not in names:
                where = path if isinstance(v, str) else f"{path}[{i}]"
                self.err(where, f"names {name!r}, which is not defined in securityDefinitions")

    # ---------------------------------------------------------- affordances

    def interaction(self, path: str, aff: dict, ops: set[str], names: set[str]) -> None:
        for key in ("title", "description"):
            if key in aff:
                self.expect(f"{path}.{key}", aff[key], "string")
        for key in ("titles", "descriptions"):
            if key in aff:
                self.multilang(f"{path}.{key}", aff[key])
        if "@type" in aff:
            self.string_or_strings(f"{path}.@type", aff["@type"])
        if "forms" not in aff:
            self.err(f"{path}.forms", "required on every interaction affordance but missing")
        else:
            self.forms(f"{path}.forms", aff["forms"], ops, names)
        if "uriVariables" in aff and self.expect(f"{path}.uriVariables", aff["uriVariables"], "object"):
            for k, s in aff["uriVariables"].items():
                self.schema(f"{path}.uriVariables.{k}", s)

    def property(self, path: str, aff, ops: set[str], names: set[str]) -> None:
        if not self.expect(path, aff, "object"):
            return
        self.interaction(path, aff, ops, names)
        self.schema(path, aff, affordance=True)
        if "observable" in aff:
            self.expect(f"{path}.observable", aff["observable"], "boolean")

    def action(self, path: str, aff, ops: set[str], names: set[str]) -> None:
        if not self.expect(path, aff, "object"):
            return
        self.interaction(path, aff, ops, names)
        for key in ("input", "output"):
            if key in aff:
                self.schema(f"{path}.{key}", aff[key])
        for key in ("safe", "idempotent", "synchronous"):
            if key in aff:
                self.expect(f"{path}.{key}", aff[key], "boolean")

    def event(self, path: str, aff, ops: set[str], names: set[str]) -> None:
        if not self.expect(path, aff, "object"):
            return
        self.interaction(path, aff, ops, names)
        for key in ("subscription", "data", "dataResponse", "cancellation"):
            if key in aff:
                self.schema(f"{path}.{key}", aff[key])

    def forms(self, path: str, forms, ops: set[str], names: set[str], required_op: bool = False) -> None:
        if not self.expect(path, forms, "array"):
            return
        if not forms:
            self.err(path, "must contain at least one form")
        for i, form in enumerate(forms):
            p = f"{path}[{i}]"
            if not self.expect(p, form, "object"):
                continue
            if "href" not in form:
                self.err(f"{p}.href", "required on every form but missing")
            elif self.expect(f"{p}.href", form["href"], "string") and not form["href"]:
                self.err(f"{p}.href", "must not be empty")
            if "op" in form:
                for j, op in enumerate(self.string_or_strings(f"{p}.op", form["op"])):
                    if op not in ops:
                        where = f"{p}.op" if isinstance(form["op"], str) else f"{p}.op[{j}]"
                        self.err(where, f"{op!r} is not an operation allowed here (one of {', '.join(sorted(ops))})")
            elif required_op:
                self.err(f"{p}.op", "required on a Thing-level form but missing")
            for key in ("contentType", "contentCoding", "subprotocol"):
                if key in form:
                    self.expect(f"{p}.{key}", form[key], "string")
            if "security" in form:
                self.security_refs(f"{p}.security", form["security"], names)

    # -------------------------------------------------------- data schemas

    def schema(self, path: str, s, affordance: bool = False) -> None:
        if not affordance and not self.expect(path, s, "object"):
            return
        t = s.get("type")
        if t is not None and t not in DATA_TYPES:
            self.err(f"{path}.type", f"unknown data type {t!r} (one of {', '.join(sorted(DATA_TYPES))})")
        if "unit" in s:
            self.expect(f"{path}.unit", s["unit"], "string")
        for key in ("readOnly", "writeOnly"):
            if key in s:
                self.expect(f"{path}.{key}", s[key], "boolean")
        if s.get("readOnly") is True and s.get("writeOnly") is True:
            self.err(path, "readOnly and writeOnly cannot both be true")
        if "enum" in s and self.expect(f"{path}.enum", s["enum"], "array") and not s["enum"]:
            self.err(f"{path}.enum", "must not be empty")
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if key in s:
                if t not in (None, "number", "integer"):
                    self.err(f"{path}.{key}", f"only applies to number or integer, not {t}")
                else:
                    self.expect(f"{path}.{key}", s[key], "number")
        if _is_number(s.get("minimum")) and _is_number(s.get("maximum")) and s["minimum"] > s["maximum"]:
            self.err(path, f"minimum {s['minimum']} is greater than maximum {s['maximum']}")
        if "multipleOf" in s and _is_number(s["multipleOf"]) and s["multipleOf"] <= 0:
            self.err(f"{path}.multipleOf", "must be greater than 0")
        for key in ("minLength", "maxLength", "minItems", "maxItems"):
            if key in s and self.expect(f"{path}.{key}", s[key], "integer") and s[key] < 0:
                self.err(f"{path}.{key}", "must not be negative")
        if "properties" in s and not affordance:
            if t not in (None, "object"):
                self.err(f"{path}.properties", f"only applies to object, not {t}")
            elif self.expect(f"{path}.properties", s["properties"], "object"):
                for k, sub in s["properties"].items():
                    self.schema(f"{path}.properties.{k}", sub)
        if "required" in s and self.expect(f"{path}.required", s["required"], "array"):
            props = s.get("properties") if isinstance(s.get("properties"), dict) else {}
            for i, r in enumerate(s["required"]):
                if self.expect(f"{path}.required[{i}]", r, "string") and props and r not in props:
                    self.err(f"{path}.required[{i}]", f"names {r!r}, which is not in properties")
        if "items" in s:
            if t not in (None, "array"):
                self.err(f"{path}.items", f"only applies to array, not {t}")
            elif isinstance(s["items"], list):
                for i, sub in enumerate(s["items"]):
                    self.schema(f"{path}.items[{i}]", sub)
            else:
                self.schema(f"{path}.items", s["items"])
        if "oneOf" in s and self.expect(f"{path}.oneOf", s["oneOf"], "array"):
            for i, sub in enumerate(s["oneOf"]):
                self.schema(f"{path}.oneOf[{i}]", sub)
        if "format" in s:
            self.expect(f"{path}.format", s["format"], "string")


def validate_td(td: dict, canonical_size: int | None = None) -> None:
    """Raise TDValidationError listing every way ``td`` breaks TD 1.1 (or the size limit).

    ``canonical_size``: the canonical byte length when the caller already knows it."""
    c = _Checker()
    c.thing(td)
    if not c.errors:
        size = len(canonical_td_unchecked(td)) if canonical_size is None else canonical_size
        if size > MAX_TD_BYTES:
            c.err("$", f"canonical TD is {size} bytes, over the {MAX_TD_BYTES}-byte limit")
    if c.errors:
        raise TDValidationError(c.errors)


def canonical_td_unchecked(td: dict) -> bytes:
    try:
        return json.dumps(td, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TDValidationError([f"$: not representable as JSON ({exc})"]) from exc
