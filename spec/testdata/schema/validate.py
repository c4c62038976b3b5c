"""Validates JSON documents against cell's JSON Schema with python-jsonschema.

Usage: validate.py SCHEMA DOC...

An independent check of the schema for spec's tests: a second validator,
and Python's regular expression engine (not RE2) compiling every pattern.
Prints one JSON line per document: {"file": ..., "valid": ..., "error": ...}.
Exits 2 if the schema itself is not valid.
"""

import json
import re
import sys

import jsonschema


def patterns(node):
    """Yields every "pattern" in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterns(value)


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
        for p in patterns(schema):
            re.compile(p)
    except (jsonschema.SchemaError, re.error) as e:
        print(f"validate.py: the schema is not valid: {e}", file=sys.stderr)
        sys.exit(2)
    validator = cls(schema)
    for name in sys.argv[2:]:
        with open(name) as f:
            doc = json.load(f)
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        print(json.dumps({"file": name, "valid": error is None,
                          "error": "" if error is None else error.message}))


main()
