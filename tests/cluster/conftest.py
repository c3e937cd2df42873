from tests.client_async.conftest import _one_event_loop

__all__ = ["_one_event_loop"]
