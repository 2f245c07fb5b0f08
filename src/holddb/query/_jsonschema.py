"""``$jsonSchema``: the subset of MongoDB's JSON Schema draft-4 dialect that
collection validators use in practice.

Keywords: bsonType, type, required, properties, additionalProperties (bool
or schema), patternProperties is not supported, minimum/maximum (and their
exclusive forms), minLength/maxLength, pattern, enum, items (one schema),
minItems/maxItems, uniqueItems, minProperties/maxProperties, allOf/anyOf/
oneOf/not; title and description are ignored.  Unknown keywords are
BadValue, so a validator never silently checks less than it says.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from holddb.errors import bad_value
from holddb.query._values import is_number, type_name, values_equal

__all__ = ["compile_schema"]

_JSON_TYPES = {
    "object": {"object"}, "array": {"array"}, "string": {"string"},
    "boolean": {"bool"}, "null": {"null"}, "number": {"int", "long", "double", "decimal"},
}
_KNOWN = {"bsonType", "type", "required", "properties", "additionalProperties", "minimum",
          "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
          "pattern", "enum", "items", "minItems", "maxItems", "uniqueItems", "minProperties",
          "maxProperties", "allOf", "anyOf", "oneOf", "not", "title", "description"}

Check = Callable[[Any], bool]


def compile_schema(schema: Any) -> Check:
    if not isinstance(schema, dict):
        raise bad_value("$jsonSchema must be an object")
    unknown = set(schema) - _KNOWN
    if unknown:
        raise bad_value(f"Unknown $jsonSchema keyword: {sorted(unknown)[0]}")
    checks: list[Check] = []
    for keyword, arg in schema.items():
        factory = _KEYWORDS.get(keyword)
        if factory is not None:
            checks.append(factory(arg, schema))
    return lambda value: all(check(value) for check in checks)


def _types(names: Any, mapping: bool) -> set[str]:
    names = names if isinstance(names, list) else [names]
    out: set[str] = set()
    for name in names:
        if mapping:
            if name not in _JSON_TYPES:
                raise bad_value(f"Unknown type name alias: {name}")
            out |= _JSON_TYPES[name]
        elif name == "number":
            out |= _JSON_TYPES["number"]
        else:
            out.add(name)
    return out


def _type_check(mapping: bool) -> Callable[[Any, dict], Check]:
    def factory(arg: Any, schema: dict) -> Check:
        allowed = _types(arg, mapping)
        return lambda value: type_name(value) in allowed
    return factory


def _required(arg: Any, schema: dict) -> Check:
    if not isinstance(arg, list) or not all(isinstance(n, str) for n in arg):
        raise bad_value("$jsonSchema keyword 'required' must be an array of strings")
    return lambda value: not isinstance(value, dict) or all(n in value for n in arg)


def _properties(arg: Any, schema: dict) -> Check:
    subs = {name: compile_schema(sub) for name, sub in arg.items()}
    return lambda value: not isinstance(value, dict) or all(
        sub(value[name]) for name, sub in subs.items() if name in value)


def _additional(arg: Any, schema: dict) -> Check:
    known = set(schema.get("properties", {}))
    if isinstance(arg, bool):
        if arg:
            return lambda value: True
        return lambda value: not isinstance(value, dict) or set(value) <= known
    sub = compile_schema(arg)
    return lambda value: not isinstance(value, dict) or all(
        sub(v) for k, v in value.items() if k not in known)


def _bound(kind: str) -> Callable[[Any, dict], Check]:
    def factory(arg: Any, schema: dict) -> Check:
        exclusive = schema.get("exclusiveMinimum" if kind == "minimum" else "exclusiveMaximum")

        def check(value: Any) -> bool:
            if not is_number(value):
                return True
            if kind == "minimum":
                return value > arg if exclusive else value >= arg
            return value < arg if exclusive else value <= arg
        return check
    return factory


def _length(kind: str, of: type) -> Callable[[Any, dict], Check]:
    def factory(arg: Any, schema: dict) -> Check:
        def check(value: Any) -> bool:
            if not isinstance(value, of):
                return True
            return len(value) >= arg if kind == "min" else len(value) <= arg
        return check
    return factory


def _pattern(arg: Any, schema: dict) -> Check:
    regex = re.compile(arg)
    return lambda value: not isinstance(value, str) or regex.search(value) is not None


def _enum(arg: Any, schema: dict) -> Check:
    return lambda value: any(values_equal(value, option) for option in arg)


def _items(arg: Any, schema: dict) -> Check:
    sub = compile_schema(arg)
    return lambda value: not isinstance(value, list) or all(sub(v) for v in value)


def _unique(arg: Any, schema: dict) -> Check:
    def check(value: Any) -> bool:
        if not arg or not isinstance(value, list):
            return True
        return not any(values_equal(a, b) for i, a in enumerate(value) for b in value[i + 1:])
    return check


def _combinator(kind: str) -> Callable[[Any, dict], Check]:
    def factory(arg: Any, schema: dict) -> Check:
        if kind == "not":
            sub = compile_schema(arg)
            return lambda value: not sub(value)
        subs = [compile_schema(s) for s in arg]
        if kind == "allOf":
            return lambda value: all(s(value) for s in subs)
        if kind == "anyOf":
            return lambda value: any(s(value) for s in subs)
        return lambda value: sum(1 for s in subs if s(value)) == 1
    return factory


def _ignore(arg: Any, schema: dict) -> Check:
    return lambda value: True


_KEYWORDS: dict[str, Callable[[Any, dict], Check]] = {
    "bsonType": _type_check(False),
    "type": _type_check(True),
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "minimum": _bound("minimum"),
    "maximum": _bound("maximum"),
    "exclusiveMinimum": _ignore,
    "exclusiveMaximum": _ignore,
    "minLength": _length("min", str),
    "maxLength": _length("max", str),
    "pattern": _pattern,
    "enum": _enum,
    "items": _items,
    "minItems": _length("min", list),
    "maxItems": _length("max", list),
    "uniqueItems": _unique,
    "minProperties": _length("min", dict),
    "maxProperties": _length("max", dict),
    "allOf": _combinator("allOf"),
    "anyOf": _combinator("anyOf"),
    "oneOf": _combinator("oneOf"),
    "not": _combinator("not"),
}
