"""The error responses every API view may give, added to the OpenAPI schema in one place
(a drf-spectacular postprocessing hook) so the schema documents each status code the views
return, in the one error shape `portal.api.exception_handler` writes."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "description": "`detail` says which rule was broken; a 400 also has `errors` per field.",
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": True,
            "description": "Field (or `params.<field>`) → messages.",
        },
    },
    "required": ["detail"],
}
WHY = {
    "400": "The input is not valid (`errors` names each field and rule).",
    "401": "Not signed in: no, an unknown or an expired token.",
    "403": "Signed in, but a rule refuses this caller (`detail` names it).",
    "404": "No such object, or one this caller may not see.",
    "409": "The object's state does not allow this now (e.g. another open request).",
    "413": "The request body is larger than the documented limit.",
    "415": "The request body is not JSON.",
    "429": "Too many attempts; wait as `Retry-After` says.",
}
BY_METHOD = {
    "get": ("400", "401", "403", "404"),
    "post": ("400", "401", "403", "404", "409", "413", "415"),
    "put": ("400", "401", "403", "404", "409", "413", "415"),
    "patch": ("400", "401", "403", "404", "409", "413", "415"),
    "delete": ("401", "403", "404", "409"),
}
THROTTLED = ("/api/v1/auth/token/",)


def document_error_responses(result, generator, request, public):
    """Add the `Error` component and, to each operation, the error statuses its method can
    answer that it does not document itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = BY_METHOD.get(method, ())
            if path in THROTTLED:
                codes = (*codes, "429")
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {"description": WHY[code]})
            for code, response in responses.items():  # also those a view documents itself
                if code in WHY:
                    response.setdefault("content", {"application/json": {"schema": reference}})
    return result
