"""Request body parsers for the API (settings REST_FRAMEWORK): imports only DRF, since DRF
loads it while it is itself starting up."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a document nested too deep for Python's decoder is a 400, not a
    500 (a request body is whatever a caller sends)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
