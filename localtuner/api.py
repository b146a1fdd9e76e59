"""The HTTP plumbing of the local API: the API key, OpenAI's error shape, JSON bodies, pagination.

Every view is wrapped by `api_view`, which checks the key (and puts the scope it opens on
`request.local_scope`, see localtuner/keys.py), the method and turns any `ApiError` (and, as a
last resort, any unexpected exception) into `{"error": {message, type, param, code}}` with the
right status, so no request ever gets Django's HTML error page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import orjson
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from localtuner.keys import api_key_resolve

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client caused (or must hear about), in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def as_dict(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        return JsonResponse(self.as_dict(), status=self.status)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(404, message, param=param, code=code)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"The request body is larger than the limit of {limit} bytes.", code="request_too_large"
    )


def _check_key(request: HttpRequest) -> ApiError | None:
    """Resolve the bearer key to its scope (`request.local_scope`), or the 401 to answer."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        return ApiError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "(your team's built-in local provider connection has one; the server's is FINEWEB_LOCAL_API_KEY).",
            code="invalid_api_key",
        )
    scope = api_key_resolve(key=token)
    if scope is None:
        return ApiError(
            401,
            "Incorrect API key provided. Use your team's local provider key or the server's "
            "FINEWEB_LOCAL_API_KEY.",
            code="invalid_api_key",
        )
    request.local_scope = scope  # type: ignore[attr-defined]
    return None


def _precheck(request: HttpRequest, methods: tuple[str, ...]) -> HttpResponse | None:
    error = None
    if request.method not in methods:
        error = ApiError(
            405,
            f"{request.method} is not allowed here; use {' or '.join(methods)}.",
            code="method_not_allowed",
        )
    error = _check_key(request) or error
    if error is None:
        return None
    response = error.response()
    if error.status == 405:
        response["Allow"] = ", ".join(methods)
    return response


def _bad_multipart(exc: MultiPartParserError) -> ApiError:
    return bad_request(
        f"The multipart/form-data body cannot be read ({exc}). Send the file as multipart/form-data "
        "with a boundary, the fields file and purpose."
    )


def _server_error(request: HttpRequest) -> JsonResponse:
    log.exception("local API: unexpected error on %s %s", request.method, request.path)
    error = ApiError(500, "The server had an error while processing your request.", type="server_error")
    return error.response()


def api_view(*methods: str) -> Callable:
    """Mark a function view (sync or async) as part of the local API: key, method, error shape."""

    def decorate(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def wrapped_async(request, *args, **kwargs):
                try:
                    early = await sync_to_async(_precheck)(request, methods)
                    if early is not None:
                        return early
                    return await view(request, *args, **kwargs)
                except ApiError as exc:
                    return exc.response()
                except RequestDataTooBig:
                    return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE).response()
                except MultiPartParserError as exc:
                    return _bad_multipart(exc).response()
                except Exception:
                    return _server_error(request)

            wrapped: Callable = wrapped_async
        else:

            @functools.wraps(view)
            def wrapped_sync(request, *args, **kwargs):
                try:
                    early = _precheck(request, methods)
                    if early is not None:
                        return early
                    return view(request, *args, **kwargs)
                except ApiError as exc:
                    return exc.response()
                except RequestDataTooBig:
                    return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE).response()
                except MultiPartParserError as exc:
                    return _bad_multipart(exc).response()
                except Exception:
                    return _server_error(request)

            wrapped = wrapped_sync
        return login_not_required(csrf_exempt(wrapped))

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it.

    orjson is the parser on purpose: it refuses nesting deeper than 1,024 levels and lone UTF-16
    surrogates (``"\\ud800"``) with a JSONDecodeError, where the standard library recurses until a
    RecursionError or hands the surrogate on to code that cannot encode it.
    """
    if not request.body:
        raise bad_request("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise bad_request(f"The request body must be a JSON object, not {type(body).__name__}.")
    return body


def query_limit(request: HttpRequest, *, default: int, maximum: int) -> int:
    raw = request.GET.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"limit must be an integer, not {raw!r}.", param="limit") from exc
    if not 1 <= value <= maximum:
        raise bad_request(f"limit must be between 1 and {maximum}.", param="limit")
    return value


def page(
    queryset: QuerySet,
    *,
    after: str | None,
    limit: int,
    newest_first: bool = True,
    anchors: QuerySet | None = None,
) -> tuple[list, bool]:
    """One page of `queryset` ordered by insertion, starting after the row whose public id is `after`.

    Returns (rows, has_more). As in OpenAI's API, `after` is the last id of the previous page,
    looked up in `anchors` (default: `queryset` itself), never beyond the caller's scope.
    """
    qs = queryset.order_by("-pk" if newest_first else "pk")
    if after:
        anchor = (
            (queryset if anchors is None else anchors)
            .filter(public_id=after)
            .values_list("pk", flat=True)
            .first()
        )
        if anchor is None:
            raise bad_request(f"No object with id {after!r} to page after.", param="after")
        qs = qs.filter(pk__lt=anchor) if newest_first else qs.filter(pk__gt=anchor)
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


def list_response(data: list[dict], *, has_more: bool | None = None, ids: bool = False) -> JsonResponse:
    body: dict[str, Any] = {"object": "list", "data": data}
    if has_more is not None:
        body["has_more"] = has_more
    if ids:
        body["first_id"] = data[0]["id"] if data else None
        body["last_id"] = data[-1]["id"] if data else None
    return JsonResponse(body)


def get_or_404(queryset: QuerySet, public_id: str, message: str, *, param: str | None = None):
    """The row of `queryset` (the caller's scope) with this public id, or a 404 in OpenAI's shape."""
    obj = queryset.filter(public_id=public_id).first()
    if obj is None:
        raise not_found(message, param=param)
    return obj
