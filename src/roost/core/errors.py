"""Domain errors; the API turns each into the `{"error": {code, message}}` shape with its status."""

from __future__ import annotations


class RoostError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequest(RoostError):
    status = 400
    code = "invalid_request"


class ValidationFailed(RoostError):
    status = 400
    code = "validation_failed"


class Unauthorized(RoostError):
    status = 401
    code = "unauthorized"


class Forbidden(RoostError):
    status = 403
    code = "forbidden"


class NotFound(RoostError):
    status = 404
    code = "not_found"


class Conflict(RoostError):
    status = 409
    code = "conflict"


class TooLarge(RoostError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(RoostError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(RoostError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(RoostError):
    status = 503
    code = "unavailable"
