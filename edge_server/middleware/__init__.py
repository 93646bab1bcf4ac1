"""The edge app's middleware, one per module (Starlette's way)."""

from .cors import CORS
from .request_context import RequestContext

__all__ = ["CORS", "RequestContext"]
