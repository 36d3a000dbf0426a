"""What the answer phase is constrained to: a response format, or the shape of a forced tool call.

The constraint goes to vLLM's own structured-output backend (xgrammar / guidance) and applies to the
answer phase only: thinking stays free, and a forced end of thinking comes before the constrained
answer (server/forcing.py runs them as separate engine requests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.errors import InvalidRequestError
from server.protocol import JsonObjectFormat, JsonSchemaFormat, ResponseFormat, TextFormat


@dataclass(frozen=True)
class AnswerConstraint:
    """A JSON schema the answer must follow, or (schema None) any JSON object."""

    json_schema: dict[str, Any] | None
    param: str  # the request field it came from, for errors

    def structured_outputs(self) -> Any:
        from server.vllm_compat import structured_outputs

        if self.json_schema is None:
            return structured_outputs(json_object=True)
        return structured_outputs(json_schema=self.json_schema)


def constraint_from_format(response_format: ResponseFormat | None, param: str) -> AnswerConstraint | None:
    if response_format is None or isinstance(response_format, TextFormat):
        return None
    if isinstance(response_format, JsonObjectFormat):
        return AnswerConstraint(None, param)
    assert isinstance(response_format, JsonSchemaFormat)
    schema = response_format.json_schema.json_schema
    check_schema(schema, f"{param}.json_schema.schema")
    return AnswerConstraint(schema, param)


def check_schema(schema: dict[str, Any], param: str) -> None:
    """A schema that is not a JSON schema is a 400 here; one the grammar backend cannot compile is
    refused by vLLM's own check before generation (server.vllm_compat.verify_params)."""
    import jsonschema

    try:
        json.dumps(schema)
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except (TypeError, ValueError, jsonschema.SchemaError) as exc:
        message = exc.message if isinstance(exc, jsonschema.SchemaError) else str(exc)
        raise InvalidRequestError(f"{param}: not a valid JSON schema: {message}", param=param) from exc
