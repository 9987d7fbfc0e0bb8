#!/usr/bin/env python3
"""Validates configuration documents against Switchyard's JSON Schema with Python's
`jsonschema` (an implementation independent of the Rust that generated the schema). Checks the
schema itself against its metaschema first. Prints one JSON line per document:
{"file": ..., "valid": true|false, "errors": ["path: message", ...], "details": [...]} (details:
what each alternative of a failed `oneOf` or `anyOf` said), and exits 0 when it could check
them all, whatever they held.

    schema_check.py SCHEMA FILE...

A FILE ending in `.json` is read as JSON: the tests convert YAML with the gateway's own parser
(serde_yaml_ng) first, since PyYAML reads YAML 1.1 (`on`, `yes`, `0755`) differently and may
not be installed. Any other FILE is read as YAML with PyYAML.

Exit status 3: `jsonschema` (or PyYAML, for a YAML file) is not installed; 2: bad usage; 1: the
schema is not a valid JSON Schema, or a file could not be read.
"""
import json
import sys

MISSING = 3


def load(path):
    with open(path, encoding="utf-8") as f:
        if path.endswith(".json"):
            return json.load(f)
        try:
            import yaml
        except ImportError:
            print("PyYAML is not installed (pass JSON instead)", file=sys.stderr)
            sys.exit(MISSING)
        return yaml.safe_load(f)


def where(error):
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def leaves(error):
    """The errors under a `oneOf`/`anyOf` one (each alternative's), down to those without
    alternatives: where the misspelt key is named, since the top error only says that no
    alternative matched."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in leaves(sub)]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import jsonschema
    except ImportError:
        print("jsonschema is not installed (pip install 'jsonschema>=4,<5')", file=sys.stderr)
        return MISSING
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print(f"{argv[1]}: not a valid JSON Schema: {e.message}", file=sys.stderr)
        return 1
    validator = validator_class(schema)
    for path in argv[2:]:
        errors = sorted(validator.iter_errors(load(path)), key=lambda e: list(e.absolute_path))
        print(json.dumps({
            "file": path,
            "valid": not errors,
            "errors": [f"{where(e)}: {e.message}" for e in errors],
            "details": [f"{where(leaf)}: {leaf.message}" for e in errors for leaf in leaves(e)],
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
