"""The one typed layer the harness reads records through (docs/records.md, records.schema.json).

tlbrun hands records over as plain dicts. `load()` validates each against the schema (JSON Schema
2020-12) and wraps it in a `Record`, whose fields are read by the schema's own rules:

    rec["pages"]             a required field (nested objects come back as Records too)
    rec.opt("equivalent")    an optional field: None when the record does not carry it

Reading a field the schema does not define for that kind, a required field with `opt()` or an
optional one with `[]` raises RecordError naming the kind and the field, so a renamed field fails
loudly instead of becoming None. The schema is read once, here; the enums the harness needs
(workload names, ...) and the scenario fields (`"x-scenario": true`) come from it too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "records.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
OLDER_HINT = "(written by an older tlbstorm? this harness reads records of the current schema only)"


class RecordError(Exception):
    """A record that does not match the schema, or a read of a field it does not have."""

    def __init__(self, kind: str, field: str, message: str):
        super().__init__(f"{kind} record: field '{field}': {message}")
        self.kind, self.field, self.message = kind, field, message


class Shape:
    """What the schema says about one kind of object: its fields (in schema order), which are
    required, and each field's subschema."""

    def __init__(self, schema: dict):
        self.fields: Dict[str, dict] = {}
        self.required: set = set()
        self._add(schema, required=True)
        for name in self.required:
            self.fields.setdefault(name, {})

    def _add(self, schema: dict, required: bool) -> None:
        schema = resolve(schema)
        self.fields.update({k: v for k, v in schema.get("properties", {}).items()
                            if k not in self.fields or not self.fields[k]})
        if required:
            self.required.update(schema.get("required", []))
        for sub in schema.get("allOf", []):
            self._add(sub, required)
        # Alternatives and conditions may name fields; they never make one always required.
        for sub in schema.get("oneOf", []) + schema.get("anyOf", []):
            self._add(sub, False)
        for key in ("then", "else"):
            if key in schema:
                self._add(schema[key], False)


def resolve(schema: dict) -> dict:
    """The schema a local "$ref" points at (followed until there is none)."""
    while "$ref" in schema:
        node = SCHEMA
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _object_schema(schema: dict) -> dict:
    """For an object that may also be null (`oneOf: [null, {object}]`): the object's schema."""
    schema = resolve(schema)
    if "properties" in schema or "required" in schema:
        return schema
    objects = [resolve(s) for s in schema.get("oneOf", []) + schema.get("anyOf", [])
               if resolve(s).get("type") == "object"]
    return objects[0] if len(objects) == 1 else schema


_SHAPES: Dict[int, Tuple[dict, Shape]] = {}


def shape_of(schema: dict) -> Shape:
    """Shape(schema), made once per subschema of SCHEMA (the dict is kept, so its id stays)."""
    if id(schema) not in _SHAPES:
        _SHAPES[id(schema)] = (schema, Shape(_object_schema(schema)))
    return _SHAPES[id(schema)][1]


def _kind_shapes() -> Dict[str, Shape]:
    """record kind -> Shape, from the top-level `if record == kind then ...` entries."""
    out = {}
    for entry in SCHEMA["allOf"]:
        kind = entry["if"]["properties"]["record"]["const"]
        out[kind] = Shape({"allOf": [{"properties": SCHEMA["properties"],
                                      "required": SCHEMA["required"]}, entry["then"]]})
    return out


KINDS = _kind_shapes()


class Record:
    """One record (or an object inside one), read by its schema's rules."""

    __slots__ = ("kind", "data", "_shape")

    def __init__(self, kind: str, data: dict, shape: Shape):
        self.kind, self.data, self._shape = kind, data, shape

    def _schema(self, name: str, required: bool) -> dict:
        if name not in self._shape.fields:
            raise RecordError(self.kind, name, f"not a field of this record in {SCHEMA_PATH.name}")
        if (name in self._shape.required) != required:
            raise RecordError(self.kind, name, "required in the schema: read it with []"
                              if not required else "optional in the schema: read it with .opt()")
        return self._shape.fields[name]

    def __getitem__(self, name: str):
        schema = self._schema(name, True)
        if name not in self.data:
            raise RecordError(self.kind, name, "required field missing")
        return _wrap(f"{self.kind}.{name}", self.data[name], schema)

    def opt(self, name: str):
        schema = self._schema(name, False)
        return _wrap(f"{self.kind}.{name}", self.data[name], schema) if name in self.data else None

    def __repr__(self) -> str:
        return f"Record({self.kind!r}, {self.data!r})"


def _wrap(kind: str, value, schema: dict):
    if isinstance(value, dict):
        return Record(kind, value, shape_of(schema))
    if isinstance(value, list):
        items = resolve(schema).get("items", {})
        return [_wrap(kind, v, items) if isinstance(v, dict) else v for v in value]
    return value


def _error(raw) -> RecordError:
    """The schema's most relevant complaint about raw, as a RecordError (kind, field, message)."""
    kind = raw.get("record") if isinstance(raw, dict) and isinstance(raw.get("record"), str) \
        else "?"
    err = best_match(VALIDATOR.iter_errors(raw))
    path = [str(p) for p in err.absolute_path]
    message = err.message
    if err.validator == "required" and isinstance(err.instance, dict):
        path += [next(r for r in err.validator_value if r not in err.instance)]
        message += " " + OLDER_HINT
    return RecordError(kind, ".".join(path) or "record", message)


def check(raw) -> Record:
    """raw (a dict as tlbrun parsed it) as a Record; RecordError if the schema refuses it."""
    if not VALIDATOR.is_valid(raw):
        raise _error(raw)
    return Record(raw["record"], raw, KINDS[raw["record"]])


def load(raws: Iterable[dict]) -> List[Record]:
    """Every record as a Record; the first invalid one raises RecordError (with its index)."""
    out = []
    for i, raw in enumerate(raws):
        try:
            out.append(check(raw))
        except RecordError as e:
            raise RecordError(f"{e.kind} (#{i})", e.field, e.message) from None
    return out


def of_kind(recs: Iterable[Record], kind: str) -> List[Record]:
    return [r for r in recs if r.kind == kind]


def first(recs: Iterable[Record], kind: str) -> Optional[Record]:
    return next((r for r in recs if r.kind == kind), None)


# ---------------------------------------------------------------------------------------------
# What the harness takes from the schema rather than restating it


def enum(name: str) -> Tuple[str, ...]:
    """The values of $defs/<name>'s enum (workload, equivalent, ack, skip_flush, observe)."""
    return tuple(resolve(SCHEMA["$defs"][name])["enum"])


# The fields of a shootdown record that configure its scenario, in schema order.
SCENARIO_FIELDS = tuple(k for k, v in KINDS["shootdown"].fields.items() if v.get("x-scenario"))
WORKLOADS = enum("equivalent")                   # tlbstorm's workloads, in schema order
# The Linux peer's operation for each tlbstorm workload (docs/linux.md).
LINUX_OPS: Dict[str, str] = SCHEMA["$defs"]["equivalent"]["x-linux-operations"]
VERDICTS = tuple(resolve(KINDS["verdict"].fields["verdict"])["enum"])
# The largest range a scenario may ask for (the kernel's SCENARIO_MAX_PAGES; test_contract.py).
MAX_PAGES: int = SCHEMA["$defs"]["pages"]["maximum"]


def bench_list(bench: Record, name: str) -> list:
    """A `bench` record's option list (backends, workloads, pages) as a list, in either form
    the schema accepts: an array, or the comma-separated string kernels wrote before."""
    value = bench[name]
    if isinstance(value, str):
        items = [v for v in value.split(",") if v]
        return [int(v) for v in items if v.isdigit()] if name == "pages" else items
    return list(value)
